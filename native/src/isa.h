// Instruction-set selection. Every kernel is compiled three times, into the
// namespaces slm::scalar, slm::avx2 and slm::avx512 (see binding.gyp); this
// header declares all three copies and SLM_CALL picks the active one.
// The choice is made once from CPUID, narrowed by SLM_SIMD=avx512|avx2|scalar
// for the whole process, and can be changed at run time below that cap (tests
// run the same suite under each).
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/decode_plan.h"

namespace slm {

enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };

Isa best_isa();          // the best the CPU supports, capped by SLM_SIMD
Isa active_isa();        // what SLM_CALL dispatches to now
bool set_isa(Isa isa);   // false (and no change) above best_isa()
const char* isa_name(Isa isa);

// Whether this process may run AMX-INT8 tile instructions: the CPU reports AMX-TILE and
// AMX-INT8 (CPUID leaf 7 EDX bits 24 and 25), the OS keeps tile state in XCR0 (bits 17
// and 18) and, on Linux, the kernel grants the process the tile data (arch_prctl
// ARCH_REQ_XCOMP_PERM); decided once per process, on the first call. Not capped by SLM_SIMD
// (only the AVX-512 build's kernels use it).
bool amx_int8_usable();

}  // namespace slm

// Kernel declarations, once per instruction set. Each kernels/<group>.h holds
// declarations only (no includes, no guard) and is included inside a namespace.

namespace slm { namespace scalar {
#include "kernels/decls.inc"
} }
namespace slm { namespace avx2 {
#include "kernels/decls.inc"
} }
namespace slm { namespace avx512 {
#include "kernels/decls.inc"
} }

// SLM_CALL(gemm_f32, args...) calls the active instruction set's copy.
#define SLM_CALL(fn, ...)                                                         \
  (::slm::active_isa() == ::slm::Isa::Avx512 ? ::slm::avx512::fn(__VA_ARGS__)     \
   : ::slm::active_isa() == ::slm::Isa::Avx2 ? ::slm::avx2::fn(__VA_ARGS__)       \
                                             : ::slm::scalar::fn(__VA_ARGS__))
