// Test support for kernel suites (imported by *.test.ts only): run one suite
// on every backend and instruction set, seeded random data, named
// tolerances, closeness assertions and finite-difference gradient checks.
import assert from "node:assert/strict";
import { describe } from "node:test";

import { Rng } from "../util/rng.ts";
import type { Backend, Isa } from "./backend.ts";
import { availableBackends, setBackend } from "./load.ts";

/** Named tolerances: |got - want| <= atol + rtol * |want|. */
export const TOL = {
  /** float32 kernels vs the float64-accumulating reference, short reductions. */
  f32: { rtol: 1e-4, atol: 1e-5 },
  /** float32 with long reductions (K in the thousands) or exp/log chains. */
  f32Loose: { rtol: 1e-3, atol: 1e-4 },
  /** finite-difference gradient checks (central differences in float64 around float32 math). */
  grad: { rtol: 2e-2, atol: 2e-3 },
  /**
   * A model over quantized weights whose kernels round the activations to 8 bits per block
   * (decode everywhere; prefill, m > 8 rows, on AVX-512 VNNI) against the same weights
   * dequantized to float32: each product term moves by up to 1/254 of its block's largest
   * activation, so sums move by ~1e-3 of their magnitude and a loss or gradient by a few 1e-3.
   */
  int8Act: { rtol: 1e-2, atol: 1e-3 },
} as const;

/** The tolerance for a model over quantized weights on this case: int8Act where the prefill path rounds activations (native AVX-512), else `float`. */
export function quantizedModelTol(c: BackendCase, float: Tolerance): Tolerance {
  return c.backend.name === "native" && c.isa === "avx512" ? TOL.int8Act : float;
}

export type Tolerance = { rtol: number; atol: number };

/** One entry per thing a suite must pass on: each native ISA the CPU has, then the reference. */
export interface BackendCase {
  label: string;
  backend: Backend;
  isa: Isa;
}

export function backendCases(): BackendCase[] {
  const cases: BackendCase[] = [];
  for (const b of availableBackends()) {
    if (b.name === "reference") {
      cases.push({ label: "reference", backend: b, isa: "scalar" });
      continue;
    }
    const order: Isa[] = ["avx512", "avx2", "scalar"];
    const best = b.bestIsa();
    for (const isa of order.slice(order.indexOf(best))) cases.push({ label: `native/${isa}`, backend: b, isa });
  }
  return cases;
}

/**
 * Registers `suite` once per backend case, inside describe blocks that switch
 * the active backend and ISA before their tests run. Tests inside run in order.
 */
export function forEachBackend(name: string, suite: (c: BackendCase) => void): void {
  for (const c of backendCases()) {
    describe(`${name} [${c.label}]`, () => {
      const activate = () => {
        setBackend(c.backend);
        switchIsa(c);
      };
      activate();
      suite(c);
    });
  }
}

/** Activates a backend case for the duration of fn (use at the top of each test body). */
export function using<T>(c: BackendCase, fn: () => T): T {
  setBackend(c.backend);
  switchIsa(c);
  return fn();
}

/** Switches to the case's instruction set and fails unless the backend really runs it now. */
function switchIsa(c: BackendCase): void {
  const ok = c.backend.setIsa(c.isa);
  const now = c.backend.getIsa();
  if (!ok || now !== c.isa) throw new Error(`${c.label}: setIsa("${c.isa}") returned ${ok} and getIsa() is "${now}": the suite would not run on ${c.isa}`);
}

/**
 * Whether a comparison with the reference kernels, run on this case, compares the reference
 * with itself (the [reference] case): such a check cannot fail and proves nothing.
 */
export function comparesWithItself(c: BackendCase): boolean {
  return c.backend.name === "reference";
}

/**
 * Options for a test whose every check compares the backend with the reference kernels: on the
 * reference it is skipped, and reported as skipped with this reason, rather than counted as a
 * pass it could never fail. (Skipped, not left unregistered, so every backend lists the same
 * tests and the summary shows what did not run.) Tests that also check something else keep
 * running there and guard only their comparisons with comparesWithItself().
 */
export function againstReference(c: BackendCase): { skip: string | false } {
  return { skip: comparesWithItself(c) ? "compares the reference kernels with themselves: runs on the native cases only" : false };
}

export function rng(seed = 1234): Rng {
  return new Rng(seed);
}

/** A Float32Array of n standard-normal values times `scale`. */
export function randn(r: Rng, n: number, scale = 1): Float32Array {
  return r.fillNormal(new Float32Array(n), 0, scale);
}

/** Asserts element-wise closeness and reports the worst element. */
export function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, what = "values"): void {
  assert.equal(got.length, want.length, `${what}: length ${got.length} != ${want.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!,
      w = want[i]!;
    if (Number.isNaN(g) || Number.isNaN(w)) {
      if (Number.isNaN(g) && Number.isNaN(w)) continue;
      assert.fail(`${what}[${i}]: got ${g}, want ${w}`);
    }
    const excess = Math.abs(g - w) - (tol.atol + tol.rtol * Math.abs(w));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${what}[${worst}]: got ${got[worst]}, want ${want[worst]} (|diff| ${Math.abs(got[worst]! - want[worst]!).toExponential(3)} > atol ${tol.atol} + rtol ${tol.rtol}·|want|)`,
    );
  }
}

/**
 * Finite-difference check of an analytic gradient. `loss(x)` must be a pure
 * function of the array x (it may read x in place); `grad` is the analytic
 * dLoss/dx. Checks `samples` random coordinates with central differences.
 */
export function checkGradient(
  what: string,
  x: Float32Array,
  grad: ArrayLike<number>,
  loss: () => number,
  opts: { eps?: number; samples?: number; tol?: Tolerance; seed?: number } = {},
): void {
  const eps = opts.eps ?? 1e-2;
  const tol = opts.tol ?? TOL.grad;
  const r = new Rng(opts.seed ?? 7);
  const n = Math.min(opts.samples ?? 16, x.length);
  const idx = n === x.length ? [...Array(n).keys()] : Array.from({ length: n }, () => r.int(x.length));
  for (const i of idx) {
    const orig = x[i]!;
    x[i] = orig + eps;
    const up = loss();
    x[i] = orig - eps;
    const down = loss();
    x[i] = orig;
    const numeric = (up - down) / (2 * eps);
    const analytic = grad[i]!;
    const ok = Math.abs(numeric - analytic) <= tol.atol + tol.rtol * Math.max(Math.abs(numeric), Math.abs(analytic));
    assert.ok(ok, `${what}: d/dx[${i}] analytic ${analytic} vs numeric ${numeric}`);
  }
}

/** Σ w_i · y_i in float64: a random linear functional turns any output into a scalar loss. */
export function dot(y: ArrayLike<number>, w: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i]! * w[i]!;
  return s;
}
