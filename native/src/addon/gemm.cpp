// N-API binding for the matmul kernel. Argument order mirrors gemm.h.
#include "addon/util.h"
#include "isa.h"

namespace slm::napi {
namespace {

// gemm(batch, M, N, K, A, lda, strideA, transA, B, ldb, strideB, transB, C, ldc, strideC, accumulate)
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  int64_t batch = i64(info, 0, "batch"), M = i64(info, 1, "M"), N = i64(info, 2, "N"), K = i64(info, 3, "K");
  if (batch < 1 || M < 1 || N < 1 || K < 1) throw Napi::RangeError::New(info.Env(), "gemm: sizes must be >= 1");
  int64_t lda = i64(info, 5, "lda"), sA = i64(info, 6, "strideA");
  bool tA = flag(info, 7, "transA");
  int64_t ldb = i64(info, 9, "ldb"), sB = i64(info, 10, "strideB");
  bool tB = flag(info, 11, "transB");
  int64_t ldc = i64(info, 13, "ldc"), sC = i64(info, 14, "strideC");
  bool acc = flag(info, 15, "accumulate");
  const float* A = f32(info, 4, tA ? span(batch, K, M, lda, sA) : span(batch, M, K, lda, sA), "A");
  const float* B = f32(info, 8, tB ? span(batch, N, K, ldb, sB) : span(batch, K, N, ldb, sB), "B");
  float* C = f32(info, 12, span(batch, M, N, ldc, sC), "C");
  SLM_CALL(gemm_f32, batch, M, N, K, A, lda, sA, tA, B, ldb, sB, tB, C, ldc, sC, acc);
  return info.Env().Undefined();
}

}  // namespace

void register_gemm(Napi::Env env, Napi::Object exports) { exports.Set("gemm", Napi::Function::New(env, Gemm)); }

}  // namespace slm::napi
