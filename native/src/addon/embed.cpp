// N-API bindings for the embed kernels (see kernels/embed.h). Argument order
// mirrors src/native/ops/embed.ts; ids are range-checked here so a bad id can
// never index outside the table.
#include "addon/util.h"
#include "addon/checks.h"
#include "isa.h"

namespace slm::napi {
namespace {

// embeddingForward(out, ids, table, n, c, v)
Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 3, "n"), c = dim(info, 4, "c"), v = dim(info, 5, "v");
  float* out = f32(info, 0, prod(info, n, c), "out");
  const int32_t* ids = i32(info, 1, n, "ids");
  const float* table = f32(info, 2, prod(info, v, c), "table");
  check_ids(info, ids, n, v, "ids");
  SLM_CALL(embedding_forward, out, ids, table, n, c, v);
  return info.Env().Undefined();
}

// embeddingBackward(dtable, dout, ids, n, c, v)
Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  int64_t n = dim(info, 3, "n"), c = dim(info, 4, "c"), v = dim(info, 5, "v");
  float* dtable = f32(info, 0, prod(info, v, c), "dtable");
  const float* dout = f32(info, 1, prod(info, n, c), "dout");
  const int32_t* ids = i32(info, 2, n, "ids");
  check_ids(info, ids, n, v, "ids");
  SLM_CALL(embedding_backward, dtable, dout, ids, n, c, v);
  return info.Env().Undefined();
}

}  // namespace

void register_embed(Napi::Env env, Napi::Object exports) {
  exports.Set("embeddingForward", Napi::Function::New(env, EmbeddingForward));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward));
}

}  // namespace slm::napi
