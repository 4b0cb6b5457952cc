// N-API bindings for the rope kernels (see kernels/rope.h).
#include "addon/util.h"
#include "isa.h"

namespace slm::napi {

void register_rope(Napi::Env, Napi::Object) {}

}  // namespace slm::napi
