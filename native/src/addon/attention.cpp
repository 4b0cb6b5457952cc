// N-API bindings for the attention kernels (see kernels/attention.h). Argument order
// mirrors src/native/ops/attention.ts. Checks dims, strides and buffer sizes (and the
// decode starts) so that a wrong call cannot read or write out of bounds.
#include <string>

#include "addon/util.h"
#include "isa.h"

namespace slm::napi {
namespace {

struct Dims {
  int64_t b, t, h, kvh, d;
};

// b, t, h, kvh, d at info[i..i+4]; all >= 1 and h a multiple of kvh.
Dims dims(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* tname) {
  Dims s{i64(info, i, "b"), i64(info, i + 1, tname), i64(info, i + 2, "h"), i64(info, i + 3, "kvh"),
         i64(info, i + 4, "d")};
  if (s.b < 1 || s.t < 1 || s.h < 1 || s.kvh < 1 || s.d < 1)
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": b, t, h, kvh, d must be >= 1");
  if (s.h % s.kvh != 0) throw Napi::RangeError::New(info.Env(), std::string(fn) + ": h must be a multiple of kvh");
  return s;
}

// A row stride at least `width`.
int64_t stride(const Napi::CallbackInfo& info, size_t i, int64_t width, const char* name) {
  int64_t s = i64(info, i, name);
  if (s < width)
    throw Napi::RangeError::New(info.Env(), std::string(name) + " = " + std::to_string(s) + " is less than the row width " +
                                                std::to_string(width));
  return s;
}

// attentionForward(out, lse, q, qStride, k, kStride, v, vStride, b, t, h, kvh, d, scale)
Napi::Value Forward(const Napi::CallbackInfo& info) {
  Dims s = dims(info, 8, "attentionForward", "t");
  float scale = static_cast<float>(num(info, 13, "scale"));
  int64_t qs = stride(info, 3, s.h * s.d, "qStride"), ks = stride(info, 5, s.kvh * s.d, "kStride"),
          vs = stride(info, 7, s.kvh * s.d, "vStride");
  int64_t rows = s.b * s.t;
  float* out = f32(info, 0, rows * s.h * s.d, "out");
  float* lse = f32(info, 1, s.b * s.h * s.t, "lse");
  const float* q = f32(info, 2, span(1, rows, s.h * s.d, qs, 0), "q");
  const float* k = f32(info, 4, span(1, rows, s.kvh * s.d, ks, 0), "k");
  const float* v = f32(info, 6, span(1, rows, s.kvh * s.d, vs, 0), "v");
  SLM_CALL(attention_forward, out, lse, q, qs, k, ks, v, vs, s.b, s.t, s.h, s.kvh, s.d, scale);
  return info.Env().Undefined();
}

// attentionBackward(dq, dk, dv, dout, q, qStride, k, kStride, v, vStride, out, lse, b, t, h, kvh, d, scale)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  Dims s = dims(info, 12, "attentionBackward", "t");
  float scale = static_cast<float>(num(info, 17, "scale"));
  int64_t qs = stride(info, 5, s.h * s.d, "qStride"), ks = stride(info, 7, s.kvh * s.d, "kStride"),
          vs = stride(info, 9, s.kvh * s.d, "vStride");
  int64_t rows = s.b * s.t;
  int64_t nq = span(1, rows, s.h * s.d, qs, 0), nk = span(1, rows, s.kvh * s.d, ks, 0),
          nv = span(1, rows, s.kvh * s.d, vs, 0);
  float* dq = f32(info, 0, nq, "dq");
  float* dk = f32(info, 1, nk, "dk");
  float* dv = f32(info, 2, nv, "dv");
  const float* dout = f32(info, 3, rows * s.h * s.d, "dout");
  const float* q = f32(info, 4, nq, "q");
  const float* k = f32(info, 6, nk, "k");
  const float* v = f32(info, 8, nv, "v");
  const float* out = f32(info, 10, rows * s.h * s.d, "out");
  const float* lse = f32(info, 11, s.b * s.h * s.t, "lse");
  SLM_CALL(attention_backward, dq, dk, dv, dout, q, qs, k, ks, v, vs, out, lse, s.b, s.t, s.h, s.kvh, s.d, scale);
  return info.Env().Undefined();
}

// attentionDecode(out, q, kCache, vCache, starts, b, tq, h, kvh, d, maxT, scale)
Napi::Value Decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Dims s = dims(info, 5, "attentionDecode", "tq");
  int64_t maxt = i64(info, 10, "maxT");
  float scale = static_cast<float>(num(info, 11, "scale"));
  if (maxt < s.t) throw Napi::RangeError::New(env, "attentionDecode: maxT must be >= tq");
  float* out = f32(info, 0, s.b * s.t * s.h * s.d, "out");
  const float* q = f32(info, 1, s.b * s.t * s.h * s.d, "q");
  const float* kc = f32(info, 2, s.b * s.kvh * maxt * s.d, "kCache");
  const float* vc = f32(info, 3, s.b * s.kvh * maxt * s.d, "vCache");
  const int32_t* starts = i32(info, 4, s.b, "starts");
  for (int64_t i = 0; i < s.b; ++i) {
    if (starts[i] < 0 || starts[i] + s.t > maxt) {
      throw Napi::RangeError::New(env, "attentionDecode: starts[" + std::to_string(i) + "] = " + std::to_string(starts[i]) +
                                           " leaves no room for " + std::to_string(s.t) + " queries in a cache of " +
                                           std::to_string(maxt));
    }
  }
  SLM_CALL(attention_decode, out, q, kc, vc, starts, s.b, s.t, s.h, s.kvh, s.d, maxt, scale);
  return env.Undefined();
}

}  // namespace

void register_attention(Napi::Env env, Napi::Object exports) {
  exports.Set("attentionForward", Napi::Function::New(env, Forward));
  exports.Set("attentionBackward", Napi::Function::New(env, Backward));
  exports.Set("attentionDecode", Napi::Function::New(env, Decode));
}

}  // namespace slm::napi
