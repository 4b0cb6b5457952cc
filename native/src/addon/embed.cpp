// N-API bindings for the embed kernels (see kernels/embed.h).
#include "addon/util.h"
#include "isa.h"

namespace slm::napi {

void register_embed(Napi::Env, Napi::Object) {}

}  // namespace slm::napi
