// Size and index checks shared by the element-wise, norm, loss and optimizer
// bindings: dimensions that are non-negative and whose products cannot
// overflow, and id arrays whose every entry indexes inside a table. Knows
// nothing about the kernels themselves.
#pragma once
#include <napi.h>

#include "addon/util.h"

#include <cstdint>
#include <string>

namespace slm::napi {

// A dimension argument: an integer >= 0.
inline int64_t dim(const Napi::CallbackInfo& info, size_t i, const char* name) {
  int64_t v = i64(info, i, name);
  if (v < 0) throw Napi::RangeError::New(info.Env(), std::string(name) + ": must be >= 0, got " + std::to_string(v));
  return v;
}

// a·b for dimensions, refusing products past 2^53 (no JS array is that long anyway).
inline int64_t prod(const Napi::CallbackInfo& info, int64_t a, int64_t b) {
  constexpr int64_t kMax = int64_t{1} << 53;
  if (a != 0 && b > kMax / a) throw Napi::RangeError::New(info.Env(), "sizes too large");
  return a * b;
}

// Throws unless every ids[i] (i < n) is in [0, v) or equals `except` (when allow_except).
inline void check_ids(const Napi::CallbackInfo& info, const int32_t* ids, int64_t n, int64_t v, const char* name,
                      bool allow_except = false, int64_t except = 0) {
  for (int64_t i = 0; i < n; ++i) {
    int64_t id = ids[i];
    if (id >= 0 && id < v) continue;
    if (allow_except && id == except) continue;
    throw Napi::RangeError::New(info.Env(), std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(id) +
                                                " is outside [0, " + std::to_string(v) + ")");
  }
}

}  // namespace slm::napi
