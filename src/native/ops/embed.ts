// Embedding kernels: the raw signatures shared by the native addon and the
// TypeScript reference, and the validating wrappers the library calls.
// Convention for every backward kernel: it ADDS (+=) into its gradient
// outputs; the caller zeroes them first.
import { backend } from "../load.ts";
import { checkDims, checkF32, checkIds } from "./args.ts";

export interface EmbedKernels {
  /** out (N,C) = table[ids[i]] for each of the N ids; ids are in [0, V). */
  embeddingForward(out: Float32Array, ids: Int32Array, table: Float32Array, n: number, c: number, v: number): void;
  /** dtable (V,C) += scatter of dout (N,C) by ids (N); repeated ids accumulate. */
  embeddingBackward(dtable: Float32Array, dout: Float32Array, ids: Int32Array, n: number, c: number, v: number): void;
}

/** out (N,C) = table (V,C) [ids[i]]; every id must be in [0, V). */
export function embeddingForward(out: Float32Array, ids: Int32Array, table: Float32Array, n: number, c: number, v: number): void {
  const k = "embeddingForward";
  checkDims(k, { n, c, v });
  checkF32(k, "out", out, n * c, `(${n},${c})`);
  checkF32(k, "table", table, v * c, `(${v},${c})`);
  checkIds(k, "ids", ids, n, v);
  backend().embeddingForward(out, ids, table, n, c, v);
}

/** dtable (V,C) += dout (N,C) scattered by ids (N); repeated ids accumulate. */
export function embeddingBackward(dtable: Float32Array, dout: Float32Array, ids: Int32Array, n: number, c: number, v: number): void {
  const k = "embeddingBackward";
  checkDims(k, { n, c, v });
  checkF32(k, "dtable", dtable, v * c, `(${v},${c})`);
  checkF32(k, "dout", dout, n * c, `(${n},${c})`);
  checkIds(k, "ids", ids, n, v);
  backend().embeddingBackward(dtable, dout, ids, n, c, v);
}
