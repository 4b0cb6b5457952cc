// F16 and BF16 weight rows times float32 activations, converting on the fly
// (F16C's vcvtph2ps in the AVX2 and AVX-512 builds; BF16 is a 16-bit shift),
// compiled once per instruction set. Float accumulation in several vector
// accumulators; knows nothing about threads.
#include <cstdint>

#include "kernels/qinternal.h"
#include "kernels/simd.h"

#if defined(SLM_ISA_AVX512) && defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns inside its own _mm512_reduce_add_ps (hsum) about an intentionally
// undefined register (GCC bug 105593); the value is never used.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace slm {
namespace SLM_ISA {

namespace {
#if defined(SLM_ISA_AVX512)
inline VF load_f16(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
inline VF load_bf16(const uint8_t* p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
}
#elif defined(SLM_ISA_AVX2)
inline VF load_f16(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline VF load_bf16(const uint8_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
}
#else
inline VF load_f16(const uint8_t* p) { return qt::half_at(p); }
inline VF load_bf16(const uint8_t* p) { return qt::bf16_to_f32(static_cast<uint16_t>(p[0] | p[1] << 8)); }
#endif

template <bool Bf16>
float dot_half(const uint8_t* w, const float* x, int64_t cols) {
  constexpr int W = VF::W;
  VF a0 = VF::zero(), a1 = VF::zero(), a2 = VF::zero(), a3 = VF::zero();
  int64_t k = 0;
  auto ld = [](const uint8_t* p) { return Bf16 ? load_bf16(p) : load_f16(p); };
  for (; k + 4 * W <= cols; k += 4 * W) {
    a0 = fmadd(ld(w + 2 * k), VF::load(x + k), a0);
    a1 = fmadd(ld(w + 2 * (k + W)), VF::load(x + k + W), a1);
    a2 = fmadd(ld(w + 2 * (k + 2 * W)), VF::load(x + k + 2 * W), a2);
    a3 = fmadd(ld(w + 2 * (k + 3 * W)), VF::load(x + k + 3 * W), a3);
  }
  for (; k + W <= cols; k += W) a0 = fmadd(ld(w + 2 * k), VF::load(x + k), a0);
  float s = hsum((a0 + a1) + (a2 + a3));
  for (; k < cols; ++k) {
    const uint16_t h = static_cast<uint16_t>(w[2 * k] | w[2 * k + 1] << 8);
    s += (Bf16 ? qt::bf16_to_f32(h) : qt::f16_to_f32(h)) * x[k];
  }
  return s;
}
}  // namespace

// w (cols halves), x (cols)
float dot_f16(const uint8_t* w, const float* x, int64_t cols) { return dot_half<false>(w, x, cols); }
float dot_bf16(const uint8_t* w, const float* x, int64_t cols) { return dot_half<true>(w, x, cols); }

}  // namespace SLM_ISA
}  // namespace slm
