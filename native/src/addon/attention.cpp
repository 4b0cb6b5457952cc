// N-API bindings for the attention kernels (see kernels/attention.h).
#include "addon/util.h"
#include "isa.h"

namespace slm::napi {

void register_attention(Napi::Env, Napi::Object) {}

}  // namespace slm::napi
