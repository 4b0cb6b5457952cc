// Module entry: runtime controls (threads, instruction set) and the
// registration of every kernel group's bindings. The napi layer lives in
// native/src/addon/ only; kernels never see napi.h.
#include <napi.h>

#include <cstdlib>
#include <string>
#ifdef __linux__
#include <sys/mman.h>
#endif

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

// allocWeights(bytes): an ArrayBuffer of `bytes` (contents undefined) for weights read from a
// file, aligned to 2 MB and, on Linux, advised for transparent huge pages (MADV_HUGEPAGE), so the
// pages are 2 MB when first written. Decode streams every weight once per token; with 4 KB pages
// that is a TLB miss every 4 KB, and in a virtual machine each miss walks two page tables. A C
// read loop over 512 MB on the 2-core development VM: 12.9-13.6 GB/s with 4 KB pages, 17.0-19.9
// GB/s advised (three alternating runs each). Freed when the ArrayBuffer is collected.
Napi::Value AllocWeights(const Napi::CallbackInfo& info) {
  const int64_t n = i64(info, 0, "bytes");
  if (n < 1 || n > (int64_t(1) << 46)) throw Napi::RangeError::New(info.Env(), "allocWeights: bytes must be in [1, 2^46]");
  constexpr size_t kHuge = size_t(1) << 21;
  const size_t size = (static_cast<size_t>(n) + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, size);
  if (p == nullptr) throw Napi::Error::New(info.Env(), "allocWeights: out of memory for " + std::to_string(n) + " bytes");
#ifdef __linux__
  madvise(p, size, MADV_HUGEPAGE);  // a hint: without THP the pages stay 4 KB
#endif
  return Napi::ArrayBuffer::New(info.Env(), p, static_cast<size_t>(n), [](Napi::Env, void* d) { std::free(d); });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getIsa", Napi::Function::New(env, GetIsa));
  exports.Set("bestIsa", Napi::Function::New(env, BestIsa));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  exports.Set("allocWeights", Napi::Function::New(env, AllocWeights));
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
