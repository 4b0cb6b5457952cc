// A tiny float vector type for kernels compiled once per instruction set:
// VF holds W floats (16 for AVX-512, 8 for AVX2, 1 for scalar), so most
// kernels are written once as loops over VF plus a scalar tail. Only what
// kernels need: arithmetic, fma, max, horizontal sums, masked tails and exp.
// Knows nothing about kernels or threads.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(SLM_ISA_AVX512) || defined(SLM_ISA_AVX2)
#include <immintrin.h>
#endif

namespace slm {
namespace SLM_ISA {

#if defined(SLM_ISA_AVX512)
struct VF {
  static constexpr int W = 16;
  __m512 v;
  VF() = default;
  VF(__m512 x) : v(x) {}
  static VF zero() { return _mm512_setzero_ps(); }
  static VF set1(float x) { return _mm512_set1_ps(x); }
  static VF load(const float* p) { return _mm512_loadu_ps(p); }
  // Loads the first n (< W) floats, zero for the rest.
  static VF load_partial(const float* p, int n) { return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p); }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  void store_partial(float* p, int n) const { _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), v); }
};
inline VF operator+(VF a, VF b) { return _mm512_add_ps(a.v, b.v); }
inline VF operator-(VF a, VF b) { return _mm512_sub_ps(a.v, b.v); }
inline VF operator*(VF a, VF b) { return _mm512_mul_ps(a.v, b.v); }
inline VF operator/(VF a, VF b) { return _mm512_div_ps(a.v, b.v); }
inline VF fmadd(VF a, VF b, VF c) { return _mm512_fmadd_ps(a.v, b.v, c.v); }  // a*b+c
inline VF vmax(VF a, VF b) { return _mm512_max_ps(a.v, b.v); }
inline VF vmin(VF a, VF b) { return _mm512_min_ps(a.v, b.v); }
inline float hsum(VF a) { return _mm512_reduce_add_ps(a.v); }
inline float hmax(VF a) { return _mm512_reduce_max_ps(a.v); }
inline VF vround(VF a) { return _mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
// 2^n for integral-valued n in [-126, 127].
inline VF vpow2i(VF n) {
  __m512i i = _mm512_cvtps_epi32(n.v);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(i, _mm512_set1_epi32(127)), 23));
}
#elif defined(SLM_ISA_AVX2)
struct VF {
  static constexpr int W = 8;
  __m256 v;
  VF() = default;
  VF(__m256 x) : v(x) {}
  static VF zero() { return _mm256_setzero_ps(); }
  static VF set1(float x) { return _mm256_set1_ps(x); }
  static VF load(const float* p) { return _mm256_loadu_ps(p); }
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static VF load_partial(const float* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  void store_partial(float* p, int n) const { _mm256_maskstore_ps(p, mask(n), v); }
};
inline VF operator+(VF a, VF b) { return _mm256_add_ps(a.v, b.v); }
inline VF operator-(VF a, VF b) { return _mm256_sub_ps(a.v, b.v); }
inline VF operator*(VF a, VF b) { return _mm256_mul_ps(a.v, b.v); }
inline VF operator/(VF a, VF b) { return _mm256_div_ps(a.v, b.v); }
inline VF fmadd(VF a, VF b, VF c) { return _mm256_fmadd_ps(a.v, b.v, c.v); }
inline VF vmax(VF a, VF b) { return _mm256_max_ps(a.v, b.v); }
inline VF vmin(VF a, VF b) { return _mm256_min_ps(a.v, b.v); }
inline float hsum(VF a) {
  __m128 lo = _mm256_castps256_ps128(a.v), hi = _mm256_extractf128_ps(a.v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}
inline float hmax(VF a) {
  __m128 lo = _mm256_castps256_ps128(a.v), hi = _mm256_extractf128_ps(a.v, 1);
  lo = _mm_max_ps(lo, hi);
  lo = _mm_max_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_max_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}
inline VF vround(VF a) { return _mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline VF vpow2i(VF n) {
  __m256i i = _mm256_cvtps_epi32(n.v);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(i, _mm256_set1_epi32(127)), 23));
}
#else
struct VF {
  static constexpr int W = 1;
  float v;
  VF() = default;
  VF(float x) : v(x) {}
  static VF zero() { return 0.f; }
  static VF set1(float x) { return x; }
  static VF load(const float* p) { return *p; }
  static VF load_partial(const float* p, int n) { return n > 0 ? *p : 0.f; }
  void store(float* p) const { *p = v; }
  void store_partial(float* p, int n) const { if (n > 0) *p = v; }
};
inline VF operator+(VF a, VF b) { return a.v + b.v; }
inline VF operator-(VF a, VF b) { return a.v - b.v; }
inline VF operator*(VF a, VF b) { return a.v * b.v; }
inline VF operator/(VF a, VF b) { return a.v / b.v; }
inline VF fmadd(VF a, VF b, VF c) { return std::fma(a.v, b.v, c.v); }
inline VF vmax(VF a, VF b) { return a.v > b.v ? a.v : b.v; }
inline VF vmin(VF a, VF b) { return a.v < b.v ? a.v : b.v; }
inline float hsum(VF a) { return a.v; }
inline float hmax(VF a) { return a.v; }
inline VF vround(VF a) { return std::nearbyint(a.v); }
inline VF vpow2i(VF n) { return std::ldexp(1.0f, static_cast<int>(n.v)); }
#endif

// e^x, relative error about 2e-7 over the float range; inputs below -87.3
// flush to 0 and above 88.7 clamp to ~FLT_MAX scale. Range reduction:
// n = round(x·log2(e)), g = x - n·ln2, then e^g by a degree-7 Taylor sum, times 2^n.
inline VF vexp(VF x) {
  x = vmax(vmin(x, VF::set1(88.3762626647949f)), VF::set1(-87.3365478515625f));
  VF n = vround(x * VF::set1(1.44269504088896341f));
  // g = x - n·ln2 in two steps (ln2 split into a short high part and the rest), |g| <= 0.3466
  VF g = fmadd(n, VF::set1(-0.693145751953125f), x);
  g = fmadd(n, VF::set1(-1.428606765330187045e-06f), g);
  VF p = VF::set1(1.f / 5040.f);
  p = fmadd(p, g, VF::set1(1.f / 720.f));
  p = fmadd(p, g, VF::set1(1.f / 120.f));
  p = fmadd(p, g, VF::set1(1.f / 24.f));
  p = fmadd(p, g, VF::set1(1.f / 6.f));
  p = fmadd(p, g, VF::set1(0.5f));
  p = fmadd(p, g, VF::set1(1.f));
  p = fmadd(p, g, VF::set1(1.f));
  return p * vpow2i(n);
}

}  // namespace SLM_ISA
}  // namespace slm
