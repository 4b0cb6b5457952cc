// Helpers for the N-API boundary: argument extraction with type and size
// checks. Shapes are validated in TypeScript (src/native/ops); this layer only
// makes sure a wrong call cannot read or write out of bounds.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

namespace slm::napi {

inline Napi::Value throw_type(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// A Float32Array argument with at least `need` elements.
inline float* f32(const Napi::CallbackInfo& info, size_t i, int64_t need, const char* name) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(env, std::string(name) + ": expected a Float32Array");
  }
  auto arr = info[i].As<Napi::Float32Array>();
  if (need < 0 || static_cast<int64_t>(arr.ElementLength()) < need) {
    throw Napi::RangeError::New(env, std::string(name) + ": has " + std::to_string(arr.ElementLength()) +
                                         " elements, the call needs " + std::to_string(need));
  }
  return arr.Data();
}

// A Float32Array argument with at least `need` elements, or null/undefined (returns nullptr).
inline float* f32_or_null(const Napi::CallbackInfo& info, size_t i, int64_t need, const char* name) {
  if (i < info.Length() && (info[i].IsNull() || info[i].IsUndefined())) return nullptr;
  return f32(info, i, need, name);
}

// An Int32Array argument with at least `need` elements.
inline int32_t* i32(const Napi::CallbackInfo& info, size_t i, int64_t need, const char* name) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(env, std::string(name) + ": expected an Int32Array");
  }
  auto arr = info[i].As<Napi::Int32Array>();
  if (need < 0 || static_cast<int64_t>(arr.ElementLength()) < need) {
    throw Napi::RangeError::New(env, std::string(name) + ": has " + std::to_string(arr.ElementLength()) +
                                         " elements, the call needs " + std::to_string(need));
  }
  return arr.Data();
}

// A Uint8Array / Int8Array argument (raw bytes) with at least `need` bytes.
inline uint8_t* bytes(const Napi::CallbackInfo& info, size_t i, int64_t need, const char* name) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsTypedArray()) {
    throw Napi::TypeError::New(env, std::string(name) + ": expected a Uint8Array or Int8Array");
  }
  auto arr = info[i].As<Napi::TypedArray>();
  if (arr.TypedArrayType() != napi_uint8_array && arr.TypedArrayType() != napi_int8_array) {
    throw Napi::TypeError::New(env, std::string(name) + ": expected a Uint8Array or Int8Array");
  }
  if (need < 0 || static_cast<int64_t>(arr.ByteLength()) < need) {
    throw Napi::RangeError::New(env, std::string(name) + ": has " + std::to_string(arr.ByteLength()) +
                                         " bytes, the call needs " + std::to_string(need));
  }
  return static_cast<uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
}

inline int64_t i64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(name) + ": expected a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (v != static_cast<double>(static_cast<int64_t>(v)))
    throw Napi::TypeError::New(info.Env(), std::string(name) + ": expected an integer");
  return static_cast<int64_t>(v);
}

inline double num(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(name) + ": expected a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

inline bool flag(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsBoolean())
    throw Napi::TypeError::New(info.Env(), std::string(name) + ": expected a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

// Elements spanned by a (rows, cols) matrix with row stride ld, batched with stride s.
inline int64_t span(int64_t batch, int64_t rows, int64_t cols, int64_t ld, int64_t s) {
  if (batch <= 0 || rows <= 0 || cols <= 0) return 0;
  return (batch - 1) * s + (rows - 1) * ld + cols;
}

// Each group's binding file defines one of these; addon.cpp calls them all.
void register_gemm(Napi::Env env, Napi::Object exports);
void register_embed(Napi::Env env, Napi::Object exports);
void register_norm(Napi::Env env, Napi::Object exports);
void register_rope(Napi::Env env, Napi::Object exports);
void register_attention(Napi::Env env, Napi::Object exports);
void register_activation(Napi::Env env, Napi::Object exports);
void register_loss(Napi::Env env, Napi::Object exports);
void register_optim(Napi::Env env, Napi::Object exports);
void register_qgemm(Napi::Env env, Napi::Object exports);
void register_decode(Napi::Env env, Napi::Object exports);

}  // namespace slm::napi
