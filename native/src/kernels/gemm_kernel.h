// Matmul building blocks for one instruction set (namespace slm::SLM_ISA::gemm):
// block sizes, panel packing, and the register-blocked micro-kernel. Included
// only by kernels/gemm*.cpp. Knows nothing about threads, batches or the
// caller's layout beyond "row-major with a row stride, possibly transposed".
//
// Packed layouts (both zero-padded to a whole panel, so the micro-kernel never
// sees a ragged edge in its inner loop):
//   A panel: MR rows of op(A) for kc steps, stored k-major: Ap[p*MR + r] = op(A)(i0+r, p0+p)
//   B panel: NR cols of op(B) for kc steps, stored k-major: Bp[p*NR + j] = op(B)(p0+p, j0+j)
// A block (mc rows) is ceil(mc/MR) A panels back to back; a B block (nc cols) is
// ceil(nc/NR) B panels back to back.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/simd.h"

namespace slm {
namespace SLM_ISA {
namespace gemm {

// Micro-tile MR x NR (NR = NV vectors) and cache blocks:
//   KC: depth of one rank-kc update; a B micro-panel (KC x NR) stays in L1 while
//       the MC/MR A micro-panels stream past it.
//   MC: rows of the packed A block (MC x KC), sized to stay in L2 (512 KiB here).
//   NC: columns of the packed B block (KC x NC), in L3.
#if defined(SLM_ISA_AVX512)
constexpr int MR = 12, NV = 2;  // 12x32 tile: 24 zmm accumulators + 2 B + 1 A of 32 registers
constexpr int64_t KC = 192, MC = 144, NC = 4096;
#elif defined(SLM_ISA_AVX2)
constexpr int MR = 6, NV = 2;  // 6x16 tile: 12 ymm accumulators + 2 B + 1 A of 16 registers
constexpr int64_t KC = 384, MC = 144, NC = 4096;
#else
constexpr int MR = 4, NV = 4;  // 4x4 scalar tile
constexpr int64_t KC = 256, MC = 64, NC = 1024;
#endif
constexpr int W = VF::W;
constexpr int NR = NV * W;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// A growable 64-byte-aligned float buffer; one per thread and role, reused
// across calls so the hot path allocates only on first use (or growth).
struct Buffer {
  float* p = nullptr;
  size_t cap = 0;  // floats
  ~Buffer() { std::free(p); }
  float* get(size_t n) {
    if (n > cap) {
      std::free(p);
      size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!p) {
        cap = 0;
        throw std::bad_alloc();
      }
      cap = bytes / sizeof(float);
    }
    return p;
  }
};

// ---- packing -------------------------------------------------------------

// Packs op(A) rows [0,mc) x depth [0,kc) into A panels. `a` points at op(A)(0,0)
// of the block: A stored (M,K) row stride lda, or (K,M) when trans.
inline void pack_a(int64_t mc, int64_t kc, const float* a, int64_t lda, bool trans, float* dst) {
  if (trans) {
    // op(A)(i,p) = a[p*lda + i]: walk the source row by row (contiguous, easy to
    // prefetch; its rows may be pages apart) and deal MR floats to each panel.
    const int64_t full = mc / MR;
    const int rem = static_cast<int>(mc % MR);
    for (int64_t p = 0; p < kc; ++p) {
      const float* s = a + p * lda;
      float* d = dst + p * MR;
      // A fixed-size memcpy compiles to a couple of vector moves (6 floats: 16 + 8 bytes).
      for (int64_t ip = 0; ip < full; ++ip, s += MR, d += MR * kc) std::memcpy(d, s, MR * sizeof(float));
      if (rem) {
        int r = 0;
        for (; r < rem; ++r) d[r] = s[r];
        for (; r < MR; ++r) d[r] = 0.f;
      }
    }
    return;
  }
  for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
    const int m = static_cast<int>(mc - i0 < MR ? mc - i0 : MR);
    // op(A)(i,p) = a[i*lda + p]: gather one float from each of MR rows per step.
    const float* rows[MR];
    for (int r = 0; r < MR; ++r) rows[r] = a + (i0 + (r < m ? r : 0)) * lda;
    if (m == MR) {
      for (int64_t p = 0; p < kc; ++p) {
        float* d = dst + p * MR;
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) d[r] = rows[r][p];
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        float* d = dst + p * MR;
        for (int r = 0; r < MR; ++r) d[r] = r < m ? rows[r][p] : 0.f;
      }
    }
  }
}

// Packs B panels [panel0, panel1) of the block op(B) depth [0,kc) x cols [0,nc).
// `b` points at op(B)(0,0) of the block: B stored (K,N) row stride ldb, or (N,K) when trans.
inline void pack_b(int64_t kc, int64_t nc, int64_t panel0, int64_t panel1, const float* b, int64_t ldb, bool trans,
                   float* dst) {
  if (!trans) {
    // Full panels row by row: each source row is read front to back (the hardware
    // prefetcher follows it), where a panel-by-panel walk would jump ldb floats per
    // step, one cache line per row, and with ldb a power of two every row falls in
    // the same few cache sets. The ragged last panel, if any, goes through the loop below.
    const int64_t full = nc / NR < panel1 ? nc / NR : panel1;
    if (full > panel0) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* s = b + p * ldb;
        float* d = dst + p * NR;
        for (int64_t jp = panel0; jp < full; ++jp) {
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) VF::load(s + jp * NR + v * W).store(d + jp * NR * kc + v * W);
        }
      }
      panel0 = full;
    }
  }
  for (int64_t jp = panel0; jp < panel1; ++jp) {
    const int64_t j0 = jp * NR;
    float* d = dst + j0 * kc;
    const int n = static_cast<int>(nc - j0 < NR ? nc - j0 : NR);
    if (!trans) {
      // op(B)(p,j) = b[p*ldb + j]: NR contiguous floats per step.
      const float* s = b + j0;
      if (n == NR) {
        for (int64_t p = 0; p < kc; ++p, s += ldb, d += NR) {
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) VF::load(s + v * W).store(d + v * W);
        }
      } else {
        for (int64_t p = 0; p < kc; ++p, s += ldb, d += NR) {
          int j = 0;
          for (; j < n; ++j) d[j] = s[j];
          for (; j < NR; ++j) d[j] = 0.f;
        }
      }
    } else {
      // op(B)(p,j) = b[j*ldb + p]: one contiguous source row per panel column.
      // Walk kc in short strips so the NR source rows stay in L1 while written out.
      constexpr int64_t STRIP = 64;
      for (int64_t p0 = 0; p0 < kc; p0 += STRIP) {
        const int64_t pe = p0 + STRIP < kc ? p0 + STRIP : kc;
        for (int j = 0; j < NR; ++j) {
          if (j < n) {
            const float* s = b + (j0 + j) * ldb;
            for (int64_t p = p0; p < pe; ++p) d[p * NR + j] = s[p];
          } else {
            for (int64_t p = p0; p < pe; ++p) d[p * NR + j] = 0.f;
          }
        }
      }
    }
  }
}

// ---- micro-kernel ---------------------------------------------------------

// One rank-1 step of the tile: acc += Ap[p] (MR) x Bp[p] (NR).
__attribute__((always_inline)) inline void micro_step(VF (&acc)[MR][NV], const float* ap, const float* bp) {
  VF bv[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) bv[v] = VF::load(bp + v * W);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    VF av = VF::set1(ap[r]);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = fmadd(av, bv[v], acc[r][v]);
  }
}

// c (MR,NR) tile, row stride ldc: c = (add ? c : 0) + Ap (kc x MR panel) . Bp (kc x NR panel).
// Ap and Bp are packed panels; Bp is 64-byte aligned when NR*4 is a multiple of 64.
inline void micro_full(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* c, int64_t ldc,
                       bool add) {
  VF acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = VF::zero();
  // Fetch the C tile a few dozen steps before the end: early enough to hide an
  // L3 miss, late enough that the A and B panels streaming through L1 (~30 KiB
  // per call) have not evicted it again. C rows are often a multiple of 4 KiB
  // apart, so they compete for the same L1 set.
  constexpr int64_t kPrefetchAhead = 48;
  const int64_t split = kc > kPrefetchAhead ? kc - kPrefetchAhead : 0;
  int64_t p = 0;
  for (; p < split; ++p, ap += MR, bp += NR) micro_step(acc, ap, bp);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    __builtin_prefetch(c + r * ldc, 1, 3);
    __builtin_prefetch(c + r * ldc + NR - 1, 1, 3);
  }
  for (; p < kc; ++p, ap += MR, bp += NR) micro_step(acc, ap, bp);
  if (add) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) (acc[r][v] + VF::load(c + r * ldc + v * W)).store(c + r * ldc + v * W);
  } else {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v].store(c + r * ldc + v * W);
  }
}

// A ragged edge tile: only the top-left m x n of the MR x NR tile is stored.
inline void micro_edge(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, bool add, int m, int n) {
  alignas(64) float tile[MR * NR];
  micro_full(kc, ap, bp, tile, NR, false);
  for (int r = 0; r < m; ++r) {
    float* cr = c + r * ldc;
    const float* tr = tile + r * NR;
    if (add)
      for (int j = 0; j < n; ++j) cr[j] += tr[j];
    else
      for (int j = 0; j < n; ++j) cr[j] = tr[j];
  }
}

// C block (mc, cols [j0,j1) of the packed B block) += / = packed A block . packed B block.
// j0 is a multiple of NR. c points at C(0,0) of the block.
inline void macro(int64_t mc, int64_t j0, int64_t j1, int64_t kc, const float* apack, const float* bpack, float* c,
                  int64_t ldc, bool add) {
  for (int64_t j = j0; j < j1; j += NR) {
    const int n = static_cast<int>(j1 - j < NR ? j1 - j : NR);
    const float* bp = bpack + j * kc;
    for (int64_t i = 0; i < mc; i += MR) {
      const int m = static_cast<int>(mc - i < MR ? mc - i : MR);
      const float* ap = apack + i * kc;
      float* ct = c + i * ldc + j;
      if (m == MR && n == NR)
        micro_full(kc, ap, bp, ct, ldc, add);
      else
        micro_edge(kc, ap, bp, ct, ldc, add, m, n);
    }
  }
}

}  // namespace gemm
}  // namespace SLM_ISA
}  // namespace slm
