// Optimizer kernels: AdamW with decoupled weight decay, squared gradient
// norms and in-place scaling (for global-norm clipping). Raw signatures shared
// by the native addon and the TypeScript reference, and the wrappers.
import { ShapeError } from "../../errors.ts";
import { backend } from "../load.ts";
import { checkDims, checkF32, checkFinite } from "./args.ts";

export interface OptimKernels {
  /**
   * One AdamW step over n values, in place on param, m, v:
   * m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²; m̂ = m/(1-β1^step); v̂ = v/(1-β2^step);
   * param -= lr·(m̂/(√v̂ + eps) + weightDecay·param). step counts from 1.
   * A tensor that must not decay passes weightDecay 0.
   */
  adamwStep(
    param: Float32Array,
    grad: Float32Array,
    m: Float32Array,
    v: Float32Array,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
  ): void;
  /** Σ x² over n values, accumulated in float64. */
  sumSquares(x: Float32Array, n: number): number;
  /** x (N) *= s in place. */
  scale(x: Float32Array, n: number, s: number): void;
}

/** One AdamW step in place on param, m, v (N) from grad (N); step counts from 1. */
export function adamwStep(
  param: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  n: number,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  step: number,
): void {
  const k = "adamwStep";
  checkDims(k, { n, step });
  checkFinite(k, { lr, beta1, beta2, eps, weightDecay });
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
    throw new ShapeError(`${k}: beta1 and beta2 must be in [0, 1), got ${beta1} and ${beta2}`);
  }
  checkF32(k, "param", param, n, `(${n})`);
  checkF32(k, "grad", grad, n, `(${n})`);
  checkF32(k, "m", m, n, `(${n})`);
  checkF32(k, "v", v, n, `(${n})`);
  backend().adamwStep(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step);
}

/** Σ x² over the first n values of x, accumulated in float64. */
export function sumSquares(x: Float32Array, n: number): number {
  const k = "sumSquares";
  checkDims(k, { n });
  checkF32(k, "x", x, n, `(${n})`);
  return backend().sumSquares(x, n);
}

/** x (N) *= s in place. */
export function scale(x: Float32Array, n: number, s: number): void {
  const k = "scale";
  checkDims(k, { n });
  checkFinite(k, { s });
  checkF32(k, "x", x, n, `(${n})`);
  backend().scale(x, n, s);
}
