// Normalisation kernels (RMSNorm, LayerNorm): the raw signatures shared by the
// native addon and the TypeScript reference, and the validating wrappers.
// Backward kernels ADD (+=) into their gradient outputs.
import { backend } from "../load.ts";
import { checkDims, checkF32, checkF32OrNull, checkFinite } from "./args.ts";

export interface NormKernels {
  /** out (N,C) = inp · rstd · weight, rstd (N) = 1/sqrt(mean(inp²) + eps), saved for backward. */
  rmsnormForward(out: Float32Array, rstd: Float32Array, inp: Float32Array, weight: Float32Array, n: number, c: number, eps: number): void;
  /** dinp (N,C) += …, dweight (C) += … from dout (N,C), inp, weight and the saved rstd (N). */
  rmsnormBackward(
    dinp: Float32Array,
    dweight: Float32Array,
    dout: Float32Array,
    inp: Float32Array,
    weight: Float32Array,
    rstd: Float32Array,
    n: number,
    c: number,
  ): void;
  /** out (N,C) = (inp - mean) · rstd · weight + bias; mean, rstd (N) saved. bias may be null. */
  layernormForward(
    out: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    inp: Float32Array,
    weight: Float32Array,
    bias: Float32Array | null,
    n: number,
    c: number,
    eps: number,
  ): void;
  /** dinp (N,C) +=, dweight (C) +=, dbias (C) += (dbias may be null when there is no bias). */
  layernormBackward(
    dinp: Float32Array,
    dweight: Float32Array,
    dbias: Float32Array | null,
    dout: Float32Array,
    inp: Float32Array,
    weight: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    n: number,
    c: number,
  ): void;
}

/** out (N,C) = inp · rstd · weight (C); rstd (N) saved for the backward. */
export function rmsnormForward(out: Float32Array, rstd: Float32Array, inp: Float32Array, weight: Float32Array, n: number, c: number, eps: number): void {
  const k = "rmsnormForward";
  checkDims(k, { n, c });
  checkFinite(k, { eps });
  checkF32(k, "out", out, n * c, `(${n},${c})`);
  checkF32(k, "rstd", rstd, n, `(${n})`);
  checkF32(k, "inp", inp, n * c, `(${n},${c})`);
  checkF32(k, "weight", weight, c, `(${c})`);
  backend().rmsnormForward(out, rstd, inp, weight, n, c, eps);
}

/** dinp (N,C) +=, dweight (C) += from dout (N,C), inp (N,C), weight (C), rstd (N). */
export function rmsnormBackward(
  dinp: Float32Array,
  dweight: Float32Array,
  dout: Float32Array,
  inp: Float32Array,
  weight: Float32Array,
  rstd: Float32Array,
  n: number,
  c: number,
): void {
  const k = "rmsnormBackward";
  checkDims(k, { n, c });
  checkF32(k, "dinp", dinp, n * c, `(${n},${c})`);
  checkF32(k, "dweight", dweight, c, `(${c})`);
  checkF32(k, "dout", dout, n * c, `(${n},${c})`);
  checkF32(k, "inp", inp, n * c, `(${n},${c})`);
  checkF32(k, "weight", weight, c, `(${c})`);
  checkF32(k, "rstd", rstd, n, `(${n})`);
  backend().rmsnormBackward(dinp, dweight, dout, inp, weight, rstd, n, c);
}

/** out (N,C) = (inp − mean)·rstd·weight (C) + bias (C, or null); mean, rstd (N) saved. */
export function layernormForward(
  out: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  inp: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  n: number,
  c: number,
  eps: number,
): void {
  const k = "layernormForward";
  checkDims(k, { n, c });
  checkFinite(k, { eps });
  checkF32(k, "out", out, n * c, `(${n},${c})`);
  checkF32(k, "mean", mean, n, `(${n})`);
  checkF32(k, "rstd", rstd, n, `(${n})`);
  checkF32(k, "inp", inp, n * c, `(${n},${c})`);
  checkF32(k, "weight", weight, c, `(${c})`);
  checkF32OrNull(k, "bias", bias, c, `(${c})`);
  backend().layernormForward(out, mean, rstd, inp, weight, bias, n, c, eps);
}

/** dinp (N,C) +=, dweight (C) +=, dbias (C, or null) += from dout, inp, weight, mean, rstd. */
export function layernormBackward(
  dinp: Float32Array,
  dweight: Float32Array,
  dbias: Float32Array | null,
  dout: Float32Array,
  inp: Float32Array,
  weight: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  n: number,
  c: number,
): void {
  const k = "layernormBackward";
  checkDims(k, { n, c });
  checkF32(k, "dinp", dinp, n * c, `(${n},${c})`);
  checkF32(k, "dweight", dweight, c, `(${c})`);
  checkF32OrNull(k, "dbias", dbias, c, `(${c})`);
  checkF32(k, "dout", dout, n * c, `(${n},${c})`);
  checkF32(k, "inp", inp, n * c, `(${n},${c})`);
  checkF32(k, "weight", weight, c, `(${c})`);
  checkF32(k, "mean", mean, n, `(${n})`);
  checkF32(k, "rstd", rstd, n, `(${n})`);
  backend().layernormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, n, c);
}
