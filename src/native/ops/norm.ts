// Normalisation kernels (RMSNorm, LayerNorm): the raw signatures shared by the
// native addon and the TypeScript reference, and the validating wrappers.
// Backward kernels ADD (+=) into their gradient outputs.

export interface NormKernels {
  /** out (N,C) = inp · rstd · weight, rstd (N) = 1/sqrt(mean(inp²) + eps), saved for backward. */
  rmsnormForward(out: Float32Array, rstd: Float32Array, inp: Float32Array, weight: Float32Array, n: number, c: number, eps: number): void;
  /** dinp (N,C) += …, dweight (C) += … from dout (N,C), inp, weight and the saved rstd (N). */
  rmsnormBackward(dinp: Float32Array, dweight: Float32Array, dout: Float32Array, inp: Float32Array, weight: Float32Array, rstd: Float32Array, n: number, c: number): void;
  /** out (N,C) = (inp - mean) · rstd · weight + bias; mean, rstd (N) saved. bias may be null. */
  layernormForward(out: Float32Array, mean: Float32Array, rstd: Float32Array, inp: Float32Array, weight: Float32Array, bias: Float32Array | null, n: number, c: number, eps: number): void;
  /** dinp (N,C) +=, dweight (C) +=, dbias (C) += (dbias may be null when there is no bias). */
  layernormBackward(dinp: Float32Array, dweight: Float32Array, dbias: Float32Array | null, dout: Float32Array, inp: Float32Array, weight: Float32Array, mean: Float32Array, rstd: Float32Array, n: number, c: number): void;
}
