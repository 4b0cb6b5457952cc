// N-API bindings for the optim kernels (see kernels/optim.h).
#include "addon/util.h"
#include "isa.h"

namespace slm::napi {

void register_optim(Napi::Env, Napi::Object) {}

}  // namespace slm::napi
