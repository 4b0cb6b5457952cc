// Rotary position embedding kernels: the raw signatures shared by the native
// addon and the TypeScript reference, and the validating wrappers.
// Two conventions: rotate-half (Hugging Face Llama: pairs (i, i + rot/2)) and
// interleaved (llama2.c, GGUF: pairs (2i, 2i+1)). Backward ADDS into dinp.

export interface RopeKernels {
  /**
   * out (N,H,D) = rotate(inp (N,H,D)) where token i sits at positions[i] (N).
   * Only the first `rot` dims of each head rotate (rot <= D, even); the rest copy through.
   * cos, sin (P, rot/2): precomputed tables, P > max position. out may alias inp.
   */
  ropeForward(out: Float32Array, inp: Float32Array, cos: Float32Array, sin: Float32Array, positions: Int32Array, n: number, h: number, d: number, rot: number, interleaved: boolean): void;
  /** dinp (N,H,D) += rotateᵀ(dout); dinp must not alias dout. */
  ropeBackward(dinp: Float32Array, dout: Float32Array, cos: Float32Array, sin: Float32Array, positions: Int32Array, n: number, h: number, d: number, rot: number, interleaved: boolean): void;
}
