// N-API bindings for the norm kernels (see kernels/norm.h). Argument order
// mirrors src/native/ops/norm.ts; every buffer is checked against the dims.
#include "addon/util.h"
#include "addon/checks.h"
#include "isa.h"

namespace slm::napi {
namespace {

// rmsnormForward(out, rstd, inp, weight, n, c, eps)
Napi::Value RmsnormForward(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 4, "n"), c = dim(info, 5, "c");
  float eps = static_cast<float>(num(info, 6, "eps"));
  int64_t nc = prod(info, n, c);
  float* out = f32(info, 0, nc, "out");
  float* rstd = f32(info, 1, n, "rstd");
  const float* inp = f32(info, 2, nc, "inp");
  const float* weight = f32(info, 3, c, "weight");
  SLM_CALL(rmsnorm_forward, out, rstd, inp, weight, n, c, eps);
  return info.Env().Undefined();
}

// rmsnormBackward(dinp, dweight, dout, inp, weight, rstd, n, c)
Napi::Value RmsnormBackward(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 6, "n"), c = dim(info, 7, "c");
  int64_t nc = prod(info, n, c);
  float* dinp = f32(info, 0, nc, "dinp");
  float* dweight = f32(info, 1, c, "dweight");
  const float* dout = f32(info, 2, nc, "dout");
  const float* inp = f32(info, 3, nc, "inp");
  const float* weight = f32(info, 4, c, "weight");
  const float* rstd = f32(info, 5, n, "rstd");
  SLM_CALL(rmsnorm_backward, dinp, dweight, dout, inp, weight, rstd, n, c);
  return info.Env().Undefined();
}

// layernormForward(out, mean, rstd, inp, weight, bias|null, n, c, eps)
Napi::Value LayernormForward(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 6, "n"), c = dim(info, 7, "c");
  float eps = static_cast<float>(num(info, 8, "eps"));
  int64_t nc = prod(info, n, c);
  float* out = f32(info, 0, nc, "out");
  float* mean = f32(info, 1, n, "mean");
  float* rstd = f32(info, 2, n, "rstd");
  const float* inp = f32(info, 3, nc, "inp");
  const float* weight = f32(info, 4, c, "weight");
  const float* bias = f32_or_null(info, 5, c, "bias");
  SLM_CALL(layernorm_forward, out, mean, rstd, inp, weight, bias, n, c, eps);
  return info.Env().Undefined();
}

// layernormBackward(dinp, dweight, dbias|null, dout, inp, weight, mean, rstd, n, c)
Napi::Value LayernormBackward(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 8, "n"), c = dim(info, 9, "c");
  int64_t nc = prod(info, n, c);
  float* dinp = f32(info, 0, nc, "dinp");
  float* dweight = f32(info, 1, c, "dweight");
  float* dbias = f32_or_null(info, 2, c, "dbias");
  const float* dout = f32(info, 3, nc, "dout");
  const float* inp = f32(info, 4, nc, "inp");
  const float* weight = f32(info, 5, c, "weight");
  const float* mean = f32(info, 6, n, "mean");
  const float* rstd = f32(info, 7, n, "rstd");
  SLM_CALL(layernorm_backward, dinp, dweight, dbias, dout, inp, weight, mean, rstd, n, c);
  return info.Env().Undefined();
}

}  // namespace

void register_norm(Napi::Env env, Napi::Object exports) {
  exports.Set("rmsnormForward", Napi::Function::New(env, RmsnormForward));
  exports.Set("rmsnormBackward", Napi::Function::New(env, RmsnormBackward));
  exports.Set("layernormForward", Napi::Function::New(env, LayernormForward));
  exports.Set("layernormBackward", Napi::Function::New(env, LayernormBackward));
}

}  // namespace slm::napi
