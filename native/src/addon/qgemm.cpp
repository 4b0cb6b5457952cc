// N-API bindings for the quantized-product kernels (see kernels/qgemm.h).
// Argument order mirrors src/native/ops/qgemm.ts. Shapes are validated there;
// here only what keeps a wrong call from reading or writing out of bounds:
// a known type, whole blocks per row, buffers long enough, ids in range.
#include "addon/checks.h"
#include "addon/util.h"
#include "isa.h"
#include "kernels/qtypes.h"

#include <vector>

namespace slm::napi {
namespace {

struct QArgs {
  int type;
  int64_t rows, cols;
  const uint8_t* w;
};

// typeId at ti, data at di, rows at ri, cols at ri + 1
QArgs weight_args(const Napi::CallbackInfo& info, size_t ti, size_t di, size_t ri, const char* fn) {
  QArgs a;
  int64_t t = i64(info, ti, "typeId");
  if (!qt::known(static_cast<int>(t))) throw Napi::RangeError::New(info.Env(), std::string(fn) + ": unsupported ggml type " + std::to_string(t));
  a.type = static_cast<int>(t);
  a.rows = dim(info, ri, "rows");
  a.cols = dim(info, ri + 1, "cols");
  if (a.rows < 1 || a.cols < 1) throw Napi::RangeError::New(info.Env(), std::string(fn) + ": rows and cols must be >= 1");
  if (a.cols % qt::block_size(a.type) != 0) throw Napi::RangeError::New(info.Env(), std::string(fn) + ": cols is not a whole number of blocks");
  a.w = bytes(info, di, prod(info, a.rows, qt::row_bytes(a.type, a.cols)), "data");
  return a;
}

// qgemm(y, x, m, typeId, data, rows, cols)
Napi::Value Qgemm(const Napi::CallbackInfo& info) {
  int64_t m = dim(info, 2, "m");
  if (m < 1) throw Napi::RangeError::New(info.Env(), "qgemm: m must be >= 1");
  QArgs a = weight_args(info, 3, 4, 5, "qgemm");
  float* y = f32(info, 0, prod(info, m, a.rows), "y");
  const float* x = f32(info, 1, prod(info, m, a.cols), "x");
  SLM_CALL(qgemm, y, x, m, a.type, a.w, a.rows, a.cols);
  return info.Env().Undefined();
}

// qgemmMulti(ys, x, m, typeIds, datas, rows, cols): ys and datas arrays of n typed arrays,
// typeIds and rows Int32Arrays of n; every matrix has cols columns.
Napi::Value QgemmMulti(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t m = dim(info, 2, "m");
  if (m < 1) throw Napi::RangeError::New(env, "qgemmMulti: m must be >= 1");
  if (info.Length() < 7 || !info[0].IsArray() || !info[4].IsArray()) throw Napi::TypeError::New(env, "qgemmMulti: ys and datas must be arrays");
  Napi::Array ya = info[0].As<Napi::Array>(), da = info[4].As<Napi::Array>();
  const int64_t n = ya.Length();
  if (n < 1 || n > 64 || static_cast<int64_t>(da.Length()) != n) throw Napi::RangeError::New(env, "qgemmMulti: ys and datas must hold the same number (1..64) of arrays");
  const int32_t* tids = i32(info, 3, n, "typeIds");
  const int32_t* rws = i32(info, 5, n, "rows");
  const int64_t cols = dim(info, 6, "cols");
  const float* x = f32(info, 1, prod(info, m, cols), "x");
  std::vector<float*> ys(n);
  std::vector<int> types(n);
  std::vector<const uint8_t*> ws(n);
  std::vector<int64_t> rows(n);
  for (int64_t k = 0; k < n; ++k) {
    // Each element checked as its own call would be: a known type, whole blocks, long enough buffers.
    Napi::Value yk = ya.Get(static_cast<uint32_t>(k)), dk = da.Get(static_cast<uint32_t>(k));
    if (!yk.IsTypedArray() || yk.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throw Napi::TypeError::New(env, "qgemmMulti: ys[" + std::to_string(k) + "]: expected a Float32Array");
    if (!dk.IsTypedArray()) throw Napi::TypeError::New(env, "qgemmMulti: datas[" + std::to_string(k) + "]: expected a Uint8Array");
    const int t = tids[k];
    if (!qt::known(t)) throw Napi::RangeError::New(env, "qgemmMulti: unsupported ggml type " + std::to_string(t));
    if (rws[k] < 1 || cols < 1 || cols % qt::block_size(t) != 0) throw Napi::RangeError::New(env, "qgemmMulti: rows must be >= 1 and cols a whole number of blocks");
    auto ytyped = yk.As<Napi::Float32Array>();
    if (static_cast<int64_t>(ytyped.ElementLength()) < prod(info, m, rws[k])) throw Napi::RangeError::New(env, "qgemmMulti: ys[" + std::to_string(k) + "] is too short");
    auto dtyped = dk.As<Napi::TypedArray>();
    if (dtyped.TypedArrayType() != napi_uint8_array && dtyped.TypedArrayType() != napi_int8_array) throw Napi::TypeError::New(env, "qgemmMulti: datas[" + std::to_string(k) + "]: expected a Uint8Array");
    if (static_cast<int64_t>(dtyped.ByteLength()) < prod(info, rws[k], qt::row_bytes(t, cols))) throw Napi::RangeError::New(env, "qgemmMulti: datas[" + std::to_string(k) + "] is too short");
    ys[k] = ytyped.Data();
    types[k] = t;
    ws[k] = static_cast<const uint8_t*>(dtyped.ArrayBuffer().Data()) + dtyped.ByteOffset();
    rows[k] = rws[k];
  }
  SLM_CALL(qgemm_multi, ys.data(), x, m, static_cast<int>(n), types.data(), ws.data(), rows.data(), cols);
  return env.Undefined();
}

// qgemmT(dx, dy, m, typeId, data, rows, cols)
Napi::Value QgemmT(const Napi::CallbackInfo& info) {
  int64_t m = dim(info, 2, "m");
  if (m < 1) throw Napi::RangeError::New(info.Env(), "qgemmT: m must be >= 1");
  QArgs a = weight_args(info, 3, 4, 5, "qgemmT");
  float* dx = f32(info, 0, prod(info, m, a.cols), "dx");
  const float* dy = f32(info, 1, prod(info, m, a.rows), "dy");
  SLM_CALL(qgemm_t, dx, dy, m, a.type, a.w, a.rows, a.cols);
  return info.Env().Undefined();
}

// qgather(out, typeId, data, rows, cols, ids, n)
Napi::Value Qgather(const Napi::CallbackInfo& info) {
  QArgs a = weight_args(info, 1, 2, 3, "qgather");
  int64_t n = dim(info, 6, "n");
  const int32_t* ids = i32(info, 5, n, "ids");
  check_ids(info, ids, n, a.rows, "ids");
  float* out = f32(info, 0, prod(info, n, a.cols), "out");
  SLM_CALL(qgather, out, a.type, a.w, a.rows, a.cols, ids, n);
  return info.Env().Undefined();
}

// qgemmVnni(mode): mode -1 asks, 0 forces the plain int8 path, 1 uses VNNI when the CPU has
// it; applies to every instruction set's copy. Returns whether the active ISA now uses VNNI.
Napi::Value QgemmVnni(const Napi::CallbackInfo& info) {
  int mode = info.Length() > 0 && info[0].IsNumber() ? static_cast<int>(i64(info, 0, "mode")) : -1;
  bool a = ::slm::avx512::qgemm_set_vnni(mode), b = ::slm::avx2::qgemm_set_vnni(mode), c = ::slm::scalar::qgemm_set_vnni(mode);
  bool now = active_isa() == Isa::Avx512 ? a : active_isa() == Isa::Avx2 ? b : c;
  return Napi::Boolean::New(info.Env(), now);
}

// qgemmAmx(mode): mode -1 asks, 0 turns the AMX prefill off (VNNI GEMM instead), 1 turns it
// on when the CPU and OS allow; applies to every instruction set's copy (only the AVX-512
// one has it). Returns whether the active ISA now uses AMX for prefill.
Napi::Value QgemmAmx(const Napi::CallbackInfo& info) {
  int mode = info.Length() > 0 && info[0].IsNumber() ? static_cast<int>(i64(info, 0, "mode")) : -1;
  bool a = ::slm::avx512::qgemm_set_amx(mode), b = ::slm::avx2::qgemm_set_amx(mode), c = ::slm::scalar::qgemm_set_amx(mode);
  bool now = active_isa() == Isa::Avx512 ? a : active_isa() == Isa::Avx2 ? b : c;
  return Napi::Boolean::New(info.Env(), now);
}

// qgemmIdlePrefetch(mode): mode -1 asks, 0 turns decode's idle prefetch off, 1 on; applies to
// every instruction set's copy. Returns the active ISA's state.
Napi::Value QgemmIdlePrefetch(const Napi::CallbackInfo& info) {
  int mode = info.Length() > 0 && info[0].IsNumber() ? static_cast<int>(i64(info, 0, "mode")) : -1;
  bool a = ::slm::avx512::qgemm_set_idle_prefetch(mode), b = ::slm::avx2::qgemm_set_idle_prefetch(mode), c = ::slm::scalar::qgemm_set_idle_prefetch(mode);
  bool now = active_isa() == Isa::Avx512 ? a : active_isa() == Isa::Avx2 ? b : c;
  return Napi::Boolean::New(info.Env(), now);
}

}  // namespace

void register_qgemm(Napi::Env env, Napi::Object exports) {
  exports.Set("qgemm", Napi::Function::New(env, Qgemm));
  exports.Set("qgemmMulti", Napi::Function::New(env, QgemmMulti));
  exports.Set("qgemmT", Napi::Function::New(env, QgemmT));
  exports.Set("qgather", Napi::Function::New(env, Qgather));
  exports.Set("qgemmVnni", Napi::Function::New(env, QgemmVnni));
  exports.Set("qgemmAmx", Napi::Function::New(env, QgemmAmx));
  exports.Set("qgemmIdlePrefetch", Napi::Function::New(env, QgemmIdlePrefetch));
}

}  // namespace slm::napi
