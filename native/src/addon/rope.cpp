// N-API bindings for the rope kernels (see kernels/rope.h). Argument order mirrors
// src/native/ops/rope.ts. Checks sizes and every position against the table length
// before any memory is touched; shapes' meaning is validated in TypeScript.
#include <algorithm>
#include <string>

#include "addon/util.h"
#include "isa.h"

namespace slm::napi {
namespace {

// (out|dinp, inp|dout, cos, sin, positions, n, h, d, rot, interleaved)
template <bool Forward>
Napi::Value Rope(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = Forward ? "ropeForward" : "ropeBackward";
  int64_t n = i64(info, 5, "n"), h = i64(info, 6, "h"), d = i64(info, 7, "d"), rot = i64(info, 8, "rot");
  bool interleaved = flag(info, 9, "interleaved");
  if (n < 1 || h < 1 || d < 1) throw Napi::RangeError::New(env, std::string(fn) + ": n, h, d must be >= 1");
  if (rot < 2 || rot > d || rot % 2 != 0) throw Napi::RangeError::New(env, std::string(fn) + ": rot must be even, in [2, d]");
  float* y = f32(info, 0, n * h * d, Forward ? "out" : "dinp");
  const float* x = f32(info, 1, n * h * d, Forward ? "inp" : "dout");
  const int64_t half = rot / 2;
  const float* cs = f32(info, 2, half, "cos");
  const float* sn = f32(info, 3, half, "sin");
  const int64_t p = static_cast<int64_t>(std::min(info[2].As<Napi::Float32Array>().ElementLength(),
                                                  info[3].As<Napi::Float32Array>().ElementLength())) / half;
  const int32_t* pos = i32(info, 4, n, "positions");
  for (int64_t i = 0; i < n; ++i) {
    if (pos[i] < 0 || pos[i] >= p) {
      throw Napi::RangeError::New(env, std::string(fn) + ": positions[" + std::to_string(i) + "] = " +
                                           std::to_string(pos[i]) + " is outside the tables' [0, " + std::to_string(p) + ")");
    }
  }
  if (Forward) {
    SLM_CALL(rope_forward, y, x, cs, sn, pos, n, h, d, rot, interleaved);
  } else {
    SLM_CALL(rope_backward, y, x, cs, sn, pos, n, h, d, rot, interleaved);
  }
  return env.Undefined();
}

}  // namespace

void register_rope(Napi::Env env, Napi::Object exports) {
  exports.Set("ropeForward", Napi::Function::New(env, Rope<true>));
  exports.Set("ropeBackward", Napi::Function::New(env, Rope<false>));
}

}  // namespace slm::napi
