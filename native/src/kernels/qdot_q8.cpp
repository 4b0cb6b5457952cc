// Q8_0, Q4_0, Q5_0 and Q5_1 weight rows times 8-bit activation rows, compiled once per
// instruction set. The AVX2 and AVX-512 builds each carry two copies of the
// same 256-bit loops (qdot_int8.inc): one with pmaddubsw + pmaddwd, one with
// VNNI's vpdpbusd (AVX-512 VNNI in the AVX-512 build, AVX-VNNI in the AVX2
// build), compiled under a target pragma so the rest of the build does not
// require VNNI. CPUID picks the copy once; a CPU with AVX-512F but no VNNI
// (Skylake-X) runs the plain copy. qgemm_set_vnni() can force the plain one
// (the tests run both). The VNNI copy of the AVX-512 build also carries the
// 512-bit decode loops for Q4_0 / Q5_0 / Q8_0 (qdot_wide.inc, dot_rows_wide),
// which decode uses whenever that copy is the one picked. The scalar build is
// plain C++.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/qinternal.h"

#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
#include <immintrin.h>
#endif

namespace slm {
namespace SLM_ISA {

#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)

namespace {
#define QDOT_NS plain
#define QDOT_DP(acc, u, s) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#include "kernels/qdot_int8.inc"
#undef QDOT_NS
#undef QDOT_DP

#pragma GCC push_options
#if defined(SLM_ISA_AVX512)
#pragma GCC target("avx512vnni")
#define QDOT_DP(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#else
#pragma GCC target("avxvnni")
#define QDOT_DP(acc, u, s) _mm256_dpbusd_avx_epi32((acc), (u), (s))
#endif
#define QDOT_NS vnni
#include "kernels/qdot_int8.inc"
#if defined(SLM_ISA_AVX512)
#define QDOT_DP512(acc, u, s) _mm512_dpbusd_epi32((acc), (u), (s))
#include "kernels/qdot_wide.inc"
#undef QDOT_DP512
#endif
#undef QDOT_NS
#undef QDOT_DP
#pragma GCC pop_options

bool cpu_has_vnni() {
  __builtin_cpu_init();
#if defined(SLM_ISA_AVX512)
  return __builtin_cpu_supports("avx512vnni");
#else
  return __builtin_cpu_supports("avxvnni");
#endif
}

// -1 undecided, 0 plain, 1 VNNI
std::atomic<int> g_vnni{-1};

bool use_vnni() {
  int v = g_vnni.load(std::memory_order_relaxed);
  if (v < 0) {
    v = cpu_has_vnni() ? 1 : 0;
    g_vnni.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}
}  // namespace

bool int8_dot_uses_vnni() { return use_vnni(); }

bool qgemm_set_vnni(int mode) {
  if (mode >= 0) g_vnni.store(mode > 0 && cpu_has_vnni() ? 1 : 0, std::memory_order_relaxed);
  return use_vnni();
}

float dot_q8_0(const uint8_t* w, const qt::ActRow& a, int64_t nb) { return use_vnni() ? vnni::q8_0(w, a, nb) : plain::q8_0(w, a, nb); }
float dot_q4_0(const uint8_t* w, const qt::ActRow& a, int64_t nb) { return use_vnni() ? vnni::q4_0(w, a, nb) : plain::q4_0(w, a, nb); }
float dot_q5_0(const uint8_t* w, const qt::ActRow& a, int64_t nb) { return use_vnni() ? vnni::q5<false>(w, a, nb) : plain::q5<false>(w, a, nb); }
void dot4_q4_0(const uint8_t* w, int64_t rb, const qt::ActRow& a, int64_t nb, float* out) {
  use_vnni() ? vnni::rows4<1>(w, rb, a, nb, out) : plain::rows4<1>(w, rb, a, nb, out);
}
void dot4_q5_0(const uint8_t* w, int64_t rb, const qt::ActRow& a, int64_t nb, float* out) {
  use_vnni() ? vnni::rows4<2>(w, rb, a, nb, out) : plain::rows4<2>(w, rb, a, nb, out);
}
float dot_q5_1(const uint8_t* w, const qt::ActRow& a, int64_t nb) { return use_vnni() ? vnni::q5<true>(w, a, nb) : plain::q5<true>(w, a, nb); }

#if defined(SLM_ISA_AVX512)
bool wide_decode(int type) { return (type == qt::Q4_0 || type == qt::Q5_0 || type == qt::Q8_0) && use_vnni(); }
void dot_rows_wide(int type, const uint8_t* w, int64_t rb, int64_t nrows, int64_t nb, const void* const* act, int64_t m,
                   float* y, int64_t ldy) {
  if (type == qt::Q4_0) vnni::rows_wide_m<1>(w, rb, nrows, nb, act, m, y, ldy);
  else if (type == qt::Q5_0) vnni::rows_wide_m<2>(w, rb, nrows, nb, act, m, y, ldy);
  else vnni::rows_wide_m<0>(w, rb, nrows, nb, act, m, y, ldy);
}
#else
bool wide_decode(int) { return false; }
void dot_rows_wide(int, const uint8_t*, int64_t, int64_t, int64_t, const void* const*, int64_t, float*, int64_t) {}
#endif

#else  // scalar

bool int8_dot_uses_vnni() { return false; }
bool qgemm_set_vnni(int) { return false; }
bool wide_decode(int) { return false; }
void dot_rows_wide(int, const uint8_t*, int64_t, int64_t, int64_t, const void* const*, int64_t, float*, int64_t) {}

// w (nb blocks of 34 bytes), a.q (nb·32)
float dot_q8_0(const uint8_t* w, const qt::ActRow& a, int64_t nb) {
  float acc = 0.f;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* wb = w + b * 34;
    const int8_t* xq = a.q + b * 32;
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += static_cast<int8_t>(wb[2 + j]) * xq[j];
    acc += qt::half_at(wb) * a.d[b] * static_cast<float>(s);
  }
  return acc;
}

// w (nb blocks of 18 bytes), a.q (nb·32)
float dot_q4_0(const uint8_t* w, const qt::ActRow& a, int64_t nb) {
  float acc = 0.f;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* wb = w + b * 18;
    const int8_t* xq = a.q + b * 32;
    int32_t s = 0;
    for (int j = 0; j < 16; ++j) s += ((wb[2 + j] & 0xf) - 8) * xq[j] + ((wb[2 + j] >> 4) - 8) * xq[j + 16];
    acc += qt::half_at(wb) * a.d[b] * static_cast<float>(s);
  }
  return acc;
}

// w (nb blocks of 22 / 24 bytes), a.q (nb·32)
template <bool WithMin>
float dot_q5_scalar(const uint8_t* w, const qt::ActRow& a, int64_t nb) {
  constexpr int64_t kBytes = WithMin ? 24 : 22;
  constexpr int kQh = WithMin ? 4 : 2;
  float acc = 0.f;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* wb = w + b * kBytes;
    const int8_t* xq = a.q + b * 32;
    const uint32_t qh = qt::u32_at(wb + kQh);
    int32_t s = 0, sx = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = (wb[kQh + 4 + j] & 0xf) | (((qh >> j) & 1) << 4);
      const int q1 = (wb[kQh + 4 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      s += q0 * xq[j] + q1 * xq[j + 16];
      sx += xq[j] + xq[j + 16];
    }
    const float dx = a.d[b], d = qt::half_at(wb);
    acc += d * dx * static_cast<float>(s) + (WithMin ? qt::half_at(wb + 2) : -16.f * d) * dx * static_cast<float>(sx);
  }
  return acc;
}

float dot_q5_0(const uint8_t* w, const qt::ActRow& a, int64_t nb) { return dot_q5_scalar<false>(w, a, nb); }
float dot_q5_1(const uint8_t* w, const qt::ActRow& a, int64_t nb) { return dot_q5_scalar<true>(w, a, nb); }
void dot4_q4_0(const uint8_t* w, int64_t rb, const qt::ActRow& a, int64_t nb, float* out) {
  for (int r = 0; r < 4; ++r) out[r] = dot_q4_0(w + r * rb, a, nb);
}
void dot4_q5_0(const uint8_t* w, int64_t rb, const qt::ActRow& a, int64_t nb, float* out) {
  for (int r = 0; r < 4; ++r) out[r] = dot_q5_0(w + r * rb, a, nb);
}

#endif

}  // namespace SLM_ISA
}  // namespace slm
