// N-API bindings for the loss kernels (see kernels/loss.h).
#include "addon/util.h"
#include "isa.h"

namespace slm::napi {

void register_loss(Napi::Env, Napi::Object) {}

}  // namespace slm::napi
