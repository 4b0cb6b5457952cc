// N-API bindings for the loss kernels (see kernels/loss.h). Argument order
// mirrors src/native/ops/loss.ts; targets are range-checked here (each in
// [0, v) or equal to ignoreIndex) so a bad target cannot index outside a row.
#include "addon/util.h"
#include "addon/checks.h"
#include "isa.h"

namespace slm::napi {
namespace {

// crossEntropyForward(losses, lse, logits, targets, n, v, ignoreIndex)
Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 4, "n"), v = dim(info, 5, "v");
  int64_t ignore = i64(info, 6, "ignoreIndex");
  float* losses = f32(info, 0, n, "losses");
  float* lse = f32(info, 1, n, "lse");
  const float* logits = f32(info, 2, prod(info, n, v), "logits");
  const int32_t* targets = i32(info, 3, n, "targets");
  check_ids(info, targets, n, v, "targets", true, ignore);
  SLM_CALL(cross_entropy_forward, losses, lse, logits, targets, n, v, ignore);
  return info.Env().Undefined();
}

// crossEntropyBackward(dlogits, logits, lse, targets, n, v, ignoreIndex, scale)
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 4, "n"), v = dim(info, 5, "v");
  int64_t ignore = i64(info, 6, "ignoreIndex");
  float scale = static_cast<float>(num(info, 7, "scale"));
  int64_t nv = prod(info, n, v);
  float* dlogits = f32(info, 0, nv, "dlogits");
  const float* logits = f32(info, 1, nv, "logits");
  const float* lse = f32(info, 2, n, "lse");
  const int32_t* targets = i32(info, 3, n, "targets");
  check_ids(info, targets, n, v, "targets", true, ignore);
  SLM_CALL(cross_entropy_backward, dlogits, logits, lse, targets, n, v, ignore, scale);
  return info.Env().Undefined();
}

// softmaxLsePair(lse1, lseT, logits, n, v, invT)
Napi::Value SoftmaxLsePair(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 3, "n"), v = dim(info, 4, "v");
  float inv_t = static_cast<float>(num(info, 5, "invT"));
  float* lse1 = f32(info, 0, n, "lse1");
  float* lseT = f32(info, 1, n, "lseT");
  const float* logits = f32(info, 2, prod(info, n, v), "logits");
  SLM_CALL(softmax_lse_pair, lse1, lseT, logits, n, v, inv_t);
  return info.Env().Undefined();
}

// distillDenseBackward(dlogits, logits, lse1, lseT, c1, cT, n, v, invT)
Napi::Value DistillDenseBackward(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 6, "n"), v = dim(info, 7, "v");
  float inv_t = static_cast<float>(num(info, 8, "invT"));
  int64_t nv = prod(info, n, v);
  float* dlogits = f32(info, 0, nv, "dlogits");
  const float* logits = f32(info, 1, nv, "logits");
  const float* lse1 = f32(info, 2, n, "lse1");
  const float* lseT = f32(info, 3, n, "lseT");
  const float* c1 = f32(info, 4, n, "c1");
  const float* cT = f32(info, 5, n, "cT");
  SLM_CALL(distill_dense_backward, dlogits, logits, lse1, lseT, c1, cT, n, v, inv_t);
  return info.Env().Undefined();
}

}  // namespace

void register_loss(Napi::Env env, Napi::Object exports) {
  exports.Set("crossEntropyForward", Napi::Function::New(env, CrossEntropyForward));
  exports.Set("crossEntropyBackward", Napi::Function::New(env, CrossEntropyBackward));
  exports.Set("softmaxLsePair", Napi::Function::New(env, SoftmaxLsePair));
  exports.Set("distillDenseBackward", Napi::Function::New(env, DistillDenseBackward));
}

}  // namespace slm::napi
