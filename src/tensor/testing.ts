// Test support for the tensor layer (imported by *.test.ts only): which
// kernels a backend still lacks (to skip, with the reason, while a kernel group
// has not landed), and a finite-difference check of every input gradient of a
// graph built on the tape.
import type { Backend, Kernels } from "../native/backend.ts";
import { checkGradient, dot, randn, type Tolerance } from "../native/testing.ts";
import type { Rng } from "../util/rng.ts";
import { Tape } from "./tape.ts";
import type { Tensor } from "./tensor.ts";

/** A skip reason naming the kernels `b` does not implement yet, or undefined when it has them all. */
export function missingKernels(b: Backend, ...names: (keyof Kernels)[]): string | undefined {
  const missing = names.filter((n) => typeof b[n] !== "function");
  return missing.length === 0 ? undefined : `kernel(s) not implemented yet on the ${b.name} backend: ${missing.join(", ")}`;
}

/**
 * Builds the graph `build` on a recording tape, backpropagates a random linear functional
 * of its output (loss = Σ w·out), and checks every tensor in `inputs` (leaves with
 * requiresGrad) against central differences of the same functional recomputed on an
 * inference tape. Returns the analytic gradients (copies), in input order.
 */
export function checkTapeGradients(
  what: string,
  r: Rng,
  inputs: Record<string, Tensor>,
  build: (g: Tape) => Tensor,
  opts: { samples?: number; eps?: number; tol?: Tolerance } = {},
): Record<string, Float32Array> {
  for (const t of Object.values(inputs)) t.grad?.fill(0);
  const g = new Tape();
  const out = build(g);
  const w = randn(r, out.size);
  g.backward(out, w);
  const grads: Record<string, Float32Array> = {};
  const infer = new Tape({ grad: false });
  const loss = () => {
    infer.reset();
    return dot(build(infer).data, w);
  };
  for (const [name, t] of Object.entries(inputs)) {
    if (t.grad === null) throw new Error(`${what}: no gradient reached input ${name}`);
    grads[name] = t.grad.slice();
    checkGradient(`${what} d/d${name}`, t.data, grads[name]!, loss, opts);
  }
  return grads;
}
