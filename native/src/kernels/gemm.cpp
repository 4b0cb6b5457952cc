// Matmul kernel, compiled once per instruction set (namespace slm::SLM_ISA).
// Placeholder: a plain loop until the blocked, packed implementation lands.
#include <cstdint>

#include "pool.h"

namespace slm {
namespace SLM_ISA {

void gemm_f32(int64_t batch, int64_t M, int64_t N, int64_t K,
              const float* A, int64_t lda, int64_t strideA, bool transA,
              const float* B, int64_t ldb, int64_t strideB, bool transB,
              float* C, int64_t ldc, int64_t strideC, bool accumulate) {
  parallel_for(batch * M, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t bi = r / M, i = r % M;
      const float* a = A + bi * strideA;
      const float* b = B + bi * strideB;
      float* c = C + bi * strideC + i * ldc;
      for (int64_t j = 0; j < N; ++j) {
        float s = 0.f;
        for (int64_t p = 0; p < K; ++p) {
          float av = transA ? a[p * lda + i] : a[i * lda + p];
          float bv = transB ? b[j * ldb + p] : b[p * ldb + j];
          s += av * bv;
        }
        c[j] = accumulate ? c[j] + s : s;
      }
    }
  });
}

}  // namespace SLM_ISA
}  // namespace slm
