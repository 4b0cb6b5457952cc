// N-API bindings for the quantized-product kernels (see kernels/qgemm.h).
// Argument order mirrors src/native/ops/qgemm.ts. Shapes are validated there;
// here only what keeps a wrong call from reading or writing out of bounds:
// a known type, whole blocks per row, buffers long enough, ids in range.
#include "addon/checks.h"
#include "addon/util.h"
#include "isa.h"
#include "kernels/qtypes.h"

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

}  // namespace

void register_qgemm(Napi::Env env, Napi::Object exports) {
  exports.Set("qgemm", Napi::Function::New(env, Qgemm));
  exports.Set("qgemmT", Napi::Function::New(env, QgemmT));
  exports.Set("qgather", Napi::Function::New(env, Qgather));
  exports.Set("qgemmVnni", Napi::Function::New(env, QgemmVnni));
  exports.Set("qgemmAmx", Napi::Function::New(env, QgemmAmx));
}

}  // namespace slm::napi
