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

}  // namespace

void register_loss(Napi::Env env, Napi::Object exports) {
  exports.Set("crossEntropyForward", Napi::Function::New(env, CrossEntropyForward));
  exports.Set("crossEntropyBackward", Napi::Function::New(env, CrossEntropyBackward));
}

}  // namespace slm::napi
