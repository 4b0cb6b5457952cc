// Matmul: the raw kernel signature shared by the native addon and the
// TypeScript reference, and the validating wrapper the rest of the library
// calls. Shapes are checked here, before anything crosses into C++.
import { ShapeError } from "../../errors.ts";
import { backend } from "../load.ts";

export interface GemmKernels {
  /**
   * C[b] (M,N) = op(A[b]) (M,K) · op(B[b]) (K,N) (+ C[b] when accumulate), for b in [0, batch).
   * A is stored (M,K) with row stride lda, or (K,M) when transA; B is (K,N) with row stride
   * ldb, or (N,K) when transB. strideX: elements between batch matrices (0 broadcasts).
   */
  gemm(
    batch: number,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    lda: number,
    strideA: number,
    transA: boolean,
    b: Float32Array,
    ldb: number,
    strideB: number,
    transB: boolean,
    c: Float32Array,
    ldc: number,
    strideC: number,
    accumulate: boolean,
  ): void;
}

export interface MatmulOptions {
  /** Treat A as stored (K,M) and use its transpose. */
  transA?: boolean;
  /** Treat B as stored (N,K) and use its transpose. */
  transB?: boolean;
  /** Add into C instead of overwriting it. */
  accumulate?: boolean;
  /** Number of independent matrices (default 1). */
  batch?: number;
  /** Batch strides in elements; default: contiguous matrices. 0 broadcasts one matrix to the batch. */
  strideA?: number;
  strideB?: number;
  strideC?: number;
}

function spanOf(batch: number, rows: number, cols: number, stride: number): number {
  return (batch - 1) * stride + rows * cols;
}

/**
 * C (M,N) = op(A) · op(B), row-major, contiguous rows. With `batch`, each of A, B, C holds
 * `batch` matrices (or one, broadcast, when its stride is 0).
 */
export function matmul(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number, opts: MatmulOptions = {}): Float32Array {
  const batch = opts.batch ?? 1;
  for (const [name, v] of [
    ["m", m],
    ["n", n],
    ["k", k],
    ["batch", batch],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ShapeError(`matmul: ${name} must be a positive integer, got ${v}`);
  }
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const sA = opts.strideA ?? m * k;
  const sB = opts.strideB ?? k * n;
  const sC = opts.strideC ?? m * n;
  const needA = spanOf(batch, m, k, sA);
  const needB = spanOf(batch, k, n, sB);
  const needC = spanOf(batch, m, n, sC);
  if (a.length < needA) throw new ShapeError(`matmul: A has ${a.length} elements, (${batch}×)${transA ? `${k}×${m}` : `${m}×${k}`} needs ${needA}`);
  if (b.length < needB) throw new ShapeError(`matmul: B has ${b.length} elements, (${batch}×)${transB ? `${n}×${k}` : `${k}×${n}`} needs ${needB}`);
  if (c.length < needC) throw new ShapeError(`matmul: C has ${c.length} elements, (${batch}×)${m}×${n} needs ${needC}`);
  backend().gemm(batch, m, n, k, a, transA ? m : k, sA, transA, b, transB ? k : n, sB, transB, c, n, sC, opts.accumulate ?? false);
  return c;
}
