// Q4_K, Q5_K and Q6_K weight rows times 8-bit activation rows (one scale per
// 256 values and the sum of every 16 codes, like llama.cpp's Q8_K), compiled
// once per instruction set. Per super-block the codes (unsigned: 0..15, 0..31,
// 0..63) meet the activations in pmaddubsw (pairs at most 2·63·127 = 16002,
// no saturation), and pmaddwd multiplies the pairs by the sub-block's scale
// while summing them, so the whole super-block is one int32 vector, scaled
// once by d·d_x. The offsets (mins of Q4_K/Q5_K, the −32 of Q6_K) come from
// the activation sums: Σ m_j·Σx over sub-blocks, one scalar per super-block.
// VNNI's vpdpbusd would need a separate multiply by the scale here, so these
// loops are the same with and without it.
#include <cstdint>

#include "kernels/qinternal.h"

#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
#include <immintrin.h>
#endif

namespace slm {
namespace SLM_ISA {

namespace {

#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
inline float hsum8(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}
inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
// pairs of u8·s8 summed, then times a 16-bit scale per lane and summed again: int32 lanes
inline __m256i dot_scaled(__m256i u, const int8_t* x, __m256i scale16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, load32(x)), scale16);
}
#endif

// Min term Σ_j m_j · (sum of the 32 activation codes of sub-block j) of a Q4_K/Q5_K super-block.
inline int min_term(const int* mn, const int16_t* s16) {
  int t = 0;
  for (int j = 0; j < 8; ++j) t += mn[j] * (s16[2 * j] + s16[2 * j + 1]);
  return t;
}

}  // namespace

// w (ns super-blocks of 144 bytes), a.q (ns·256)
float dot_q4_k(const uint8_t* w, const qt::ActRow& a, int64_t ns) {
  float off = 0.f;
#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
  __m256 acc = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0x0f);
#else
  float acc = 0.f;
#endif
  for (int64_t s = 0; s < ns; ++s) {
    const uint8_t* b = w + s * 144;
    const int8_t* q = a.q + s * 256;
    const float d = qt::half_at(b) * a.d[s], dmin = qt::half_at(b + 2) * a.d[s];
    int sc[8], mn[8];
    for (int j = 0; j < 8; ++j) qt::scale_min_k4(j, b + 4, &sc[j], &mn[j]);
    off += dmin * static_cast<float>(min_term(mn, a.sums16 + s * 16));
#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
    __m256i isum = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      __m256i qs = load32(b + 16 + 32 * c);
      __m256i lo = _mm256_and_si256(qs, m4), hi = _mm256_and_si256(_mm256_srli_epi16(qs, 4), m4);
      isum = _mm256_add_epi32(isum, dot_scaled(lo, q + 64 * c, _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c]))));
      isum = _mm256_add_epi32(isum, dot_scaled(hi, q + 64 * c + 32, _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c + 1]))));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d), acc);
#else
    int32_t isum = 0;
    for (int c = 0; c < 4; ++c) {
      int32_t lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        lo += (b[16 + 32 * c + l] & 0xf) * q[64 * c + l];
        hi += (b[16 + 32 * c + l] >> 4) * q[64 * c + 32 + l];
      }
      isum += sc[2 * c] * lo + sc[2 * c + 1] * hi;
    }
    acc += d * static_cast<float>(isum);
#endif
  }
#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
  return hsum8(acc) - off;
#else
  return acc - off;
#endif
}

// w (ns super-blocks of 176 bytes: d, dmin, scales, qh[32], qs[128]), a.q (ns·256)
float dot_q5_k(const uint8_t* w, const qt::ActRow& a, int64_t ns) {
  float off = 0.f;
#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
  __m256 acc = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
#else
  float acc = 0.f;
#endif
  for (int64_t s = 0; s < ns; ++s) {
    const uint8_t* b = w + s * 176;
    const uint8_t* qh = b + 16;
    const uint8_t* ql = b + 48;
    const int8_t* q = a.q + s * 256;
    const float d = qt::half_at(b) * a.d[s], dmin = qt::half_at(b + 2) * a.d[s];
    int sc[8], mn[8];
    for (int j = 0; j < 8; ++j) qt::scale_min_k4(j, b + 4, &sc[j], &mn[j]);
    off += dmin * static_cast<float>(min_term(mn, a.sums16 + s * 16));
#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
    __m256i isum = _mm256_setzero_si256();
    __m256i hb = load32(qh);  // shifted right by 2 per chunk: bit 0 / bit 1 of each byte are chunk c's
    for (int c = 0; c < 4; ++c) {
      __m256i qs = load32(ql + 32 * c);
      __m256i lo = _mm256_or_si256(_mm256_and_si256(qs, m4), _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
      __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
      isum = _mm256_add_epi32(isum, dot_scaled(lo, q + 64 * c, _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c]))));
      isum = _mm256_add_epi32(isum, dot_scaled(hi, q + 64 * c + 32, _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c + 1]))));
      hb = _mm256_srli_epi16(hb, 2);
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d), acc);
#else
    int32_t isum = 0;
    for (int c = 0; c < 4; ++c) {
      int32_t lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        int h = qh[l] >> (2 * c);
        lo += ((ql[32 * c + l] & 0xf) | ((h & 1) << 4)) * q[64 * c + l];
        hi += ((ql[32 * c + l] >> 4) | ((h & 2) << 3)) * q[64 * c + 32 + l];
      }
      isum += sc[2 * c] * lo + sc[2 * c + 1] * hi;
    }
    acc += d * static_cast<float>(isum);
#endif
  }
#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
  return hsum8(acc) - off;
#else
  return acc - off;
#endif
}

// w (ns super-blocks of 210 bytes: ql[128], qh[64], int8 scales[16], f16 d), a.q (ns·256)
float dot_q6_k(const uint8_t* w, const qt::ActRow& a, int64_t ns) {
  float off = 0.f;
#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
  __m256 acc = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
#else
  float acc = 0.f;
#endif
  for (int64_t s = 0; s < ns; ++s) {
    const uint8_t* b = w + s * 210;
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
    const int8_t* q = a.q + s * 256;
    const int16_t* s16 = a.sums16 + s * 16;
    const float d = qt::half_at(b + 208) * a.d[s];
    int t = 0;
    for (int g = 0; g < 16; ++g) t += sc[g] * s16[g];
    off += d * static_cast<float>(32 * t);
#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      __m256i ql0 = load32(b + 64 * h), ql1 = load32(b + 64 * h + 32), qh = load32(b + 128 + 32 * h);
      __m256i c[4];
      c[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
      c[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
      c[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
      c[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
      for (int k = 0; k < 4; ++k) {
        const int g = 8 * h + 2 * k;  // values 128h + 32k .. +31 are groups g (first 16) and g+1
        __m256i scale = _mm256_set_m128i(_mm_set1_epi16(sc[g + 1]), _mm_set1_epi16(sc[g]));
        isum = _mm256_add_epi32(isum, dot_scaled(c[k], q + 128 * h + 32 * k, scale));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d), acc);
#else
    int32_t isum = 0;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b + 64 * h;
      const uint8_t* qh = b + 128 + 32 * h;
      for (int l = 0; l < 32; ++l) {
        const int c0 = (ql[l] & 0xf) | ((qh[l] & 3) << 4);
        const int c1 = (ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4);
        const int c2 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
        const int c3 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        const int g = 8 * h + l / 16;
        isum += sc[g] * c0 * q[128 * h + l] + sc[g + 2] * c1 * q[128 * h + 32 + l] +
                sc[g + 4] * c2 * q[128 * h + 64 + l] + sc[g + 6] * c3 * q[128 * h + 96 + l];
      }
    }
    acc += d * static_cast<float>(isum);
#endif
  }
#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
  return hsum8(acc) - off;
#else
  return acc - off;
#endif
}

}  // namespace SLM_ISA
}  // namespace slm
