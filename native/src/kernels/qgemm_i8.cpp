// Prefill (m > 8) for Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K as an int8 GEMM with AVX-512 VNNI,
// compiled into every instruction set's library but active only in the
// AVX-512 build on a CPU with AVX-512 VNNI (the others return false and the
// caller uses the float panels). Weights are repacked per call, 16 rows at a
// time, into signed 8-bit codes interleaved so that one 32-bit lane holds four
// consecutive values of one row: a block of 32 values for 16 rows is 8 vectors
// of 64 bytes, [group g][row r][4 codes]. One vpdpbusd then multiplies 16 rows
// by four activation codes broadcast to every lane, and the float rescale by
// d_w·d_x happens once per block for 16 rows, not per row.
// Activations are 8-bit as in decode, stored +128 (unsigned, vpdpbusd's first
// operand); the +128 comes back out through -128·Σw per row and block, which
// starts each int32 accumulator. Each repacked block also carries its 16 float
// scales. Q4_K/Q5_K sub-blocks of 32 become blocks with scale d·sc and min dmin·m
// per row (value scale·code − min; the min meets d_x·Σx per activation block).
// Q6_K (scales per 16 values) keeps two scales and corrections per block and
// rescales each half. The repack (gathers) costs a few percent of a 512-row product.
// Knows nothing about models; the contract is qgemm.h.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/qinternal.h"
#include "pool.h"

#if defined(SLM_ISA_AVX512)
#include <immintrin.h>
#endif

namespace slm {
namespace SLM_ISA {

#if defined(SLM_ISA_AVX512)

namespace {

constexpr int kRows = 16;        // rows per repacked panel (one zmm of int32 lanes)
constexpr int kPanels = 4;       // panels per task (64 rows: their blocks stay in L2)
constexpr int kCols = 8;         // activation rows per micro-kernel call
// A repacked block of 32 values × 16 rows: codes, 16 float scales, 16 int32 corrections
// (-128·Σcodes), and for Q4_K/Q5_K 16 float mins (the value is scale·code − min);
// Q6_K uses the last two slots for the second half's scales and corrections.
// Slots: codes 0, scales 512, corrections 576, mins / second scales 640, second corrections 704.
constexpr int64_t kBlockBytes = 512 + 4 * 64;

thread_local std::vector<uint8_t> t_xq;                      // calling thread: activations +128 (m, cols)
thread_local std::vector<float> t_xd;                        // their scales (m, cols / 32)
thread_local std::vector<int16_t> t_xs;                      // sums of 16 codes (from quantize_act_row)
thread_local std::vector<float> t_xsum;                      // d_x · Σ codes per block of 32 (the mins' term)
thread_local std::vector<uint8_t> t_pack;                    // per thread: repacked panels

#pragma GCC push_options
#pragma GCC target("avx512vnni")

// Repacks rows [r0, r0 + 16) (rows past `rows` are zero) of a Q8_0 / Q4_0 / Q5_0 / Q5_1 matrix.
// dst: nb blocks of kBlockBytes.
void repack16(int type, const uint8_t* w, int64_t rb, int64_t r0, int64_t rows, int64_t nb, uint8_t* dst) {
  const int64_t bb = qt::block_bytes(type);
  const __mmask16 live = static_cast<__mmask16>(rows - r0 >= kRows ? 0xffff : (1u << (rows - r0)) - 1);
  const __m512i rowoff = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(static_cast<int>(rb)));
  const uint8_t* base = w + r0 * rb;
  const __m512i ones = _mm512_set1_epi8(1), lo4 = _mm512_set1_epi8(0x0f), zero = _mm512_setzero_si512();
  for (int64_t b = 0; b < nb; ++b, dst += kBlockBytes) {
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
// the decoders do). dst: nb (= cols / 32) blocks of kBlockBytes.
void repack16_k(int type, const uint8_t* w, int64_t rb, int64_t r0, int64_t rows, int64_t nb, uint8_t* dst) {
  const bool q5 = type == qt::Q5_K;
  const int64_t bb = q5 ? 176 : 144;
  const int nrow = static_cast<int>(std::min<int64_t>(kRows, rows - r0));
  const __mmask16 live = static_cast<__mmask16>(nrow >= kRows ? 0xffff : (1u << nrow) - 1);
  const __m512i rowoff = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(static_cast<int>(rb)));
  const uint8_t* base = w + r0 * rb;
  const __m512i ones = _mm512_set1_epi8(1), lo4 = _mm512_set1_epi8(0x0f), zero = _mm512_setzero_si512();
  alignas(64) float sc[8][16], mn[8][16];
  for (int64_t s = 0; s < nb / 8; ++s) {
    for (int r = 0; r < kRows; ++r) {
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
        uint8_t* o = dst + (8 * s + j) * kBlockBytes;
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
  const int nrow = static_cast<int>(std::min<int64_t>(kRows, rows - r0));
  const __mmask16 live = static_cast<__mmask16>(nrow >= kRows ? 0xffff : (1u << nrow) - 1);
  const __m512i rowoff = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(static_cast<int>(rb)));
  const uint8_t* base = w + r0 * rb;
  const __m512i ones = _mm512_set1_epi8(1), zero = _mm512_setzero_si512();
  const __m512i m4 = _mm512_set1_epi32(0x0f0f0f0f), m2 = _mm512_set1_epi32(0x03030303), k32 = _mm512_set1_epi8(32);
  alignas(64) float sc[16][16];
  for (int64_t s = 0; s < nb / 8; ++s) {
    for (int r = 0; r < kRows; ++r) {
      const uint8_t* blk = base + r * rb + s * 210;
      const float d = r < nrow ? qt::half_at(blk + 208) : 0.f;
      for (int g = 0; g < 16; ++g) sc[g][r] = r < nrow ? d * static_cast<float>(static_cast<int8_t>(blk[192 + g])) : 0.f;
    }
    const uint8_t* sb = base + s * 210;
    for (int j = 0; j < 8; ++j) {
      const int h = j / 4, quarter = j % 4;
      uint8_t* o = dst + (8 * s + j) * kBlockBytes;
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

// Q6_K tiles: as tile() with two halves of 16 values per block, each with its scale.
template <int C>
void tile_half(const uint8_t* pack, int64_t nb, const uint8_t* xq, int64_t cols, const float* xd, float* y, int64_t ldy, __mmask16 mask) {
  __m512 accf[C];
  for (int c = 0; c < C; ++c) accf[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* p = pack + b * kBlockBytes;
    for (int half = 0; half < 2; ++half) {
      const __m512i corr = _mm512_loadu_si512(p + 576 + 128 * half);
      const __m512 dw = _mm512_loadu_ps(p + 512 + 128 * half);
      __m512i acc[C];
      for (int c = 0; c < C; ++c) acc[c] = corr;
      for (int k = 4 * half; k < 4 * half + 4; ++k) {
        const __m512i wv = _mm512_loadu_si512(p + 64 * k);
        for (int c = 0; c < C; ++c) {
          int32_t x4;
          std::memcpy(&x4, xq + c * cols + 32 * b + 4 * k, 4);
          acc[c] = _mm512_dpbusd_epi32(acc[c], _mm512_set1_epi32(x4), wv);
        }
      }
      for (int c = 0; c < C; ++c) {
        accf[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[c]), _mm512_mul_ps(dw, _mm512_set1_ps(xd[c * nb + b])), accf[c]);
      }
    }
  }
  for (int c = 0; c < C; ++c) _mm512_mask_storeu_ps(y + c * ldy, mask, accf[c]);
}

void tile_half_n(int n, const uint8_t* pack, int64_t nb, const uint8_t* xq, int64_t cols, const float* xd, float* y, int64_t ldy, __mmask16 mask) {
  switch (n) {
    case 8: tile_half<8>(pack, nb, xq, cols, xd, y, ldy, mask); break;
    case 7: tile_half<7>(pack, nb, xq, cols, xd, y, ldy, mask); break;
    case 6: tile_half<6>(pack, nb, xq, cols, xd, y, ldy, mask); break;
    case 5: tile_half<5>(pack, nb, xq, cols, xd, y, ldy, mask); break;
    case 4: tile_half<4>(pack, nb, xq, cols, xd, y, ldy, mask); break;
    case 3: tile_half<3>(pack, nb, xq, cols, xd, y, ldy, mask); break;
    case 2: tile_half<2>(pack, nb, xq, cols, xd, y, ldy, mask); break;
    default: tile_half<1>(pack, nb, xq, cols, xd, y, ldy, mask); break;
  }
}

// y[c·ldy + 0..15] (masked) = the 16 panel rows times C activation rows (+128 codes xq,
// stride cols; scales xd, stride nb).
template <int C, bool Min>
void tile(const uint8_t* pack, int64_t nb, const uint8_t* xq, int64_t cols, const float* xd, const float* xs, float* y, int64_t ldy, __mmask16 mask) {
  __m512 accf[C];
  for (int c = 0; c < C; ++c) accf[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* p = pack + b * kBlockBytes;
    const __m512i corr = _mm512_loadu_si512(p + 576);
    const __m512 dw = _mm512_loadu_ps(p + 512);
    __m512i acc[C];
    for (int c = 0; c < C; ++c) acc[c] = corr;
    for (int k = 0; k < 8; ++k) {
      const __m512i wv = _mm512_loadu_si512(p + 64 * k);
      for (int c = 0; c < C; ++c) {
        int32_t x4;
        std::memcpy(&x4, xq + c * cols + 32 * b + 4 * k, 4);
        acc[c] = _mm512_dpbusd_epi32(acc[c], _mm512_set1_epi32(x4), wv);
      }
    }
    for (int c = 0; c < C; ++c) {
      accf[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[c]), _mm512_mul_ps(dw, _mm512_set1_ps(xd[c * nb + b])), accf[c]);
    }
    if (Min) {
      const __m512 mn = _mm512_loadu_ps(p + 640);
      for (int c = 0; c < C; ++c) accf[c] = _mm512_fnmadd_ps(mn, _mm512_set1_ps(xs[c * nb + b]), accf[c]);
    }
  }
  for (int c = 0; c < C; ++c) _mm512_mask_storeu_ps(y + c * ldy, mask, accf[c]);
}

template <bool Min>
void tile_n(int n, const uint8_t* pack, int64_t nb, const uint8_t* xq, int64_t cols, const float* xd, const float* xs, float* y, int64_t ldy, __mmask16 mask) {
  switch (n) {
    case 8: tile<8, Min>(pack, nb, xq, cols, xd, xs, y, ldy, mask); break;
    case 7: tile<7, Min>(pack, nb, xq, cols, xd, xs, y, ldy, mask); break;
    case 6: tile<6, Min>(pack, nb, xq, cols, xd, xs, y, ldy, mask); break;
    case 5: tile<5, Min>(pack, nb, xq, cols, xd, xs, y, ldy, mask); break;
    case 4: tile<4, Min>(pack, nb, xq, cols, xd, xs, y, ldy, mask); break;
    case 3: tile<3, Min>(pack, nb, xq, cols, xd, xs, y, ldy, mask); break;
    case 2: tile<2, Min>(pack, nb, xq, cols, xd, xs, y, ldy, mask); break;
    default: tile<1, Min>(pack, nb, xq, cols, xd, xs, y, ldy, mask); break;
  }
}

#pragma GCC pop_options

}  // namespace

// y (m,rows), x (m,cols), w (rows · row_bytes). False when this build/CPU/type cannot.
bool prefill_int8(float* y, const float* x, int64_t m, int type, const uint8_t* w, int64_t rows, int64_t cols) {
  // kq: blocks with a per-row min (Q4_K, Q5_K, and Q5_1's +m), which meets d_x·Σx
  const bool kq = type == qt::Q4_K || type == qt::Q5_K || type == qt::Q5_1, q6 = type == qt::Q6_K;
  if (type != qt::Q8_0 && type != qt::Q4_0 && type != qt::Q5_0 && !kq && !q6) return false;
  if (!int8_dot_uses_vnni()) return false;
  const int64_t nb = cols / 32, rb = qt::row_bytes(type, cols);
  t_xq.resize(static_cast<size_t>(m * cols));
  t_xd.resize(static_cast<size_t>(m * nb));
  t_xs.resize(static_cast<size_t>(m * cols / 16));
  for (int64_t i = 0; i < m; ++i) {
    int8_t* q = reinterpret_cast<int8_t*>(t_xq.data() + i * cols);
    quantize_act_row(x + i * cols, cols, 32, q, t_xd.data() + i * nb, t_xs.data() + i * cols / 16);
    for (int64_t k = 0; k < cols; ++k) t_xq[i * cols + k] ^= 0x80;  // s8 -> u8 (+128)
  }
  if (kq) {
    t_xsum.resize(static_cast<size_t>(m * nb));
    for (int64_t j = 0; j < m * nb; ++j) t_xsum[j] = t_xd[j] * static_cast<float>(t_xs[2 * j] + t_xs[2 * j + 1]);
  }
  const float* xs = kq ? t_xsum.data() : nullptr;
  const int64_t npanels = (rows + kRows - 1) / kRows;
  const int64_t ntasks = (npanels + kPanels - 1) / kPanels;
  const uint8_t* xq = t_xq.data();
  const float* xd = t_xd.data();
  parallel_tasks(ntasks, [&](int64_t t) {
    const int64_t p0 = t * kPanels, p1 = std::min(npanels, p0 + kPanels);
    t_pack.resize(static_cast<size_t>(kPanels * nb * kBlockBytes));
    for (int64_t p = p0; p < p1; ++p) {
      uint8_t* dst = t_pack.data() + (p - p0) * nb * kBlockBytes;
      if (kq && type != qt::Q5_1) repack16_k(type, w, rb, p * kRows, rows, nb, dst);
      else if (q6) repack16_q6k(w, rb, p * kRows, rows, nb, dst);
      else repack16(type, w, rb, p * kRows, rows, nb, dst);
    }
    for (int64_t c0 = 0; c0 < m; c0 += kCols) {
      const int n = static_cast<int>(std::min<int64_t>(kCols, m - c0));
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t r0 = p * kRows;
        const __mmask16 mask = static_cast<__mmask16>(rows - r0 >= kRows ? 0xffff : (1u << (rows - r0)) - 1);
        const uint8_t* pk = t_pack.data() + (p - p0) * nb * kBlockBytes;
        if (q6) tile_half_n(n, pk, nb, xq + c0 * cols, cols, xd + c0 * nb, y + c0 * rows + r0, rows, mask);
        else if (kq) tile_n<true>(n, pk, nb, xq + c0 * cols, cols, xd + c0 * nb, xs + c0 * nb, y + c0 * rows + r0, rows, mask);
        else tile_n<false>(n, pk, nb, xq + c0 * cols, cols, xd + c0 * nb, nullptr, y + c0 * rows + r0, rows, mask);
      }
    }
  });
  return true;
}

#else

bool prefill_int8(float*, const float*, int64_t, int, const uint8_t*, int64_t, int64_t) { return false; }

#endif

}  // namespace SLM_ISA
}  // namespace slm
