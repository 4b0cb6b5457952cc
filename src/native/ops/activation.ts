// Activation and element-wise kernels (SwiGLU, GELU-tanh, softmax, add,
// axpy): the raw signatures shared by the native addon and the TypeScript
// reference, and the validating wrappers. Backward ADDS into its outputs.
import { backend } from "../load.ts";
import { checkDims, checkF32, checkFinite } from "./args.ts";

export interface ActivationKernels {
  /** out (N) = silu(gate) · up, element-wise over n values. */
  swigluForward(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;
  /** dgate (N) +=, dup (N) += from dout (N). */
  swigluBackward(dgate: Float32Array, dup: Float32Array, dout: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;
  /** out (N) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
  geluForward(out: Float32Array, inp: Float32Array, n: number): void;
  /** dinp (N) += gelu'(inp) · dout. */
  geluBackward(dinp: Float32Array, dout: Float32Array, inp: Float32Array, n: number): void;
  /** out (N,V) = softmax over each row of inp (N,V). out may alias inp. */
  softmaxForward(out: Float32Array, inp: Float32Array, n: number, v: number): void;
  /** out (N) = a + b. out may alias a or b. */
  add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void;
  /** y (N) += alpha · x. */
  axpy(y: Float32Array, alpha: number, x: Float32Array, n: number): void;
}

/** out (N) = silu(gate) · up. */
export function swigluForward(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  const k = "swigluForward";
  checkDims(k, { n });
  checkF32(k, "out", out, n, `(${n})`);
  checkF32(k, "gate", gate, n, `(${n})`);
  checkF32(k, "up", up, n, `(${n})`);
  backend().swigluForward(out, gate, up, n);
}

/** dgate (N) +=, dup (N) += from dout (N), gate (N), up (N). */
export function swigluBackward(dgate: Float32Array, dup: Float32Array, dout: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  const k = "swigluBackward";
  checkDims(k, { n });
  checkF32(k, "dgate", dgate, n, `(${n})`);
  checkF32(k, "dup", dup, n, `(${n})`);
  checkF32(k, "dout", dout, n, `(${n})`);
  checkF32(k, "gate", gate, n, `(${n})`);
  checkF32(k, "up", up, n, `(${n})`);
  backend().swigluBackward(dgate, dup, dout, gate, up, n);
}

/** out (N) = GELU (tanh approximation) of inp (N). */
export function geluForward(out: Float32Array, inp: Float32Array, n: number): void {
  const k = "geluForward";
  checkDims(k, { n });
  checkF32(k, "out", out, n, `(${n})`);
  checkF32(k, "inp", inp, n, `(${n})`);
  backend().geluForward(out, inp, n);
}

/** dinp (N) += gelu'(inp) · dout. */
export function geluBackward(dinp: Float32Array, dout: Float32Array, inp: Float32Array, n: number): void {
  const k = "geluBackward";
  checkDims(k, { n });
  checkF32(k, "dinp", dinp, n, `(${n})`);
  checkF32(k, "dout", dout, n, `(${n})`);
  checkF32(k, "inp", inp, n, `(${n})`);
  backend().geluBackward(dinp, dout, inp, n);
}

/** out (N,V) = softmax of each row of inp (N,V); out may be inp. */
export function softmaxForward(out: Float32Array, inp: Float32Array, n: number, v: number): void {
  const k = "softmaxForward";
  checkDims(k, { n, v });
  checkF32(k, "out", out, n * v, `(${n},${v})`);
  checkF32(k, "inp", inp, n * v, `(${n},${v})`);
  backend().softmaxForward(out, inp, n, v);
}

/** out (N) = a + b; out may be a or b. */
export function add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  const k = "add";
  checkDims(k, { n });
  checkF32(k, "out", out, n, `(${n})`);
  checkF32(k, "a", a, n, `(${n})`);
  checkF32(k, "b", b, n, `(${n})`);
  backend().add(out, a, b, n);
}

/** y (N) += alpha · x (N). */
export function axpy(y: Float32Array, alpha: number, x: Float32Array, n: number): void {
  const k = "axpy";
  checkDims(k, { n });
  checkFinite(k, { alpha });
  checkF32(k, "y", y, n, `(${n})`);
  checkF32(k, "x", x, n, `(${n})`);
  backend().axpy(y, alpha, x, n);
}
