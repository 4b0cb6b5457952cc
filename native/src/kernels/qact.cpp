// Activation quantization for the integer dot products, compiled once per
// instruction set: a float32 row to int8 codes with one scale max|x|/127 per
// 32 or 256 values (round to nearest even, as llama.cpp's Q8_0 / Q8_K
// activations), plus the sum of every 16 codes for the weight offsets; and
// the regrouped copy of such a row that the wide Q4_0 / Q8_0 decode loops read.
// Knows nothing about weights or threads.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/qinternal.h"
#include "kernels/simd.h"

namespace slm {
namespace SLM_ISA {

// x (cols), q (cols), d (cols/block), sums16 (cols/16)
void quantize_act_row(const float* x, int64_t cols, int block, int8_t* q, float* d, int16_t* sums16) {
  for (int64_t b0 = 0; b0 < cols; b0 += block) {
    const float* xb = x + b0;
    VF vmaxabs = VF::zero();
    float amax = 0.f;
    int k = 0;
    for (; k + VF::W <= block; k += VF::W) {
      VF v = VF::load(xb + k);
      vmaxabs = vmax(vmaxabs, vmax(v, VF::zero() - v));
    }
    amax = hmax(vmaxabs);
    for (; k < block; ++k) amax = std::fmax(amax, std::fabs(xb[k]));
    const float db = amax / 127.f;
    const float id = db != 0.f ? 1.f / db : 0.f;
    d[b0 / block] = db;
    int8_t* qb = q + b0;
#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
    const __m256 vid = _mm256_set1_ps(id);
    for (int j = 0; j < block; j += 32) {
      __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j), vid));
      __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 8), vid));
      __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 16), vid));
      __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 24), vid));
      // packs interleave 128-bit lanes; the permute puts the 32 codes back in order
      __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
      __m256i p = _mm256_packs_epi16(p01, p23);
      p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb + j), p);
    }
#else
    for (int j = 0; j < block; ++j) qb[j] = static_cast<int8_t>(std::nearbyint(xb[j] * id));
#endif
    for (int g = 0; g < block; g += 16) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += qb[g + j];
      sums16[(b0 + g) / 16] = static_cast<int16_t>(s);
    }
  }
}

// a (nb blocks of 32 codes), dst (wide_groups(type, nb) WideQ4 for Q4_0 / Q5_0, WideQ8 for Q8_0)
void pack_act_wide(int type, const qt::ActRow& a, int64_t nb, void* dst) {
  std::memset(dst, 0, static_cast<size_t>(wide_row_bytes(type, nb)));
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* q = a.q + b * 32;
    const int32_t sum = a.sums16[2 * b] + a.sums16[2 * b + 1];
    if (type != qt::Q8_0) {
      WideQ4& g = static_cast<WideQ4*>(dst)[b / 4];
      const int j = static_cast<int>(b % 4);
      std::memcpy(g.lo + 16 * j, q, 16);
      std::memcpy(g.hi + 16 * j, q + 16, 16);
      for (int l = 0; l < 4; ++l) g.dx[4 * j + l] = a.d[b];
      g.off[4 * j] = (type == qt::Q4_0 ? -8 : -16) * sum;
    } else {
      WideQ8& g = static_cast<WideQ8*>(dst)[b / 2];
      const int j = static_cast<int>(b % 2);
      std::memcpy(g.q + 32 * j, q, 32);
      for (int l = 0; l < 8; ++l) g.dx[8 * j + l] = a.d[b];
      g.off[8 * j] = -128 * sum;
    }
  }
}

}  // namespace SLM_ISA
}  // namespace slm
