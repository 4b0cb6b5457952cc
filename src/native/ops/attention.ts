// Causal self-attention kernels with grouped-query heads: the raw signatures
// shared by the native addon and the TypeScript reference, and the validating
// wrappers. Layouts are token-major, as projections produce them: q is
// (B,T,H,D) with consecutive tokens `qStride` elements apart (H·D when
// contiguous; larger when q is a view into a fused qkv buffer), likewise k, v
// with KVH heads (H % KVH == 0; query head j reads kv head j / (H/KVH)).
// Backward ADDS (+=) into dq, dk, dv.

export interface AttentionKernels {
  /**
   * out (B,T,H,D) contiguous = softmax(q·kᵀ·scale, causal) · v. lse (B,H,T) receives each
   * row's log-sum-exp for backward. Tiled with an online softmax: no (T,T) buffer.
   */
  attentionForward(
    out: Float32Array, lse: Float32Array,
    q: Float32Array, qStride: number, k: Float32Array, kStride: number, v: Float32Array, vStride: number,
    b: number, t: number, h: number, kvh: number, d: number, scale: number,
  ): void;
  /** dq (same layout as q, qStride), dk, dv (kStride, vStride) += gradients from dout (B,T,H,D) contiguous. */
  attentionBackward(
    dq: Float32Array, dk: Float32Array, dv: Float32Array, dout: Float32Array,
    q: Float32Array, qStride: number, k: Float32Array, kStride: number, v: Float32Array, vStride: number,
    out: Float32Array, lse: Float32Array,
    b: number, t: number, h: number, kvh: number, d: number, scale: number,
  ): void;
  /**
   * Attention over a KV cache, for generation. q, out (B,Tq,H,D) contiguous; kCache, vCache
   * (B,KVH,maxT,D). Query i of sequence b sits at position starts[b] + i and attends to cache
   * positions 0..starts[b]+i inclusive (the caller has already written those keys/values).
   * Tq = 1 is single-token decode; Tq > 1 continues a prompt after a cached prefix.
   */
  attentionDecode(
    out: Float32Array, q: Float32Array, kCache: Float32Array, vCache: Float32Array, starts: Int32Array,
    b: number, tq: number, h: number, kvh: number, d: number, maxT: number, scale: number,
  ): void;
}
