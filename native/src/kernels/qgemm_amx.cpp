// Prefill (m > 8) for Q8_0, Q4_0, Q5_0, Q5_1, Q4_K and Q5_K with AMX-INT8 tiles, compiled
// into every instruction set's library but active only in the AVX-512 build, with a
// compiler that can target AMX (GCC 11+, clang 12+), on a CPU and OS that grant tile
// state (isa.h amx_int8_usable), with the switch on (qgemm_set_amx, SLM_AMX=0 turns it off
// for the process). Elsewhere prefill_amx returns false and qgemm_i8.cpp's VNNI GEMM runs.
//
// Per call: activation rows are quantized to 8 bits per 32 values, exactly as for the VNNI
// GEMM (signed codes, no +128 here: tdpbssd multiplies signed by signed), and laid out as
// A tiles, 16 rows × 32 codes per block, contiguous; rows past m are zero. Each task takes
// 64 weight rows, repacks them with qpack_i8.cpp (whose 512 code bytes per block are
// exactly a B tile of 8 rows × 64 bytes) and multiplies every pair of A tiles by every
// pair of 16-row panels (an odd last A tile alone): per 32-value block four tdpbssd
// (2 A × 2 B tiles) give the 32 × 32 int32 block sums, which go through memory (SPR has no
// tile-to-register move) into float, times the outer product d_x · d_w, into a 32 × 32
// float accumulator in L1. The block loop is software-pipelined (block b's tile products
// are issued before block b − 1's sums are rescaled), though on the machine measured the
// tile and vector work did not overlap in any order tried (docs/kernels.md).
// Q5_1/Q4_K/Q5_K subtract the min term as the VNNI GEMM does.
// Every output is computed by one task in a fixed order: no dependence on thread count.
// Tiles are configured (ldtilecfg) at the start of each task on whichever thread runs it,
// and released at its end. Knows nothing about models; the contract is qgemm.h.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "isa.h"
#include "kernels/qpack_i8.h"
#include "kernels/qtypes.h"
#include "pool.h"

#if defined(SLM_ISA_AVX512) && defined(__x86_64__) && \
    ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
#define SLM_AMX 1
#include <immintrin.h>
#endif

namespace slm {
namespace SLM_ISA {

#if defined(SLM_AMX)

namespace {

#define SLM_AMX_FN __attribute__((target("amx-tile,amx-int8")))

constexpr int kTileRows = 16;                  // activation rows per A tile
constexpr int64_t kATileBytes = kTileRows * 32;  // one block of an A tile
constexpr int kPanels = 4;                     // 16-row weight panels per task

// -1 undecided, 0 off, 1 on (only ever 1 when amx_int8_usable()).
std::atomic<int> g_amx{-1};

bool use_amx() {
  int v = g_amx.load(std::memory_order_relaxed);
  if (v < 0) {
    const char* env = std::getenv("SLM_AMX");
    v = (env && !std::strcmp(env, "0")) ? 0 : amx_int8_usable() ? 1 : 0;
    g_amx.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

// ldtilecfg's 64-byte operand (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

thread_local std::vector<int8_t> t_a;    // calling thread: A tiles (m/16 tiles, nb, 16 rows × 32 codes)
thread_local std::vector<float> t_ad;    // their scales (m/16 tiles, nb, 16)
thread_local std::vector<float> t_as;    // d_x · Σ codes per block (the mins' term), same layout
thread_local std::vector<uint8_t> t_pack;    // per thread: repacked panels

// tmm0/1: A, 16 rows × 32 codes (two A tiles: 32 activation rows); tmm2/3: B, one
// repacked block of 16 weight rows, 8 rows × 64 bytes (two panels: 32 weight rows);
// tmm4..7: C, 16 × 16 int32, C[2i + j] = A_i · B_j.
SLM_AMX_FN void configure_tiles() {
  TileConfig cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 2; ++t) { cfg.rows[t] = kTileRows; cfg.colsb[t] = 32; }
  for (int t = 2; t < 4; ++t) { cfg.rows[t] = 8; cfg.colsb[t] = 64; }
  for (int t = 4; t < 8; ++t) { cfg.rows[t] = kTileRows; cfg.colsb[t] = 64; }
  // GCC's _tile_loadconfig names only the first bytes as its memory operand
  __asm__ volatile("" ::: "memory");
  _tile_loadconfig(&cfg);
}

// Block b's products: A_i (a_i + b·512, i < NA) times B_j (pk_j + b·kPackBlockBytes) into C.
template <int NA>
SLM_AMX_FN inline void multiply_block(const int8_t* a0, const int8_t* a1, const uint8_t* pk0, const uint8_t* pk1, int64_t b) {
  _tile_loadd(0, a0 + b * kATileBytes, 32);
  _tile_loadd(2, pk0 + b * kPackBlockBytes, 64);
  _tile_loadd(3, pk1 + b * kPackBlockBytes, 64);
  if (NA == 2) _tile_loadd(1, a1 + b * kATileBytes, 32);
  _tile_zero(4);
  _tile_zero(5);
  if (NA == 2) {
    _tile_zero(6);
    _tile_zero(7);
  }
  _tile_dpbssd(4, 0, 2);
  _tile_dpbssd(5, 0, 3);
  if (NA == 2) {
    _tile_dpbssd(6, 1, 2);
    _tile_dpbssd(7, 1, 3);
  }
}

template <int NA>
SLM_AMX_FN inline void store_block(int32_t* c) {
  _tile_stored(4, c, 64);
  _tile_stored(5, c + 256, 64);
  if (NA == 2) {
    _tile_stored(6, c + 512, 64);
    _tile_stored(7, c + 768, 64);
  }
}

// acc (32 × 32 floats: activation rows × weight rows) += one block's four C tiles (c: 4 ×
// 16 × 16 int32) · (d_x[i] · d_w[j]) − min[j] · d_x·Σx[i].
template <bool Min, int NA>
inline void rescale_block(float* acc, const int32_t* c, const uint8_t* blk0, const uint8_t* blk1, const float* ad0, const float* ad1,
                          const float* as0, const float* as1) {
  for (int i = 0; i < NA; ++i) {
    const float* ad = i ? ad1 : ad0;
    const float* as = i ? as1 : as0;
    for (int j = 0; j < 2; ++j) {
      const uint8_t* blk = j ? blk1 : blk0;
      const __m512 dw = _mm512_loadu_ps(blk + kPackScales);
      const __m512 mn = Min ? _mm512_loadu_ps(blk + kPackMins) : _mm512_setzero_ps();
      const int32_t* ct = c + 256 * (2 * i + j);
      float* at = acc + (16 * i) * 32 + 16 * j;
      for (int r = 0; r < kTileRows; ++r) {
        __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(ct + 16 * r)), _mm512_mul_ps(dw, _mm512_set1_ps(ad[r])),
                                   _mm512_load_ps(at + 32 * r));
        if (Min) v = _mm512_fnmadd_ps(mn, _mm512_set1_ps(as[r]), v);
        _mm512_store_ps(at + 32 * r, v);
      }
    }
  }
}

// y (16·NA activation rows from i0, 32 weight rows from r0; ldy) = NA A tiles (a0, a1: nb
// blocks of 16 × 32 codes; ad*/as*: nb × 16) times two repacked panels (pk0, pk1: nb blocks),
// over all nb blocks. Software-pipelined: block b's tile products are issued before block
// b − 1's sums (stored the iteration before) are rescaled into the float accumulators.
// NA = 1 serves the last 1..16 activation rows (less wasted work for small m).
template <bool Min, int NA>
SLM_AMX_FN void tile32(const int8_t* a0, const int8_t* a1, const float* ad0, const float* ad1, const float* as0, const float* as1,
                       const uint8_t* pk0, const uint8_t* pk1, int64_t nb, float* y, int64_t ldy, int nrows, int ncols) {
  alignas(64) int32_t c[2][4 * 256];
  alignas(64) float acc[32 * 32];
  for (int k = 0; k < NA * 16 * 32; k += 16) _mm512_store_ps(acc + k, _mm512_setzero_ps());
  multiply_block<NA>(a0, a1, pk0, pk1, 0);
  store_block<NA>(c[0]);
  for (int64_t b = 1; b <= nb; ++b) {
    if (b < nb) multiply_block<NA>(a0, a1, pk0, pk1, b);
    const int64_t p = b - 1;
    rescale_block<Min, NA>(acc, c[p & 1], pk0 + p * kPackBlockBytes, pk1 + p * kPackBlockBytes, ad0 + p * 16, ad1 + p * 16,
                       Min ? as0 + p * 16 : nullptr, Min ? as1 + p * 16 : nullptr);
    if (b < nb) store_block<NA>(c[b & 1]);
  }
  const __mmask16 m0 = static_cast<__mmask16>(ncols >= 16 ? 0xffff : (1u << ncols) - 1);
  const __mmask16 m1 = static_cast<__mmask16>(ncols >= 32 ? 0xffff : ncols <= 16 ? 0 : (1u << (ncols - 16)) - 1);
  for (int r = 0; r < nrows; ++r) {
    _mm512_mask_storeu_ps(y + r * ldy, m0, _mm512_load_ps(acc + 32 * r));
    if (m1) _mm512_mask_storeu_ps(y + r * ldy + 16, m1, _mm512_load_ps(acc + 32 * r + 16));
  }
}

struct Job {
  float* y;
  int64_t m, rows, nb, rb, mt;
  int type;
  bool min;
  const uint8_t* w;
  const int8_t* a;
  const float* ad;
  const float* as;
};

// One task: weight panels [p0, p1) repacked into this thread's buffer (an odd count padded
// with a zero panel), then every pair of A tiles (an odd last one alone) times each pair of
// panels.
SLM_AMX_FN void run_task(const Job& j, int64_t p0, int64_t p1) {
  const int64_t nb = j.nb, pb = nb * kPackBlockBytes, np = p1 - p0;
  t_pack.resize(static_cast<size_t>((kPanels + 1) * pb));
  for (int64_t p = p0; p < p1; ++p) {
    uint8_t* dst = t_pack.data() + (p - p0) * pb;
    if (j.type == qt::Q4_K || j.type == qt::Q5_K) repack16_k(j.type, j.w, j.rb, p * kPackRows, j.rows, nb, dst);
    else repack16(j.type, j.w, j.rb, p * kPackRows, j.rows, nb, dst);
  }
  if (np & 1) std::memset(t_pack.data() + np * pb, 0, static_cast<size_t>(pb));
  configure_tiles();
  // GCC's _tile_loadd names no memory operand: keep the stores above before the loads
  __asm__ volatile("" ::: "memory");
  const int64_t sa = nb * kATileBytes, sd = nb * 16;
  for (int64_t it = 0; it < j.mt; it += 2) {
    const int64_t i0 = it * kTileRows;
    const int nrows = static_cast<int>(std::min<int64_t>(2 * kTileRows, j.m - i0));
    const bool two = it + 1 < j.mt;
    const int8_t* a = j.a + it * sa;
    const int8_t* a1 = two ? a + sa : a;
    const float* ad = j.ad + it * sd;
    const float* ad1 = two ? ad + sd : ad;
    const float* as = j.min ? j.as + it * sd : nullptr;
    const float* as1 = j.min && two ? as + sd : as;
    for (int64_t p = p0; p < p1; p += 2) {
      const int64_t r0 = p * kPackRows;
      const int ncols = static_cast<int>(std::min<int64_t>(2 * kPackRows, j.rows - r0));
      const uint8_t* pk = t_pack.data() + (p - p0) * pb;
      float* y = j.y + i0 * j.rows + r0;
      if (j.min) {
        if (two) tile32<true, 2>(a, a1, ad, ad1, as, as1, pk, pk + pb, nb, y, j.rows, nrows, ncols);
        else tile32<true, 1>(a, a1, ad, ad1, as, as1, pk, pk + pb, nb, y, j.rows, nrows, ncols);
      } else {
        if (two) tile32<false, 2>(a, a1, ad, ad1, nullptr, nullptr, pk, pk + pb, nb, y, j.rows, nrows, ncols);
        else tile32<false, 1>(a, a1, ad, ad1, nullptr, nullptr, pk, pk + pb, nb, y, j.rows, nrows, ncols);
      }
    }
  }
  _tile_release();
}

// A tile `it`: its 16 activation rows (rows past m zero) quantized into the tile layout,
// 8 bits per 32 values exactly as quantize_act_row does (d = max|x| / 127, codes
// round-to-nearest-even of x · (1/d), saturated to int8), so this path multiplies the very
// codes the VNNI GEMM does; written here because it stores straight into the tiles.
void quantize_tile(const float* x, int64_t m, int64_t cols, int64_t it, bool min, int8_t* a, float* ad, float* as) {
  const int64_t nb = cols / 32;
  a += it * nb * kATileBytes;
  ad += it * nb * 16;
  if (min) as += it * nb * 16;
  const __m512 sign = _mm512_set1_ps(-0.f);
  for (int r = 0; r < kTileRows; ++r) {
    const int64_t i = it * kTileRows + r;
    if (i >= m) {
      for (int64_t b = 0; b < nb; ++b) {
        std::memset(a + b * kATileBytes + r * 32, 0, 32);
        ad[b * 16 + r] = 0.f;
        if (min) as[b * 16 + r] = 0.f;
      }
      continue;
    }
    const float* xr = x + i * cols;
    for (int64_t b = 0; b < nb; ++b) {
      const __m512 v0 = _mm512_loadu_ps(xr + 32 * b), v1 = _mm512_loadu_ps(xr + 32 * b + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1)));
      const float d = amax / 127.f;
      const __m512 id = _mm512_set1_ps(d != 0.f ? 1.f / d : 0.f);
      const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
      int8_t* dst = a + b * kATileBytes + r * 32;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm512_cvtsepi32_epi8(q0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16), _mm512_cvtsepi32_epi8(q1));
      ad[b * 16 + r] = d;
      if (min) {
        // Σ of the stored (saturated) codes
        const __m512i s = _mm512_add_epi32(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(dst))),
                                           _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(dst + 16))));
        as[b * 16 + r] = d * static_cast<float>(_mm512_reduce_add_epi32(s));
      }
    }
  }
}

}  // namespace

// y (m,rows), x (m,cols), w (rows · row_bytes)
bool prefill_amx(float* y, const float* x, int64_t m, int type, const uint8_t* w, int64_t rows, int64_t cols) {
  const bool min = type == qt::Q5_1 || type == qt::Q4_K || type == qt::Q5_K;
  if (type != qt::Q8_0 && type != qt::Q4_0 && type != qt::Q5_0 && !min) return false;
  if (!use_amx()) return false;
  const int64_t nb = cols / 32, mt = (m + kTileRows - 1) / kTileRows;
  t_a.resize(static_cast<size_t>(mt * nb * kATileBytes));
  t_ad.resize(static_cast<size_t>(mt * nb * 16));
  if (min) t_as.resize(static_cast<size_t>(mt * nb * 16));
  int8_t* a = t_a.data();
  float* ad = t_ad.data();
  float* as = min ? t_as.data() : nullptr;
  parallel_tasks(mt, [&](int64_t it) { quantize_tile(x, m, cols, it, min, a, ad, as); });
  const Job job{y, m, rows, nb, qt::row_bytes(type, cols), mt, type, min, w, a, ad, as};
  const int64_t npanels = (rows + kPackRows - 1) / kPackRows;
  const int64_t ntasks = (npanels + kPanels - 1) / kPanels;
  parallel_tasks(ntasks, [&](int64_t t) { run_task(job, t * kPanels, std::min(npanels, (t + 1) * kPanels)); });
  return true;
}

bool qgemm_set_amx(int mode) {
  if (mode >= 0) g_amx.store(mode > 0 && amx_int8_usable() ? 1 : 0, std::memory_order_relaxed);
  return use_amx();
}

#else

bool prefill_amx(float*, const float*, int64_t, int, const uint8_t*, int64_t, int64_t) { return false; }
bool qgemm_set_amx(int) { return false; }

#endif

}  // namespace SLM_ISA
}  // namespace slm
