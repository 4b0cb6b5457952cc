// Embedding kernels: the raw signatures shared by the native addon and the
// TypeScript reference, and the validating wrappers the library calls.
// Convention for every backward kernel: it ADDS (+=) into its gradient
// outputs; the caller zeroes them first.

export interface EmbedKernels {
  /** out (N,C) = table[ids[i]] for each of the N ids; ids are in [0, V). */
  embeddingForward(out: Float32Array, ids: Int32Array, table: Float32Array, n: number, c: number, v: number): void;
  /** dtable (V,C) += scatter of dout (N,C) by ids (N); repeated ids accumulate. */
  embeddingBackward(dtable: Float32Array, dout: Float32Array, ids: Int32Array, n: number, c: number, v: number): void;
}
