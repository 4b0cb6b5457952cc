// Fused softmax + cross-entropy kernels: the raw signatures shared by the
// native addon and the TypeScript reference, and the validating wrappers.

export interface LossKernels {
  /**
   * losses (N) = logsumexp(logits[i]) - logits[i][targets[i]], and lse (N) saved for backward.
   * Rows whose target equals ignoreIndex get loss 0 (and lse is still written).
   */
  crossEntropyForward(losses: Float32Array, lse: Float32Array, logits: Float32Array, targets: Int32Array, n: number, v: number, ignoreIndex: number): void;
  /**
   * dlogits (N,V) = scale · (softmax(logits) - onehot(target)), zero for ignored rows.
   * Unlike other backward kernels this WRITES, so that dlogits may be the logits buffer
   * itself (the (N,V) logits are the largest activation; this saves a copy).
   */
  crossEntropyBackward(dlogits: Float32Array, logits: Float32Array, lse: Float32Array, targets: Int32Array, n: number, v: number, ignoreIndex: number, scale: number): void;
}
