// N-API bindings for the decode-step kernel (see kernels/decode.h). decodePlan(spec) checks
// every buffer of the plan against the shapes it declares and returns an opaque handle
// (an External owning the unpacked plan); decodeLayers(handle, x, b, tq, starts, cos, sin)
// runs b·tq <= 8 rows. The handle borrows the spec's typed arrays: src/native/ops/decode.ts keeps the spec
// beside it. Shapes are validated in TypeScript; here, what keeps a call in bounds.
#include "addon/checks.h"
#include "addon/util.h"
#include "isa.h"
#include "kernels/qtypes.h"

#include <algorithm>
#include <string>

namespace slm::napi {
namespace {

int64_t int_field(Napi::Env env, const Napi::Object& o, const char* name, int64_t lo) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("decodePlan: ") + name + ": expected a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d)) || d < static_cast<double>(lo) || d > 1e12)
    throw Napi::RangeError::New(env, std::string("decodePlan: ") + name + " must be an integer >= " + std::to_string(lo));
  return static_cast<int64_t>(d);
}

float float_field(Napi::Env env, const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("decodePlan: ") + name + ": expected a number");
  return static_cast<float>(v.As<Napi::Number>().DoubleValue());
}

// A Float32Array of at least `need` elements (or null when `nullable`), named for errors.
float* f32_value(Napi::Env env, Napi::Value v, int64_t need, const std::string& name, bool nullable) {
  if (nullable && (v.IsNull() || v.IsUndefined())) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, "decodePlan: " + name + ": expected a Float32Array");
  auto a = v.As<Napi::Float32Array>();
  if (static_cast<int64_t>(a.ElementLength()) < need)
    throw Napi::RangeError::New(env, "decodePlan: " + name + " has " + std::to_string(a.ElementLength()) + " values, needs " + std::to_string(need));
  return a.Data();
}

const uint8_t* bytes_value(Napi::Env env, Napi::Value v, int64_t need, const std::string& name) {
  if (!v.IsTypedArray()) throw Napi::TypeError::New(env, "decodePlan: " + name + ": expected a Uint8Array");
  auto a = v.As<Napi::TypedArray>();
  if (a.TypedArrayType() != napi_uint8_array && a.TypedArrayType() != napi_int8_array)
    throw Napi::TypeError::New(env, "decodePlan: " + name + ": expected a Uint8Array");
  if (static_cast<int64_t>(a.ByteLength()) < need)
    throw Napi::RangeError::New(env, "decodePlan: " + name + " has " + std::to_string(a.ByteLength()) + " bytes, needs " + std::to_string(need));
  return static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
}

// A layer's cache: a Float32Array for F32 rows, a Uint8Array for F16 / Q8_0, of slots·kvh·maxt rows.
uint8_t* cache_value(Napi::Env env, Napi::Value v, const DecodePlan& p, const std::string& name) {
  const int64_t need = p.slots * p.kvh * p.maxt * p.kv_row_bytes;
  if (p.kv_type == qt::F32) return reinterpret_cast<uint8_t*>(f32_value(env, v, need / 4, name, false));
  return const_cast<uint8_t*>(bytes_value(env, v, need, name));
}

const char* const kWeightNames[kDecWeights] = {"q", "k", "v", "o", "gate", "up", "down"};

DecodeLayer layer_value(Napi::Env env, const Napi::Object& s, const DecodePlan& p, int64_t l) {
  const std::string at = "layers[" + std::to_string(l) + "].";
  const int64_t qd = p.h * p.hd, kd = p.kvh * p.hd;
  const int64_t rows[kDecWeights] = {qd, kd, kd, p.d, p.ffn, p.ffn, p.d};
  const int64_t cols[kDecWeights] = {p.d, p.d, p.d, qd, p.d, p.d, p.ffn};
  DecodeLayer L{};
  L.attn_norm = f32_value(env, s.Get("attnNorm"), p.d, at + "attnNorm", false);
  L.mlp_norm = f32_value(env, s.Get("mlpNorm"), p.d, at + "mlpNorm", false);
  L.q_norm = f32_value(env, s.Get("qNorm"), p.hd, at + "qNorm", true);
  L.k_norm = f32_value(env, s.Get("kNorm"), p.hd, at + "kNorm", true);
  Napi::Value tv = s.Get("types"), wv = s.Get("weights"), bv = s.Get("biases"), pv = s.Get("plain");
  if (!pv.IsTypedArray() || pv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || pv.As<Napi::Uint8Array>().ElementLength() != kDecWeights)
    throw Napi::TypeError::New(env, "decodePlan: " + at + "plain: expected a Uint8Array of 7");
  auto plain = pv.As<Napi::Uint8Array>();
  if (!tv.IsTypedArray() || tv.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || tv.As<Napi::Int32Array>().ElementLength() != kDecWeights)
    throw Napi::TypeError::New(env, "decodePlan: " + at + "types: expected an Int32Array of 7");
  if (!wv.IsArray() || wv.As<Napi::Array>().Length() != kDecWeights || !bv.IsArray() || bv.As<Napi::Array>().Length() != kDecWeights)
    throw Napi::TypeError::New(env, "decodePlan: " + at + "weights and biases: expected arrays of 7");
  auto types = tv.As<Napi::Int32Array>();
  auto ws = wv.As<Napi::Array>(), bs = bv.As<Napi::Array>();
  for (int i = 0; i < kDecWeights; ++i) {
    const std::string name = at + "weights[" + kWeightNames[i] + "]";
    const int t = types[i];
    if (!qt::known(t)) throw Napi::RangeError::New(env, "decodePlan: " + name + ": unsupported ggml type " + std::to_string(t));
    if (cols[i] % qt::block_size(t) != 0) throw Napi::RangeError::New(env, "decodePlan: " + name + ": " + std::to_string(cols[i]) + " columns are not a whole number of blocks");
    L.types[i] = t;
    L.plain[i] = plain[i] != 0;
    if (L.plain[i] && t != qt::F32) throw Napi::RangeError::New(env, "decodePlan: " + name + ": a plain weight must be F32");
    L.w[i] = bytes_value(env, ws.Get(static_cast<uint32_t>(i)), rows[i] * qt::row_bytes(t, cols[i]), name);
    L.bias[i] = f32_value(env, bs.Get(static_cast<uint32_t>(i)), rows[i], at + "biases[" + kWeightNames[i] + "]", true);
  }
  L.kcache = cache_value(env, s.Get("kCache"), p, at + "kCache");
  L.vcache = cache_value(env, s.Get("vCache"), p, at + "vCache");
  return L;
}

// decodePlan(spec) -> handle
Napi::Value DecodePlanNew(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "decodePlan: expected a spec object");
  Napi::Object s = info[0].As<Napi::Object>();
  auto* p = new DecodePlan();
  try {
    p->d = int_field(env, s, "dModel", 1);
    p->h = int_field(env, s, "nHeads", 1);
    p->kvh = int_field(env, s, "nKvHeads", 1);
    p->hd = int_field(env, s, "headDim", 1);
    p->ffn = int_field(env, s, "ffnDim", 1);
    p->rot = int_field(env, s, "rot", 2);
    p->maxt = int_field(env, s, "maxT", 1);
    p->slots = int_field(env, s, "slots", 1);
    Napi::Value kv = s.Get("kvType");
    const std::string kvs = kv.IsString() ? kv.As<Napi::String>().Utf8Value() : "";
    if (kvs != "F32" && kvs != "F16" && kvs != "Q8_0") throw Napi::RangeError::New(env, "decodePlan: kvType must be \"F32\", \"F16\" or \"Q8_0\"");
    p->kv_type = kvs == "F32" ? qt::F32 : kvs == "F16" ? qt::F16 : qt::Q8_0;
    if (p->hd % qt::block_size(p->kv_type) != 0) throw Napi::RangeError::New(env, "decodePlan: headDim is not a whole number of cache blocks");
    p->kv_row_bytes = qt::row_bytes(p->kv_type, p->hd);
    p->eps = float_field(env, s, "eps");
    p->scale = float_field(env, s, "scale");
    if (p->h % p->kvh != 0) throw Napi::RangeError::New(env, "decodePlan: nHeads is not a multiple of nKvHeads");
    if (p->rot % 2 != 0 || p->rot > p->hd) throw Napi::RangeError::New(env, "decodePlan: rot must be even and <= headDim");
    Napi::Value lv = s.Get("layers");
    if (!lv.IsArray()) throw Napi::TypeError::New(env, "decodePlan: layers: expected an array");
    Napi::Array layers = lv.As<Napi::Array>();
    for (uint32_t l = 0; l < layers.Length(); ++l) {
      Napi::Value e = layers.Get(l);
      if (!e.IsObject()) throw Napi::TypeError::New(env, "decodePlan: layers[" + std::to_string(l) + "]: expected an object");
      p->layers.push_back(layer_value(env, e.As<Napi::Object>(), *p, l));
    }
    p->buf.assign(static_cast<size_t>(kDecodeMaxRows * (p->d * 3 + 2 * p->h * p->hd + 2 * p->kvh * p->hd + 2 * p->ffn + p->h)), 0.f);
    if (p->kv_type != qt::F32) p->kv.assign(static_cast<size_t>(2 * p->slots * p->kvh * p->maxt * p->hd), 0.f);
  } catch (...) {
    delete p;
    throw;
  }
  return Napi::External<DecodePlan>::New(env, p, [](Napi::Env, DecodePlan* q) { delete q; });
}

// decodeLayers(handle, x, b, tq, starts, cos, sin)
Napi::Value DecodeLayers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 7 || !info[0].IsExternal()) throw Napi::TypeError::New(env, "decodeLayers: expected a plan handle from decodePlan");
  DecodePlan* p = info[0].As<Napi::External<DecodePlan>>().Data();
  const int64_t b = i64(info, 2, "b"), tq = i64(info, 3, "tq");
  if (b < 1 || tq < 1 || b * tq > kDecodeMaxRows || b > p->slots)
    throw Napi::RangeError::New(env, "decodeLayers: " + std::to_string(b) + " sequences of " + std::to_string(tq) + " tokens: at most " +
                                         std::to_string(kDecodeMaxRows) + " rows and " + std::to_string(p->slots) + " sequences");
  float* x = f32(info, 1, b * tq * p->d, "x");
  const int32_t* starts = i32(info, 4, b, "starts");
  int64_t end = 0;
  for (int64_t s = 0; s < b; ++s) {
    if (starts[s] < 0 || starts[s] + tq > p->maxt)
      throw Napi::RangeError::New(env, "decodeLayers: positions " + std::to_string(starts[s]) + ".." + std::to_string(starts[s] + tq - 1) + " are outside the cache's " + std::to_string(p->maxt));
    end = std::max<int64_t>(end, starts[s] + tq);
  }
  const float* c = f32(info, 5, end * (p->rot / 2), "cos");
  const float* sn = f32(info, 6, end * (p->rot / 2), "sin");
  SLM_CALL(decode_layers, *p, x, b, tq, starts, c, sn);
  return env.Undefined();
}

}  // namespace

void register_decode(Napi::Env env, Napi::Object exports) {
  exports.Set("decodePlan", Napi::Function::New(env, DecodePlanNew));
  exports.Set("decodeLayers", Napi::Function::New(env, DecodeLayers));
}

}  // namespace slm::napi
