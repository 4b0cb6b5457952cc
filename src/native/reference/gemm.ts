// Reference matmul in plain TypeScript: the oracle for the native kernel and
// the slow fallback when the addon is missing. Accumulates in float64.
import type { GemmKernels } from "../ops/gemm.ts";

export const gemmReference: GemmKernels = {
  gemm(batch, m, n, k, a, lda, strideA, transA, b, ldb, strideB, transB, c, ldc, strideC, accumulate) {
    for (let bi = 0; bi < batch; bi++) {
      const ao = bi * strideA,
        bo = bi * strideB,
        co = bi * strideC;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) {
            const av = transA ? a[ao + p * lda + i]! : a[ao + i * lda + p]!;
            const bv = transB ? b[bo + j * ldb + p]! : b[bo + p * ldb + j]!;
            s += av * bv;
          }
          const ci = co + i * ldc + j;
          c[ci] = accumulate ? c[ci]! + s : s;
        }
      }
    }
  },
};
