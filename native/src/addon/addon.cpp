// Module entry: runtime controls (threads, instruction set) and the
// registration of every kernel group's bindings. The napi layer lives in
// native/src/addon/ only; kernels never see napi.h.
#include <napi.h>

#include "addon/util.h"
#include "isa.h"
#include "pool.h"

namespace slm::napi {
namespace {

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), num_threads()); }

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  set_num_threads(static_cast<int>(i64(info, 0, "threads")));
  return info.Env().Undefined();
}

Napi::Value GetIsa(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), isa_name(active_isa())); }
Napi::Value BestIsa(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), isa_name(best_isa())); }

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "isa: expected a string");
  std::string s = info[0].As<Napi::String>().Utf8Value();
  Isa want;
  if (s == "scalar") want = Isa::Scalar;
  else if (s == "avx2") want = Isa::Avx2;
  else if (s == "avx512") want = Isa::Avx512;
  else throw Napi::TypeError::New(info.Env(), "isa: expected scalar, avx2 or avx512, got " + s);
  return Napi::Boolean::New(info.Env(), set_isa(want));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getIsa", Napi::Function::New(env, GetIsa));
  exports.Set("bestIsa", Napi::Function::New(env, BestIsa));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  register_gemm(env, exports);
  register_embed(env, exports);
  register_norm(env, exports);
  register_rope(env, exports);
  register_attention(env, exports);
  register_activation(env, exports);
  register_loss(env, exports);
  register_optim(env, exports);
  register_qgemm(env, exports);
  register_decode(env, exports);
  return exports;
}

}  // namespace
}  // namespace slm::napi

static Napi::Object InitSlm(Napi::Env env, Napi::Object exports) { return slm::napi::Init(env, exports); }

NODE_API_MODULE(slm_native, InitSlm)
