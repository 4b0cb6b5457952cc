// N-API bindings for the activation kernels (see kernels/activation.h).
#include "addon/util.h"
#include "isa.h"

namespace slm::napi {

void register_activation(Napi::Env, Napi::Object) {}

}  // namespace slm::napi
