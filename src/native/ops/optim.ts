// Optimizer kernels: AdamW with decoupled weight decay, squared gradient
// norms and in-place scaling (for global-norm clipping). Raw signatures shared
// by the native addon and the TypeScript reference, and the wrappers.

export interface OptimKernels {
  /**
   * One AdamW step over n values, in place on param, m, v:
   * m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²; m̂ = m/(1-β1^step); v̂ = v/(1-β2^step);
   * param -= lr·(m̂/(√v̂ + eps) + weightDecay·param). step counts from 1.
   * A tensor that must not decay passes weightDecay 0.
   */
  adamwStep(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, n: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number): void;
  /** Σ x² over n values, accumulated in float64. */
  sumSquares(x: Float32Array, n: number): number;
  /** x (N) *= s in place. */
  scale(x: Float32Array, n: number, s: number): void;
}
