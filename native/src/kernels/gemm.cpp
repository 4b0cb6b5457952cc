// Matmul kernel, compiled once per instruction set (namespace slm::SLM_ISA):
// a BLIS-style packed GEMM (see gemm_kernel.h for panels and micro-kernel)
// plus a direct matrix-vector path for M == 1 or N == 1 (single-token decode).
// Threads come from the persistent pool. Knows nothing about autograd or
// which layer it serves; the contract is gemm.h.
//
// Loop nest for one matrix (C (M,N) = op(A) (M,K) . op(B) (K,N)):
//   for jc in N step NC:                 B block columns
//     for pc in K step KC:               depth; first pass overwrites C unless accumulating
//       pack B block (KC x NC)           in parallel, shared by all threads (L3)
//       parallel over tasks (M block x N part):
//         pack A block (MC x KC)         per thread (L2)
//         for jr: for ir: micro-kernel   B micro-panel in L1, MR x NR tile in registers
#include <cstdint>
#include <cstdlib>

#include "kernels/gemm_kernel.h"
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
thread_local Buffer t_bpack;  // per calling thread: packed B block (KC x NC), read by all workers
thread_local Buffer t_vec;    // per calling thread: a contiguous copy of a strided vector

// Below this many multiply-adds a call runs on one thread: waking the pool costs more.
constexpr int64_t kSerialFlops = 1 << 15;

// Runs fn(t) for t in [0,n): on the pool when parallel, else inline.
template <class F>
void run_tasks(bool parallel, int64_t n, const F& fn) {
  if (parallel && n > 1)
    parallel_tasks(n, [&](int64_t t) { fn(t); });
  else
    for (int64_t t = 0; t < n; ++t) fn(t);
}

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
  if (!parallel || L * K < kSerialFlops) {
    body(0, L);
    return;
  }
  // Chunks of whole vector groups, at least ~16K multiply-adds each.
  const int64_t unit = dot_form ? 4 : 8 * W;
  const int64_t units = ceil_div(L, unit);
  int64_t grain = ceil_div(16384, K * unit);
  parallel_for(units, grain < 1 ? 1 : grain, [&](int64_t u0, int64_t u1) {
    const int64_t e = u1 * unit < L ? u1 * unit : L;
    body(u0 * unit, e);
  });
}

// ---- one matrix --------------------------------------------------------------

void gemm_one(bool parallel, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, bool tA, const float* B,
              int64_t ldb, bool tB, float* C, int64_t ldc, bool accumulate) {
  if (M * N * K < kSerialFlops) parallel = false;
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
  const int nt = parallel ? num_threads() : 1;

  // Depth blocks of equal size (<= KC); column blocks of equal size (<= NC, whole panels).
#ifdef GEMM_TUNE
  static const int64_t KC = getenv("GKC") ? atoll(getenv("GKC")) : gemm::KC;
  static const int64_t MC = getenv("GMC") ? atoll(getenv("GMC")) : gemm::MC;
#endif
  const int64_t kc_blk = ceil_div(K, ceil_div(K, KC));
  const int64_t nc_blk = round_up(ceil_div(N, ceil_div(N, NC)), NR);

  // M blocks: a multiple of the thread count when there are enough of them;
  // otherwise also split the columns so every thread gets work.
  int64_t nbm = ceil_div(M, MC);
  int64_t nsplit = 1;
  if (nt > 1) {
    if (nbm >= 2 * nt) {
      nbm = round_up(nbm, nt);
    } else {
      nsplit = ceil_div(2 * nt, nbm);
    }
  }
  const int64_t mc_blk = round_up(ceil_div(M, nbm), MR);
  nbm = ceil_div(M, mc_blk);

  float* bpack = t_bpack.get(static_cast<size_t>(kc_blk * nc_blk));
  for (int64_t jc = 0; jc < N; jc += nc_blk) {
    const int64_t nc = N - jc < nc_blk ? N - jc : nc_blk;
    const int64_t npanels = ceil_div(nc, NR);
    const int64_t parts = nsplit < npanels ? nsplit : npanels;
    for (int64_t pc = 0; pc < K; pc += kc_blk) {
      const int64_t kc = K - pc < kc_blk ? K - pc : kc_blk;
      const bool add = accumulate || pc > 0;
      const float* bsrc = tB ? B + jc * ldb + pc : B + pc * ldb + jc;
      // Pack the B block: contiguous groups of panels, one per thread.
      const int64_t pgroups = nt < npanels ? nt : npanels;
      run_tasks(parallel, pgroups, [&](int64_t g) {
        pack_b(kc, nc, g * npanels / pgroups, (g + 1) * npanels / pgroups, bsrc, ldb, tB, bpack);
      });
      run_tasks(parallel, nbm * parts, [&](int64_t t) {
        const int64_t ib = t / parts, part = t % parts;
        const int64_t i0 = ib * mc_blk;
        const int64_t mc = M - i0 < mc_blk ? M - i0 : mc_blk;
        const int64_t j0 = part * npanels / parts * NR;
        const int64_t j1e = (part + 1) * npanels / parts * NR;
        const int64_t j1 = j1e < nc ? j1e : nc;
        float* apack = t_apack.get(static_cast<size_t>(round_up(mc_blk, MR) * kc_blk));
        const float* asrc = tA ? A + pc * lda + i0 : A + i0 * lda + pc;
        pack_a(mc, kc, asrc, lda, tA, apack);
        macro(mc, j0, j1, kc, apack, bpack, C + i0 * ldc + jc, ldc, add);
      });
    }
  }
}

}  // namespace

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
