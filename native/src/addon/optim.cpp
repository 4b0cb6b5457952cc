// N-API bindings for the optimizer kernels (see kernels/optim.h). Argument
// order mirrors src/native/ops/optim.ts; every buffer is checked against n.
#include "addon/util.h"
#include "addon/checks.h"
#include "isa.h"

namespace slm::napi {
namespace {

// adamwStep(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step)
Napi::Value AdamwStep(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 4, "n");
  float lr = static_cast<float>(num(info, 5, "lr"));
  float beta1 = static_cast<float>(num(info, 6, "beta1"));
  float beta2 = static_cast<float>(num(info, 7, "beta2"));
  float eps = static_cast<float>(num(info, 8, "eps"));
  float wd = static_cast<float>(num(info, 9, "weightDecay"));
  int64_t step = i64(info, 10, "step");
  if (step < 1) throw Napi::RangeError::New(info.Env(), "step: must be >= 1, got " + std::to_string(step));
  float* param = f32(info, 0, n, "param");
  const float* grad = f32(info, 1, n, "grad");
  float* m = f32(info, 2, n, "m");
  float* v = f32(info, 3, n, "v");
  SLM_CALL(adamw_step, param, grad, m, v, n, lr, beta1, beta2, eps, wd, step);
  return info.Env().Undefined();
}

// sumSquares(x, n) -> number
Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 1, "n");
  const float* x = f32(info, 0, n, "x");
  return Napi::Number::New(info.Env(), SLM_CALL(sum_squares, x, n));
}

// scale(x, n, s)
Napi::Value Scale(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 1, "n");
  float s = static_cast<float>(num(info, 2, "s"));
  float* x = f32(info, 0, n, "x");
  SLM_CALL(scale_f32, x, n, s);
  return info.Env().Undefined();
}

}  // namespace

void register_optim(Napi::Env env, Napi::Object exports) {
  exports.Set("adamwStep", Napi::Function::New(env, AdamwStep));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquares));
  exports.Set("scale", Napi::Function::New(env, Scale));
}

}  // namespace slm::napi
