// N-API bindings for the norm kernels (see kernels/norm.h).
#include "addon/util.h"
#include "isa.h"

namespace slm::napi {

void register_norm(Napi::Env, Napi::Object) {}

}  // namespace slm::napi
