// Weight repacking for the int8 prefill GEMMs (layout in qpack_i8.h): 16 rows at a time,
// gathered from GGUF blocks into interleaved signed codes with per-block scales,
// corrections and mins. AVX-512 build only (under target("avx512vnni") for the code sums);
// the other builds compile this file to nothing. Knows nothing about the GEMMs that read it.
#include <algorithm>
#include <cstdint>

#include "kernels/qpack_i8.h"
#include "kernels/qtypes.h"

#if defined(SLM_ISA_AVX512)
#include <immintrin.h>
#endif

namespace slm {
namespace SLM_ISA {

#if defined(SLM_ISA_AVX512)

#pragma GCC push_options
#pragma GCC target("avx512vnni")

// Repacks rows [r0, r0 + 16) (rows past `rows` are zero) of a Q8_0 / Q4_0 / Q5_0 / Q5_1 matrix.
// dst: nb blocks of kPackBlockBytes.
void repack16(int type, const uint8_t* w, int64_t rb, int64_t r0, int64_t rows, int64_t nb, uint8_t* dst) {
  const int64_t bb = qt::block_bytes(type);
  const __mmask16 live = static_cast<__mmask16>(rows - r0 >= kPackRows ? 0xffff : (1u << (rows - r0)) - 1);
  const __m512i rowoff = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(static_cast<int>(rb)));
  const uint8_t* base = w + r0 * rb;
  const __m512i ones = _mm512_set1_epi8(1), lo4 = _mm512_set1_epi8(0x0f), zero = _mm512_setzero_si512();
  for (int64_t b = 0; b < nb; ++b, dst += kPackBlockBytes) {
    const uint8_t* blk = base + b * bb;
    // the 16 f16 scales (low half of the dword at each block's start)
    __m512i dwords = _mm512_mask_i32gather_epi32(zero, live, rowoff, blk, 1);
    _mm512_storeu_ps(dst + 512, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dwords)));
    if (type == qt::Q5_1) {  // value q·d + m: the "min" slot holds -m
      const __m512 m = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dwords, 16)));
      _mm512_storeu_ps(dst + 640, _mm512_sub_ps(_mm512_setzero_ps(), m));
    }
    __m512i sum = zero;
    __m512i g[8];
    if (type == qt::Q8_0) {
      for (int k = 0; k < 8; ++k) g[k] = _mm512_mask_i32gather_epi32(zero, live, rowoff, blk + 2 + 4 * k, 1);
    } else {
      const int qs = type == qt::Q4_0 ? 2 : type == qt::Q5_0 ? 6 : 8, qho = type == qt::Q5_1 ? 4 : 2;
      for (int k = 0; k < 4; ++k) {
        __m512i v = _mm512_mask_i32gather_epi32(zero, live, rowoff, blk + qs + 4 * k, 1);
        g[k] = _mm512_and_si512(v, lo4);                          // values 4k .. 4k+3
        g[k + 4] = _mm512_and_si512(_mm512_srli_epi32(v, 4), lo4);  // values 16+4k ..
      }
      if (type == qt::Q5_0 || type == qt::Q5_1) {
        __m512i qh = _mm512_mask_i32gather_epi32(zero, live, rowoff, blk + qho, 1);
        for (int k = 0; k < 8; ++k) {
          // bits 4k..4k+3 of qh -> bit 4 of the 4 bytes of the lane
          __m512i nib = _mm512_and_si512(_mm512_srli_epi32(qh, 4 * k), _mm512_set1_epi32(0xf));
          __m512i spread = _mm512_and_si512(_mm512_mullo_epi32(nib, _mm512_set1_epi32(0x00204081)), _mm512_set1_epi32(0x01010101));
          g[k] = _mm512_or_si512(g[k], _mm512_slli_epi32(spread, 4));
        }
      }
      const __m512i off = _mm512_set1_epi8(type == qt::Q4_0 ? 8 : type == qt::Q5_0 ? 16 : 0);
      // signed codes; padded rows (gathered as 0) must stay 0
      for (int k = 0; k < 8; ++k) g[k] = _mm512_maskz_mov_epi32(live, _mm512_sub_epi8(g[k], off));
    }
    for (int k = 0; k < 8; ++k) {
      _mm512_storeu_si512(dst + 64 * k, g[k]);
      sum = _mm512_dpbusd_epi32(sum, ones, g[k]);  // Σ codes per row (1 · s8)
    }
    _mm512_storeu_si512(dst + 576, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-128)));
  }
}

// Repacks rows [r0, r0 + 16) of a Q4_K / Q5_K matrix: sub-block j of super-block s becomes
// block 8s + j, codes 0..15 / 0..31, scale d·sc_j, min dmin·m_j (each rounded to float as
// the decoders do). dst: nb (= cols / 32) blocks of kPackBlockBytes.
void repack16_k(int type, const uint8_t* w, int64_t rb, int64_t r0, int64_t rows, int64_t nb, uint8_t* dst) {
  const bool q5 = type == qt::Q5_K;
  const int64_t bb = q5 ? 176 : 144;
  const int nrow = static_cast<int>(std::min<int64_t>(kPackRows, rows - r0));
  const __mmask16 live = static_cast<__mmask16>(nrow >= kPackRows ? 0xffff : (1u << nrow) - 1);
  const __m512i rowoff = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(static_cast<int>(rb)));
  const uint8_t* base = w + r0 * rb;
  const __m512i ones = _mm512_set1_epi8(1), lo4 = _mm512_set1_epi8(0x0f), zero = _mm512_setzero_si512();
  alignas(64) float sc[8][16], mn[8][16];
  for (int64_t s = 0; s < nb / 8; ++s) {
    for (int r = 0; r < kPackRows; ++r) {
      for (int j = 0; j < 8; ++j) {
        sc[j][r] = 0.f;
        mn[j][r] = 0.f;
      }
      if (r >= nrow) continue;
      const uint8_t* blk = base + r * rb + s * bb;
      const float d = qt::half_at(blk), dmin = qt::half_at(blk + 2);
      for (int j = 0; j < 8; ++j) {
        int a, m;
        qt::scale_min_k4(j, blk + 4, &a, &m);
        sc[j][r] = d * static_cast<float>(a);
        mn[j][r] = dmin * static_cast<float>(m);
      }
    }
    const uint8_t* sb = base + s * bb;
    __m512i qh[8];
    if (q5) for (int k = 0; k < 8; ++k) qh[k] = _mm512_mask_i32gather_epi32(zero, live, rowoff, sb + 16 + 4 * k, 1);
    for (int c = 0; c < 4; ++c) {
      __m512i v[8];
      for (int k = 0; k < 8; ++k) v[k] = _mm512_mask_i32gather_epi32(zero, live, rowoff, sb + (q5 ? 48 : 16) + 32 * c + 4 * k, 1);
      for (int h = 0; h < 2; ++h) {
        const int j = 2 * c + h;
        uint8_t* o = dst + (8 * s + j) * kPackBlockBytes;
        __m512i sum = zero;
        for (int k = 0; k < 8; ++k) {
          __m512i g = _mm512_and_si512(h ? _mm512_srli_epi32(v[k], 4) : v[k], lo4);
          if (q5) {
            const __m512i bit = _mm512_and_si512(_mm512_srli_epi32(qh[k], j), _mm512_set1_epi32(0x01010101));
            g = _mm512_or_si512(g, _mm512_slli_epi32(bit, 4));
          }
          _mm512_storeu_si512(o + 64 * k, g);
          sum = _mm512_dpbusd_epi32(sum, ones, g);
        }
        _mm512_storeu_ps(o + 512, _mm512_load_ps(sc[j]));
        _mm512_storeu_si512(o + 576, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-128)));
        _mm512_storeu_ps(o + 640, _mm512_load_ps(mn[j]));
      }
    }
  }
}

// Repacks rows [r0, r0 + 16) of a Q6_K matrix: block 8s + j holds values 32j..32j+31 of
// super-block s as signed codes q − 32, with two scales (d·sc for values 0..15 and 16..31 of
// the block: slots 512 and 640) and two corrections (-128·Σ codes of each half: 576, 704).
void repack16_q6k(const uint8_t* w, int64_t rb, int64_t r0, int64_t rows, int64_t nb, uint8_t* dst) {
  const int nrow = static_cast<int>(std::min<int64_t>(kPackRows, rows - r0));
  const __mmask16 live = static_cast<__mmask16>(nrow >= kPackRows ? 0xffff : (1u << nrow) - 1);
  const __m512i rowoff = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(static_cast<int>(rb)));
  const uint8_t* base = w + r0 * rb;
  const __m512i ones = _mm512_set1_epi8(1), zero = _mm512_setzero_si512();
  const __m512i m4 = _mm512_set1_epi32(0x0f0f0f0f), m2 = _mm512_set1_epi32(0x03030303), k32 = _mm512_set1_epi8(32);
  alignas(64) float sc[16][16];
  for (int64_t s = 0; s < nb / 8; ++s) {
    for (int r = 0; r < kPackRows; ++r) {
      const uint8_t* blk = base + r * rb + s * 210;
      const float d = r < nrow ? qt::half_at(blk + 208) : 0.f;
      for (int g = 0; g < 16; ++g) sc[g][r] = r < nrow ? d * static_cast<float>(static_cast<int8_t>(blk[192 + g])) : 0.f;
    }
    const uint8_t* sb = base + s * 210;
    for (int j = 0; j < 8; ++j) {
      const int h = j / 4, quarter = j % 4;
      uint8_t* o = dst + (8 * s + j) * kPackBlockBytes;
      __m512i sumA = zero, sumB = zero;
      for (int k = 0; k < 8; ++k) {
        __m512i lo = _mm512_mask_i32gather_epi32(zero, live, rowoff, sb + 64 * h + (quarter & 1 ? 32 : 0) + 4 * k, 1);
        __m512i hi = _mm512_mask_i32gather_epi32(zero, live, rowoff, sb + 128 + 32 * h + 4 * k, 1);
        lo = _mm512_and_si512(_mm512_srli_epi32(lo, quarter & 2 ? 4 : 0), m4);
        hi = _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(hi, 2 * quarter), m2), 4);
        const __m512i g = _mm512_maskz_mov_epi32(live, _mm512_sub_epi8(_mm512_or_si512(lo, hi), k32));
        _mm512_storeu_si512(o + 64 * k, g);
        if (k < 4) sumA = _mm512_dpbusd_epi32(sumA, ones, g);
        else sumB = _mm512_dpbusd_epi32(sumB, ones, g);
      }
      _mm512_storeu_ps(o + 512, _mm512_load_ps(sc[2 * j]));
      _mm512_storeu_si512(o + 576, _mm512_mullo_epi32(sumA, _mm512_set1_epi32(-128)));
      _mm512_storeu_ps(o + 640, _mm512_load_ps(sc[2 * j + 1]));
      _mm512_storeu_si512(o + 704, _mm512_mullo_epi32(sumB, _mm512_set1_epi32(-128)));
    }
  }
}

#pragma GCC pop_options

#endif

}  // namespace SLM_ISA
}  // namespace slm
