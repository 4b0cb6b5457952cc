// N-API bindings for the activation kernels (see kernels/activation.h).
// Argument order mirrors src/native/ops/activation.ts; every buffer is
// checked against the dims.
#include "addon/util.h"
#include "addon/checks.h"
#include "isa.h"

namespace slm::napi {
namespace {

// swigluForward(out, gate, up, n)
Napi::Value SwigluForward(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 3, "n");
  float* out = f32(info, 0, n, "out");
  const float* gate = f32(info, 1, n, "gate");
  const float* up = f32(info, 2, n, "up");
  SLM_CALL(swiglu_forward, out, gate, up, n);
  return info.Env().Undefined();
}

// swigluBackward(dgate, dup, dout, gate, up, n)
Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 5, "n");
  float* dgate = f32(info, 0, n, "dgate");
  float* dup = f32(info, 1, n, "dup");
  const float* dout = f32(info, 2, n, "dout");
  const float* gate = f32(info, 3, n, "gate");
  const float* up = f32(info, 4, n, "up");
  SLM_CALL(swiglu_backward, dgate, dup, dout, gate, up, n);
  return info.Env().Undefined();
}

// geluForward(out, inp, n)
Napi::Value GeluForward(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 2, "n");
  float* out = f32(info, 0, n, "out");
  const float* inp = f32(info, 1, n, "inp");
  SLM_CALL(gelu_forward, out, inp, n);
  return info.Env().Undefined();
}

// geluBackward(dinp, dout, inp, n)
Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 3, "n");
  float* dinp = f32(info, 0, n, "dinp");
  const float* dout = f32(info, 1, n, "dout");
  const float* inp = f32(info, 2, n, "inp");
  SLM_CALL(gelu_backward, dinp, dout, inp, n);
  return info.Env().Undefined();
}

// softmaxForward(out, inp, n, v)
Napi::Value SoftmaxForward(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 2, "n"), v = dim(info, 3, "v");
  int64_t nv = prod(info, n, v);
  float* out = f32(info, 0, nv, "out");
  const float* inp = f32(info, 1, nv, "inp");
  SLM_CALL(softmax_forward, out, inp, n, v);
  return info.Env().Undefined();
}

// add(out, a, b, n)
Napi::Value Add(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 3, "n");
  float* out = f32(info, 0, n, "out");
  const float* a = f32(info, 1, n, "a");
  const float* b = f32(info, 2, n, "b");
  SLM_CALL(add_f32, out, a, b, n);
  return info.Env().Undefined();
}

// axpy(y, alpha, x, n)
Napi::Value Axpy(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 3, "n");
  float* y = f32(info, 0, n, "y");
  float alpha = static_cast<float>(num(info, 1, "alpha"));
  const float* x = f32(info, 2, n, "x");
  SLM_CALL(axpy_f32, y, alpha, x, n);
  return info.Env().Undefined();
}

}  // namespace

void register_activation(Napi::Env env, Napi::Object exports) {
  exports.Set("swigluForward", Napi::Function::New(env, SwigluForward));
  exports.Set("swigluBackward", Napi::Function::New(env, SwigluBackward));
  exports.Set("geluForward", Napi::Function::New(env, GeluForward));
  exports.Set("geluBackward", Napi::Function::New(env, GeluBackward));
  exports.Set("softmaxForward", Napi::Function::New(env, SoftmaxForward));
  exports.Set("add", Napi::Function::New(env, Add));
  exports.Set("axpy", Napi::Function::New(env, Axpy));
}

}  // namespace slm::napi
