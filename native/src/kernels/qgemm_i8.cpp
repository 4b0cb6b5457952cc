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
// rescales each half. The repack (gathers, qpack_i8.cpp) costs a few percent of a 512-row
// product. Where AMX-INT8 tiles are usable, qgemm_amx.cpp takes the types it covers first.
// Knows nothing about models; the contract is qgemm.h.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/qinternal.h"
#include "kernels/qpack_i8.h"
#include "pool.h"

#if defined(SLM_ISA_AVX512)
#include <immintrin.h>
#endif

namespace slm {
namespace SLM_ISA {

#if defined(SLM_ISA_AVX512)

namespace {

constexpr int kRows = kPackRows;  // rows per repacked panel (one zmm of int32 lanes)
constexpr int kPanels = 4;       // panels per task (64 rows: their blocks stay in L2)
constexpr int kCols = 8;         // activation rows per micro-kernel call
// A repacked block of 32 values × 16 rows (qpack_i8.h): codes, 16 float scales, 16 int32
// corrections (-128·Σcodes), and for Q4_K/Q5_K 16 float mins (the value is scale·code − min);
// Q6_K uses the last two slots for the second half's scales and corrections.
constexpr int64_t kBlockBytes = kPackBlockBytes;

thread_local std::vector<uint8_t> t_xq;                      // calling thread: activations +128 (m, cols)
thread_local std::vector<float> t_xd;                        // their scales (m, cols / 32)
thread_local std::vector<int16_t> t_xs;                      // sums of 16 codes (from quantize_act_row)
thread_local std::vector<float> t_xsum;                      // d_x · Σ codes per block of 32 (the mins' term)
thread_local std::vector<uint8_t> t_pack;                    // per thread: repacked panels

#pragma GCC push_options
#pragma GCC target("avx512vnni")

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
  if (prefill_amx(y, x, m, type, w, rows, cols)) return true;
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
