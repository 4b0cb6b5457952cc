// Matmul kernel, compiled once per instruction set (namespace slm::SLM_ISA):
// a BLIS-style packed GEMM (see gemm_kernel.h for panels and micro-kernel)
// plus a direct matrix-vector path for M == 1 or N == 1 (single-token decode)
// and a "few rows" path for 2 <= M <= kSmallM with B in dot form (a batched
// decode step: each weight row is read once for all M rows, and every output
// is summed in exactly the M == 1 path's order, so a sequence's logits do not
// depend on how many other sequences share the step).
// Threads come from the persistent pool. Knows nothing about autograd or
// which layer it serves; the contract is gemm.h.
//
// Loop nest for one matrix (C (M,N) = op(A) (M,K) . op(B) (K,N)):
//   split C into one slice per thread (rows, or columns when N has more tiles)
//   per slice, on its thread:
//     for jc in N step NC:               B block columns
//       for pc in K step KC:             depth; the first block overwrites C unless accumulating
//         pack B block (KC x NC)         (L3)
//         for ic in M step MC:
//           pack A block (MC x KC)       (L2)
//           for jr: for ir: micro-kernel B micro-panel in L1, MR x NR tile in registers
#include <cstdint>
#include <cstdlib>

#include "kernels/gemm_kernel.h"
#include "kernels/qtypes.h"
#include "pool.h"

#if defined(SLM_ISA_AVX512) && defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns inside its own _mm512_reduce_add_ps (hsum) about an intentionally
// undefined register (GCC bug 105593); the value is never used.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace slm {
namespace SLM_ISA {

namespace {
using namespace gemm;

thread_local Buffer t_apack;  // per thread: packed A block (MC x KC)
thread_local Buffer t_bpack;  // per thread: packed B block (KC x NC)
thread_local Buffer t_cbuf;   // per thread: padded scratch C block (see gemm_serial)
thread_local Buffer t_vec;    // per thread: a contiguous copy of a strided vector

// Below this many multiply-adds a product runs on one thread: waking the pool costs more.
constexpr int64_t kSerialFlops = 1 << 15;
// Matrix-vector products are memory-bound and short (a 1536x384 one takes ~35 us on
// one core): they use the pool only from about a million multiply-adds.
constexpr int64_t kSerialMatvec = 1 << 20;
// Up to this many rows of A, a product with B in dot form (rows contiguous in k) runs
// as M matrix-vector products sharing each loaded weight row (mm_dot_small).
constexpr int64_t kSmallM = 16;
// Blocking for few rows and a deep sum (see gemm_serial), and the largest A packed
// whole once per call (floats; 8 MiB).
constexpr int64_t kFewRows = 768, kFewRowsKC = 256, kFewRowsNC = 768;
constexpr int64_t kPackAOnce = int64_t(1) << 21;

// ---- matrix-vector ---------------------------------------------------------

// y[l*incy] (+)= sum_k x[k] * mat[k*ld + l] for l in [l0,l1)  ("axpy" form: mat rows are contiguous in l)
void mv_axpy(int64_t l0, int64_t l1, int64_t K, const float* x, const float* mat, int64_t ld, float* y, int64_t incy,
             bool add) {
  constexpr int CV = 8;  // vectors per column chunk: 8 independent accumulators
  alignas(64) float out[CV * W];
  for (int64_t l = l0; l < l1; l += CV * W) {
    const int64_t len = l1 - l < CV * W ? l1 - l : CV * W;
    const int nfull = static_cast<int>(len / W), rest = static_cast<int>(len % W);
    VF acc[CV + 1];
    for (int v = 0; v <= CV; ++v) acc[v] = VF::zero();
    const float* m = mat + l;
    if (nfull == CV) {
      for (int64_t k = 0; k < K; ++k, m += ld) {
        VF xv = VF::set1(x[k]);
#pragma GCC unroll 8
        for (int v = 0; v < CV; ++v) acc[v] = fmadd(xv, VF::load(m + v * W), acc[v]);
      }
    } else {
      for (int64_t k = 0; k < K; ++k, m += ld) {
        VF xv = VF::set1(x[k]);
        for (int v = 0; v < nfull; ++v) acc[v] = fmadd(xv, VF::load(m + v * W), acc[v]);
        if (rest) acc[nfull] = fmadd(xv, VF::load_partial(m + nfull * W, rest), acc[nfull]);
      }
    }
    for (int v = 0; v < nfull; ++v) acc[v].store(out + v * W);
    if (rest) acc[nfull].store_partial(out + nfull * W, rest);
    float* yl = y + l * incy;
    if (add)
      for (int64_t j = 0; j < len; ++j) yl[j * incy] += out[j];
    else
      for (int64_t j = 0; j < len; ++j) yl[j * incy] = out[j];
  }
}

// y[l*incy] (+)= sum_k x[k] * mat[l*ld + k] for l in [l0,l1)  ("dot" form: mat rows are contiguous in k)
void mv_dot(int64_t l0, int64_t l1, int64_t K, const float* x, const float* mat, int64_t ld, float* y, int64_t incy,
            bool add) {
  const int64_t kfull = K / W * W;
  const int rest = static_cast<int>(K - kfull);
  int64_t l = l0;
  for (; l + 4 <= l1; l += 4) {
    const float* m0 = mat + l * ld;
    const float* m1 = m0 + ld;
    const float* m2 = m1 + ld;
    const float* m3 = m2 + ld;
    VF a0 = VF::zero(), a1 = VF::zero(), a2 = VF::zero(), a3 = VF::zero();
    for (int64_t k = 0; k < kfull; k += W) {
      VF xv = VF::load(x + k);
      a0 = fmadd(xv, VF::load(m0 + k), a0);
      a1 = fmadd(xv, VF::load(m1 + k), a1);
      a2 = fmadd(xv, VF::load(m2 + k), a2);
      a3 = fmadd(xv, VF::load(m3 + k), a3);
    }
    if (rest) {
      VF xv = VF::load_partial(x + kfull, rest);
      a0 = fmadd(xv, VF::load_partial(m0 + kfull, rest), a0);
      a1 = fmadd(xv, VF::load_partial(m1 + kfull, rest), a1);
      a2 = fmadd(xv, VF::load_partial(m2 + kfull, rest), a2);
      a3 = fmadd(xv, VF::load_partial(m3 + kfull, rest), a3);
    }
    float s[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
    for (int i = 0; i < 4; ++i) {
      float* yi = y + (l + i) * incy;
      *yi = add ? *yi + s[i] : s[i];
    }
  }
  for (; l < l1; ++l) {
    const float* m0 = mat + l * ld;
    VF a0 = VF::zero(), a1 = VF::zero();
    int64_t k = 0;
    for (; k + 2 * W <= kfull; k += 2 * W) {
      a0 = fmadd(VF::load(x + k), VF::load(m0 + k), a0);
      a1 = fmadd(VF::load(x + k + W), VF::load(m0 + k + W), a1);
    }
    for (; k < kfull; k += W) a0 = fmadd(VF::load(x + k), VF::load(m0 + k), a0);
    if (rest) a1 = fmadd(VF::load_partial(x + kfull, rest), VF::load_partial(m0 + kfull, rest), a1);
    float s = hsum(a0 + a1);
    float* yl = y + l * incy;
    *yl = add ? *yl + s : s;
  }
}

// C[i*ldc + l] (+)= sum_k A[i*lda + k] * mat[l*ld + k] for i in [0,M), l in [l0,l1):
// M rows of A against rows l0..l1 of mat ("dot" form), two rows of A at a time so the
// four mat rows loaded per k step serve both. Per output, the same operations in the
// same order as mv_dot (one accumulator per row in a group of 4, two for the tail
// rows), so results are bitwise those of M separate matrix-vector products.
void mm_dot_small(int64_t l0, int64_t l1, int64_t M, int64_t K, const float* A, int64_t lda, const float* mat,
                  int64_t ld, float* C, int64_t ldc, bool add) {
  const int64_t kfull = K / W * W;
  const int rest = static_cast<int>(K - kfull);
  auto put = [&](int64_t i, int64_t l, float s) {
    float* c = C + i * ldc + l;
    *c = add ? *c + s : s;
  };
  int64_t l = l0;
  for (; l + 4 <= l1; l += 4) {
    const float* m0 = mat + l * ld;
    const float* m1 = m0 + ld;
    const float* m2 = m1 + ld;
    const float* m3 = m2 + ld;
    int64_t i = 0;
    for (; i + 2 <= M; i += 2) {
      const float* x = A + i * lda;
      const float* y = x + lda;
      VF a0 = VF::zero(), a1 = VF::zero(), a2 = VF::zero(), a3 = VF::zero();
      VF b0 = VF::zero(), b1 = VF::zero(), b2 = VF::zero(), b3 = VF::zero();
      for (int64_t k = 0; k < kfull; k += W) {
        VF xv = VF::load(x + k), yv = VF::load(y + k);
        VF w0 = VF::load(m0 + k), w1 = VF::load(m1 + k), w2 = VF::load(m2 + k), w3 = VF::load(m3 + k);
        a0 = fmadd(xv, w0, a0);
        a1 = fmadd(xv, w1, a1);
        a2 = fmadd(xv, w2, a2);
        a3 = fmadd(xv, w3, a3);
        b0 = fmadd(yv, w0, b0);
        b1 = fmadd(yv, w1, b1);
        b2 = fmadd(yv, w2, b2);
        b3 = fmadd(yv, w3, b3);
      }
      if (rest) {
        VF xv = VF::load_partial(x + kfull, rest), yv = VF::load_partial(y + kfull, rest);
        VF w0 = VF::load_partial(m0 + kfull, rest), w1 = VF::load_partial(m1 + kfull, rest);
        VF w2 = VF::load_partial(m2 + kfull, rest), w3 = VF::load_partial(m3 + kfull, rest);
        a0 = fmadd(xv, w0, a0);
        a1 = fmadd(xv, w1, a1);
        a2 = fmadd(xv, w2, a2);
        a3 = fmadd(xv, w3, a3);
        b0 = fmadd(yv, w0, b0);
        b1 = fmadd(yv, w1, b1);
        b2 = fmadd(yv, w2, b2);
        b3 = fmadd(yv, w3, b3);
      }
      put(i, l, hsum(a0)), put(i, l + 1, hsum(a1)), put(i, l + 2, hsum(a2)), put(i, l + 3, hsum(a3));
      put(i + 1, l, hsum(b0)), put(i + 1, l + 1, hsum(b1)), put(i + 1, l + 2, hsum(b2)), put(i + 1, l + 3, hsum(b3));
    }
    if (i < M) mv_dot(l, l + 4, K, A + i * lda, mat, ld, C + i * ldc, 1, add);
  }
  // Tail rows of mat (fewer than 4): mv_dot's own tail loop, row of A by row of A.
  if (l < l1)
    for (int64_t i = 0; i < M; ++i) mv_dot(l, l1, K, A + i * lda, mat, ld, C + i * ldc, 1, add);
}

// y (L) (+)= x (K) . mat, where mat(k,l) = dot_form ? mat[l*ld + k] : mat[k*ld + l].
// x has stride incx (copied when not 1); y has stride incy.
void matvec(bool parallel, int64_t L, int64_t K, const float* x, int64_t incx, const float* mat, int64_t ld,
            bool dot_form, float* y, int64_t incy, bool add) {
  if (incx != 1) {
    float* xc = t_vec.get(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) xc[k] = x[k * incx];
    x = xc;
  }
  auto body = [&](int64_t l0, int64_t l1) {
    if (dot_form)
      mv_dot(l0, l1, K, x, mat, ld, y, incy, add);
    else
      mv_axpy(l0, l1, K, x, mat, ld, y, incy, add);
  };
  if (!parallel || L * K < kSerialMatvec) {
    body(0, L);
    return;
  }
  // One chunk of whole vector groups per thread.
  const int64_t unit = dot_form ? 4 : 8 * W;
  const int64_t units = ceil_div(L, unit);
  parallel_for(units, 1, [&](int64_t u0, int64_t u1) {
    const int64_t e = u1 * unit < L ? u1 * unit : L;
    body(u0 * unit, e);
  });
}

// ---- one matrix --------------------------------------------------------------

// The blocked loops on the calling thread, with its own packed A and B; pack_b_block(kc, nc,
// pc, jc, dst) packs the depth block pc.. and column block jc.. of op(B).
template <class PackB>
void gemm_blocked(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, bool tA, PackB&& pack_b_block, float* C, int64_t ldc,
                  bool accumulate) {
  // Blocks of equal size: depth <= KC, columns <= NC (whole panels), rows <= MC (whole tiles).
  int64_t kc_max = KC, nc_max = NC;
  // Few rows and a deep sum (a weight gradient, dB = A^T.dC, with M = d_model): every
  // depth block reads the whole C block (M x nc) back, so keep it narrow enough to
  // stay in L2 beside the packed B block, and take shallower depth blocks so both fit.
  if (M <= kFewRows && K > KC) kc_max = kFewRowsKC, nc_max = kFewRowsNC;
#ifdef GEMM_TUNE  // tuning builds only (-DGEMM_TUNE): block sizes from GKC/GMC/GNC
  static const int64_t MC = getenv("GMC") ? atoll(getenv("GMC")) : gemm::MC;
  if (getenv("GKC")) kc_max = atoll(getenv("GKC"));
  if (getenv("GNC")) nc_max = atoll(getenv("GNC"));
#endif
  const int64_t kc_blk = ceil_div(K, ceil_div(K, kc_max));
  const int64_t nc_blk = round_up(ceil_div(N, ceil_div(N, nc_max)), NR);
  const int64_t mc_blk = round_up(ceil_div(M, ceil_div(M, MC)), MR);
  float* bpack = t_bpack.get(static_cast<size_t>(kc_blk * nc_blk));
  // With several column blocks, A would be packed again for each; when it is small
  // enough, pack all of it once (block (pc, i0) at pc*m_pad + i0*kc) and reuse it.
  const int64_t m_pad = round_up(M, MR);
  bool a_once = N > nc_blk && m_pad * K <= kPackAOnce;
#ifdef GEMM_TUNE
  if (getenv("GNOONCE")) a_once = false;
#endif
  float* apack = t_apack.get(static_cast<size_t>(a_once ? m_pad * K : mc_blk * kc_blk));
  // With several depth blocks, every C tile is read back once per block. When C
  // rows are a multiple of 4 KiB apart, a tile's rows (and the tiles below it)
  // fall into the same few cache sets and keep evicting each other; then the
  // sums are kept in a scratch block with padded rows and added to C at the end.
  const bool scratch = K > kc_blk && ldc % 1024 == 0 && M * nc_blk <= (int64_t(1) << 22);
  const int64_t lds = nc_blk + 16;
  float* sbuf = scratch ? t_cbuf.get(static_cast<size_t>(M * lds)) : nullptr;
  for (int64_t jc = 0; jc < N; jc += nc_blk) {
    const int64_t nc = N - jc < nc_blk ? N - jc : nc_blk;
    float* cblk = scratch ? sbuf : C + jc;
    const int64_t ldb_c = scratch ? lds : ldc;
    for (int64_t pc = 0; pc < K; pc += kc_blk) {
      const int64_t kc = K - pc < kc_blk ? K - pc : kc_blk;
      // The first depth block overwrites (C, or the scratch) unless accumulating into C.
      const bool add = pc > 0 || (accumulate && !scratch);
      pack_b_block(kc, nc, pc, jc, bpack);
      for (int64_t i0 = 0; i0 < M; i0 += mc_blk) {
        const int64_t mc = M - i0 < mc_blk ? M - i0 : mc_blk;
        float* ablk = a_once ? apack + pc * m_pad + i0 * kc : apack;
        if (!a_once || jc == 0) pack_a(mc, kc, tA ? A + pc * lda + i0 : A + i0 * lda + pc, lda, tA, ablk);
        macro(mc, 0, nc, kc, ablk, bpack, cblk + i0 * ldb_c, ldb_c, add);
      }
    }
    if (scratch) {
      for (int64_t i = 0; i < M; ++i) {
        float* c = C + i * ldc + jc;
        const float* s = sbuf + i * lds;
        if (accumulate)
          for (int64_t j = 0; j < nc; ++j) c[j] += s[j];
        else
          for (int64_t j = 0; j < nc; ++j) c[j] = s[j];
      }
    }
  }
}

void gemm_serial(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, bool tA, const float* B, int64_t ldb,
                 bool tB, float* C, int64_t ldc, bool accumulate) {
  gemm_blocked(
      M, N, K, A, lda, tA,
      [&](int64_t kc, int64_t nc, int64_t pc, int64_t jc, float* dst) {
        pack_b(kc, nc, 0, ceil_div(nc, NR), tB ? B + jc * ldb + pc : B + pc * ldb + jc, ldb, tB, dst);
      },
      C, ldc, accumulate);
}

// n half-precision values (IEEE half, or bfloat16) at s as float32, exactly.
inline void half_row(const uint16_t* s, int64_t n, bool bf16, float* out) {
  int64_t i = 0;
#if defined(SLM_ISA_AVX512)
  if (!bf16)
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i))));
  else
    for (; i + 16 <= n; i += 16)
      _mm512_storeu_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i))), 16)));
#elif defined(SLM_ISA_AVX2)
  if (!bf16)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
#endif
  for (; i < n; ++i) out[i] = bf16 ? qt::bf16_to_f32(s[i]) : qt::half_at(reinterpret_cast<const uint8_t*>(s + i));
}

// pack_b's transposed case for half-precision B (N,K) rows: op(B)(p,j) = b[j*ldb + p], converted
// as packed, in the same panel layout.
void pack_b_half_t(int64_t kc, int64_t nc, const uint16_t* b, int64_t ldb, bool bf16, float* dst) {
  constexpr int64_t STRIP = 64;
  float row[STRIP];
  for (int64_t jp = 0; jp < ceil_div(nc, NR); ++jp) {
    const int64_t j0 = jp * NR;
    float* d = dst + j0 * kc;
    const int n = static_cast<int>(nc - j0 < NR ? nc - j0 : NR);
    for (int64_t p0 = 0; p0 < kc; p0 += STRIP) {
      const int64_t pe = p0 + STRIP < kc ? p0 + STRIP : kc;
      for (int j = 0; j < NR; ++j) {
        if (j < n) {
          half_row(b + (j0 + j) * ldb + p0, pe - p0, bf16, row);
          for (int64_t p = p0; p < pe; ++p) d[p * NR + j] = row[p - p0];
        } else {
          for (int64_t p = p0; p < pe; ++p) d[p * NR + j] = 0.f;
        }
      }
    }
  }
}

void gemm_one(bool parallel, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, bool tA, const float* B,
              int64_t ldb, bool tB, float* C, int64_t ldc, bool accumulate) {
  if (M == 1) {
    // c (1,N) = a (1,K) . op(B): x = A's only row (or column when transposed).
    matvec(parallel, N, K, A, tA ? lda : 1, B, ldb, tB, C, 1, accumulate);
    return;
  }
  if (N == 1) {
    // c (M,1) = op(A) . b (K,1): x = B's only column (or row when transposed); y = C's column.
    matvec(parallel, M, K, B, tB ? 1 : ldb, A, lda, !tA, C, ldc, accumulate);
    return;
  }
  if (M <= kSmallM && tB && !tA) {
    // c (M,N) = a (M,K) . b^T, b (N,K) rows contiguous: a few sequences against a weight.
    auto body = [&](int64_t l0, int64_t l1) { mm_dot_small(l0, l1, M, K, A, lda, B, ldb, C, ldc, accumulate); };
    if (!parallel || M * N * K < kSerialMatvec) {
      body(0, N);
      return;
    }
    // Whole groups of 4 weight rows per chunk (mv_dot's grouping, so the split changes no sum).
    parallel_for(ceil_div(N, 4), 1, [&](int64_t u0, int64_t u1) { body(u0 * 4, u1 * 4 < N ? u1 * 4 : N); });
    return;
  }
  const int nt = parallel && M * N * K >= kSerialFlops ? num_threads() : 1;
  if (nt <= 1) {
    gemm_serial(M, N, K, A, lda, tA, B, ldb, tB, C, ldc, accumulate);
    return;
  }
  // One slice of C per thread, each computed start to finish with its own packed
  // A and B: one pool dispatch per call and no barrier inside it. (Sharing one
  // packed B block needs two barriers per depth block; on a busy 2-core machine
  // each barrier waits for a descheduled thread, which cost more than the
  // duplicated packing, <1% of the work for these shapes.) Slice along the
  // dimension with more micro-tiles, whole tiles per slice.
  bool by_rows = ceil_div(M, MR) >= ceil_div(N, NR);
#ifdef GEMM_TUNE
  if (getenv("GSPLIT")) by_rows = getenv("GSPLIT")[0] == 'm';
#endif
  if (by_rows) {
    const int64_t rows = round_up(ceil_div(M, nt), MR);
    parallel_tasks(ceil_div(M, rows), [&](int64_t t) {
      const int64_t i0 = t * rows, m = M - i0 < rows ? M - i0 : rows;
      gemm_serial(m, N, K, tA ? A + i0 : A + i0 * lda, lda, tA, B, ldb, tB, C + i0 * ldc, ldc, accumulate);
    });
  } else {
    const int64_t cols = round_up(ceil_div(N, nt), NR);
    parallel_tasks(ceil_div(N, cols), [&](int64_t t) {
      const int64_t j0 = t * cols, n = N - j0 < cols ? N - j0 : cols;
      gemm_serial(M, n, K, A, lda, tA, tB ? B + j0 * ldb : B + j0, ldb, tB, C + j0, ldc, accumulate);
    });
  }
}

}  // namespace

// C (M,N) = A (M,K) · Bᵀ with B (N,K) rows of half-precision values, serial (see gemm.h).
void gemm_f32_halfb(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* B, int64_t ldb, bool bf16, float* C,
                    int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  gemm_blocked(
      M, N, K, A, lda, false, [&](int64_t kc, int64_t nc, int64_t pc, int64_t jc, float* dst) { pack_b_half_t(kc, nc, B + jc * ldb + pc, ldb, bf16, dst); },
      C, ldc, false);
}

void gemm_f32(int64_t batch, int64_t M, int64_t N, int64_t K,
              const float* A, int64_t lda, int64_t strideA, bool transA,
              const float* B, int64_t ldb, int64_t strideB, bool transB,
              float* C, int64_t ldc, int64_t strideC, bool accumulate) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  if (K <= 0) {
    // An empty sum: C = 0 (or unchanged when accumulating).
    if (!accumulate)
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) C[b * strideC + i * ldc + j] = 0.f;
    return;
  }
  auto one = [&](bool parallel, int64_t b) {
    gemm_one(parallel, M, N, K, A + b * strideA, lda, transA, B + b * strideB, ldb, transB, C + b * strideC, ldc,
             accumulate);
  };
  const int nt = num_threads();
  // Many matrices: one per task (each runs single-threaded with its own buffers),
  // unless there are too few to balance and each is big enough to split itself.
  // Overlapping outputs (strideC 0 sums into one C) must stay in order.
  const bool disjoint_c = strideC >= (M - 1) * ldc + N;
  const bool per_matrix = batch >= 4 * nt || batch % nt == 0 || M * N * K < (int64_t(1) << 21);
  if (batch > 1 && nt > 1 && disjoint_c && per_matrix && batch * M * N * K >= kSerialFlops) {
    parallel_tasks(batch, [&](int64_t b) { one(false, b); });
  } else {
    for (int64_t b = 0; b < batch; ++b) one(true, b);
  }
}

}  // namespace SLM_ISA
}  // namespace slm
