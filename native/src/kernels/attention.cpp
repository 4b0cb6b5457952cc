// Causal self-attention kernels, compiled once per instruction set
// (namespace slm::SLM_ISA): a tiled forward with an online softmax, a
// backward that recomputes the probabilities tile by tile from the saved
// log-sum-exp, and a decode path over a KV cache.
//
// Tiles are BQ queries × BK keys. Scores are kept transposed, sᵀ (keys × queries),
// so that the per-query softmax state is a row of vectors across queries and
// every product is a small matmul C (+)= A·B done by one register-blocked
// micro-kernel (MR rows × two vectors of columns, accumulators in registers, A
// entries broadcast from any strides, so transposed operands need no copies).
// Key tiles wholly above the diagonal are skipped; inside a diagonal tile,
// register blocks above it are skipped and reductions stop at the diagonal.
// Knows nothing about models, caches' bookkeeping, or argument validation
// (done at the N-API boundary and in src/native/ops/attention.ts).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/simd.h"
#include "pool.h"

namespace slm {
namespace SLM_ISA {
namespace {

constexpr int W = VF::W;
constexpr int64_t CB = 2 * W;  // columns per register block: two vectors
constexpr int MR = 6;          // rows per register block (12 accumulators with the two column vectors)
constexpr int64_t BQ = 64;     // queries per tile (a multiple of CB on every ISA)
constexpr int64_t BK = 64;     // keys per tile
constexpr float M_INIT = -1e30f;  // running max before any key: finite, so max - max is never NaN

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Grows a thread's scratch buffer to n floats and returns it.
inline float* scratch(std::vector<float>& buf, int64_t n) {
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(static_cast<size_t>(n));
  return buf.data();
}

// C (R × CB) (+)= Σ_{kk in [k0,k1)} A(r, kk) · B(kk, 0..CB): A(r, kk) = A[r·ra + kk·ka], B rows ldb apart.
template <int R>
inline void micro(float* C, int64_t ldc, const float* A, int64_t ra, int64_t ka, const float* B, int64_t ldb,
                  int64_t k0, int64_t k1, bool acc) {
  VF c0[R], c1[R];
  for (int r = 0; r < R; ++r) {
    c0[r] = acc ? VF::load(C + r * ldc) : VF::zero();
    c1[r] = acc ? VF::load(C + r * ldc + W) : VF::zero();
  }
  for (int64_t kk = k0; kk < k1; ++kk) {
    const float* b = B + kk * ldb;
    const VF b0 = VF::load(b), b1 = VF::load(b + W);
    const float* a = A + kk * ka;
    for (int r = 0; r < R; ++r) {
      const VF av = VF::set1(a[r * ra]);
      c0[r] = fmadd(av, b0, c0[r]);
      c1[r] = fmadd(av, b1, c1[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    c0[r].store(C + r * ldc);
    c1[r].store(C + r * ldc + W);
  }
}

// C (m × n) (+)= A (m × K) · B (K × n), n a multiple of CB; A(r, kk) = A[r·ra + kk·ka].
// range(r0, rows, c0, k0, k1) sets each register block's reduction range; an empty
// range leaves that block of C untouched (callers mask such blocks by index).
template <class Range>
inline void tile_mm(float* C, int64_t ldc, const float* A, int64_t ra, int64_t ka, const float* B, int64_t ldb,
                    int64_t m, int64_t n, bool acc, Range range) {
  for (int64_t c0 = 0; c0 < n; c0 += CB) {
    for (int64_t r0 = 0; r0 < m; r0 += MR) {
      const int rows = static_cast<int>(std::min<int64_t>(MR, m - r0));
      int64_t k0 = 0, k1 = 0;
      range(r0, rows, c0, k0, k1);
      if (k0 >= k1) continue;
      float* c = C + r0 * ldc + c0;
      const float* a = A + r0 * ra;
      const float* b = B + c0;
      switch (rows) {
        case 6: micro<6>(c, ldc, a, ra, ka, b, ldb, k0, k1, acc); break;
        case 5: micro<5>(c, ldc, a, ra, ka, b, ldb, k0, k1, acc); break;
        case 4: micro<4>(c, ldc, a, ra, ka, b, ldb, k0, k1, acc); break;
        case 3: micro<3>(c, ldc, a, ra, ka, b, ldb, k0, k1, acc); break;
        case 2: micro<2>(c, ldc, a, ra, ka, b, ldb, k0, k1, acc); break;
        default: micro<1>(c, ldc, a, ra, ka, b, ldb, k0, k1, acc); break;
      }
    }
  }
}

// In sᵀ (kc × BQ) for keys j0.. and queries at positions p0..: sets every entry whose key is
// after its query (key j0+r > p0+c) to `val`.
inline void mask_future(float* s, int64_t j0, int64_t kc, int64_t p0, float val) {
  for (int64_t r = 0; r < kc; ++r) {
    const int64_t n = std::min<int64_t>(BQ, j0 + r - p0);
    for (int64_t c = 0; c < n; ++c) s[r * BQ + c] = val;
  }
}

#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
// xt[i·ldt + c] = mul · x[c·xs + i] for an 8 × 8 block (8 rows of x, 8 floats each).
inline void transpose8(float* xt, int64_t ldt, const float* x, int64_t xs, float mul) {
  const __m256 m = _mm256_set1_ps(mul);
  __m256 r0 = _mm256_mul_ps(m, _mm256_loadu_ps(x)), r1 = _mm256_mul_ps(m, _mm256_loadu_ps(x + xs));
  __m256 r2 = _mm256_mul_ps(m, _mm256_loadu_ps(x + 2 * xs)), r3 = _mm256_mul_ps(m, _mm256_loadu_ps(x + 3 * xs));
  __m256 r4 = _mm256_mul_ps(m, _mm256_loadu_ps(x + 4 * xs)), r5 = _mm256_mul_ps(m, _mm256_loadu_ps(x + 5 * xs));
  __m256 r6 = _mm256_mul_ps(m, _mm256_loadu_ps(x + 6 * xs)), r7 = _mm256_mul_ps(m, _mm256_loadu_ps(x + 7 * xs));
  // pairs of rows interleaved, then groups of four, then the two 128-bit halves swapped
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(xt + 0 * ldt, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(xt + 1 * ldt, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(xt + 2 * ldt, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(xt + 3 * ldt, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(xt + 4 * ldt, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(xt + 5 * ldt, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(xt + 6 * ldt, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(xt + 7 * ldt, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

// xt (d × BQ) = mul · xᵀ for qc rows of x (rows xs apart); columns qc.. are zero.
inline void pack_t(float* xt, const float* x, int64_t xs, int64_t qc, int64_t d, float mul) {
  int64_t c0 = 0;
#if defined(SLM_ISA_AVX2) || defined(SLM_ISA_AVX512)
  for (; c0 + 8 <= qc; c0 += 8) {
    int64_t i = 0;
    for (; i + 8 <= d; i += 8) transpose8(xt + i * BQ + c0, BQ, x + c0 * xs + i, xs, mul);
    for (; i < d; ++i)
      for (int64_t c = c0; c < c0 + 8; ++c) xt[i * BQ + c] = mul * x[c * xs + i];
  }
#endif
  for (int64_t c = c0; c < BQ; ++c) {
    if (c < qc) {
      for (int64_t i = 0; i < d; ++i) xt[i * BQ + c] = mul * x[c * xs + i];
    } else {
      for (int64_t i = 0; i < d; ++i) xt[i * BQ + c] = 0.f;
    }
  }
}

// y (rows × dp) = x (rows × d, rows xs apart), columns d..dp zero.
inline void pack_pad(float* y, int64_t dp, const float* x, int64_t xs, int64_t rows, int64_t d) {
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(y + r * dp, x + r * xs, sizeof(float) * d);
    std::memset(y + r * dp + d, 0, sizeof(float) * (dp - d));
  }
}

// Asks for `rows` rows of `width` floats (rows `stride` apart) to be brought into cache:
// the next tile's rows are fetched while the current tile computes (the arithmetic per
// byte is high, so these cold rows cost latency, not bandwidth).
inline void prefetch_rows(const float* p, int64_t stride, int64_t rows, int64_t width, bool write) {
  for (int64_t r = 0; r < rows; ++r) {
    const char* row = reinterpret_cast<const char*>(p + r * stride);
    for (int64_t x = 0; x < width * 4; x += 64) {
      if (write) __builtin_prefetch(row + x, 1, 3);
      else __builtin_prefetch(row + x, 0, 3);
    }
  }
}

// Per-thread buffers of the forward core.
struct FwdBuf {
  std::vector<float> qt, s, kp, vp, o, st;
  float *pqt, *ps, *pkp, *pvp, *po, *m, *l, *al;
  void ensure(int64_t d, int64_t dp, int64_t nkeys) {
    pqt = scratch(qt, d * BQ);
    ps = scratch(s, BK * BQ);
    pkp = scratch(kp, nkeys * dp);
    pvp = scratch(vp, nkeys * dp);
    po = scratch(o, BQ * dp);
    m = scratch(st, 3 * BQ);
    l = m + BQ;
    al = l + BQ;
  }
  void reset(int64_t dp) {
    for (int64_t c = 0; c < BQ; ++c) m[c] = M_INIT, l[c] = 0.f;
    std::memset(po, 0, sizeof(float) * BQ * dp);
  }
};

// Online-softmax attention of qc (<= BQ) queries at positions p0, p0+1, … (rows qs apart,
// from q) to keys [kb, ke) of one head (key j at k + j·ks; its value packed at vp + j·dp,
// zero-padded to dp columns); a key is visible to a query when its index <= the query's
// position. Updates the running max f.m, sum f.l (BQ) and unnormalised output f.o (BQ × dp).
void attend(const float* q, int64_t qs, int64_t qc, int64_t p0, const float* k, int64_t ks, const float* vp,
            int64_t kb, int64_t ke, int64_t d, float scale, FwdBuf& f) {
  const int64_t dp = round_up(d, CB);
  float *qt = f.pqt, *s = f.ps, *o = f.po;
  pack_t(qt, q, qs, qc, d, scale);
  const int64_t plast = p0 + qc - 1;
  for (int64_t j0 = kb; j0 < ke && j0 <= plast; j0 += BK) {
    const int64_t kc = std::min<int64_t>(BK, ke - j0);
    const bool diag = j0 + kc - 1 > p0;
    // sᵀ (kc × BQ) = k_tile (kc × d) · qt (d × BQ); blocks wholly in the future are skipped
    tile_mm(s, BQ, k + j0 * ks, ks, 1, qt, BQ, kc, BQ, false,
            [&](int64_t r0, int, int64_t c0, int64_t& k0, int64_t& k1) {
              k0 = 0;
              k1 = (diag && j0 + r0 > p0 + c0 + CB - 1) ? 0 : d;
            });
    if (diag) mask_future(s, j0, kc, p0, -INFINITY);
    // online softmax, a vector of queries at a time: new max, rescale factor, probabilities
    for (int64_t c = 0; c < BQ; c += W) {
      const VF mo = VF::load(f.m + c);
      VF mx = mo;
      for (int64_t r = 0; r < kc; ++r) mx = vmax(mx, VF::load(s + r * BQ + c));
      VF sum = VF::zero();
      for (int64_t r = 0; r < kc; ++r) {
        const VF p = vexp(VF::load(s + r * BQ + c) - mx);
        p.store(s + r * BQ + c);
        sum = sum + p;
      }
      const VF a = vexp(mo - mx);
      fmadd(VF::load(f.l + c), a, sum).store(f.l + c);
      mx.store(f.m + c);
      a.store(f.al + c);
    }
    if (diag) mask_future(s, j0, kc, p0, 0.f);  // exact zeros (vexp(-inf) is ~1e-38)
    for (int64_t c = 0; c < qc; ++c) {
      const VF a = VF::set1(f.al[c]);
      for (int64_t x = 0; x < dp; x += W) (VF::load(o + c * dp + x) * a).store(o + c * dp + x);
    }
    // o (qc × dp) += p (qc × kc) · v_tile (kc × dp); p(r, kk) = sᵀ[kk·BQ + r]
    tile_mm(o, dp, s, 1, BQ, vp + j0 * dp, dp, qc, dp, true, [&](int64_t r0, int rows, int64_t, int64_t& k0, int64_t& k1) {
      k0 = 0;
      k1 = std::min<int64_t>(kc, p0 + r0 + rows - j0);
    });
  }
}

// Writes qc normalised output rows (rows os apart) and, when lse is set, their log-sum-exp.
void finish(float* out, int64_t os, float* lse, const FwdBuf& f, int64_t qc, int64_t d) {
  const int64_t dp = round_up(d, CB);
  for (int64_t c = 0; c < qc; ++c) {
    const float inv = 1.f / f.l[c];
    for (int64_t x = 0; x < d; ++x) out[c * os + x] = f.po[c * dp + x] * inv;
    if (lse) lse[c] = f.m[c] + std::log(f.l[c]);
  }
}

// One head of one sequence as the forward sees it: query i at q + i·qs sits at position
// p0 + i; key j at k + j·ks, value j at v + j·vs; output row i at out + i·os, its
// log-sum-exp at lse[i] (lse may be null).
struct HeadView {
  const float *q, *k, *v;
  int64_t qs, ks, vs, p0;
  float* out;
  int64_t os;
  float* lse;
};

// Attention of nq queries per (sequence, head). Units are (sequence, head, part): a unit
// packs its head's keys and values once (contiguous rows: read in place, rows a fused-buffer stride
// apart fall into a few cache sets) and runs its query tiles, the longest first. Heads
// are split into parts only when there are too few of them to keep every thread busy.
// Keys are packed the same way (they are the broadcast operand of q·kᵀ).
template <class View>
void forward_heads(int64_t b, int64_t h, int64_t nq, int64_t d, float scale, View view) {
  const int64_t nqt = (nq + BQ - 1) / BQ, dp = round_up(d, CB), heads = b * h, threads = num_threads();
  int64_t nc = 1;
  if (heads < 2 * threads) nc = std::min<int64_t>(nqt, (4 * threads + heads - 1) / heads);
  parallel_tasks(heads * nc, [&](int64_t u) {
    thread_local FwdBuf f;
    const int64_t c = u % nc, bh = u / nc;
    const HeadView hv = view(bh / h, bh % h);
    const int64_t itmax = c + (nqt - 1 - c) / nc * nc;  // this part's last tile
    const int64_t nkeys = hv.p0 + std::min<int64_t>(nq, (itmax + 1) * BQ);
    f.ensure(d, dp, nkeys);
    pack_pad(f.pkp, dp, hv.k, hv.ks, nkeys, d);
    pack_pad(f.pvp, dp, hv.v, hv.vs, nkeys, d);
    for (int64_t it = itmax; it >= 0; it -= nc) {
      const int64_t i0 = it * BQ, qc = std::min<int64_t>(BQ, nq - i0);
      if (it - nc >= 0) {
        const int64_t n0 = (it - nc) * BQ;
        prefetch_rows(hv.q + n0 * hv.qs, hv.qs, BQ, d, false);
        prefetch_rows(hv.out + n0 * hv.os, hv.os, BQ, d, true);
      }
      f.reset(dp);
      attend(hv.q + i0 * hv.qs, hv.qs, qc, hv.p0 + i0, f.pkp, dp, f.pvp, 0, hv.p0 + i0 + qc, d, scale, f);
      finish(hv.out + i0 * hv.os, hv.os, hv.lse ? hv.lse + i0 : nullptr, f, qc, d);
    }
  });
}

// Σ q·k for four keys at once (d floats each).
inline void dot4(const float* q, const float* k0, const float* k1, const float* k2, const float* k3, int64_t d,
                 float* r) {
  VF a0 = VF::zero(), a1 = VF::zero(), a2 = VF::zero(), a3 = VF::zero();
  int64_t x = 0;
  for (; x + W <= d; x += W) {
    const VF qv = VF::load(q + x);
    a0 = fmadd(qv, VF::load(k0 + x), a0);
    a1 = fmadd(qv, VF::load(k1 + x), a1);
    a2 = fmadd(qv, VF::load(k2 + x), a2);
    a3 = fmadd(qv, VF::load(k3 + x), a3);
  }
  if (x < d) {
    const int n = static_cast<int>(d - x);
    const VF qv = VF::load_partial(q + x, n);
    a0 = fmadd(qv, VF::load_partial(k0 + x, n), a0);
    a1 = fmadd(qv, VF::load_partial(k1 + x, n), a1);
    a2 = fmadd(qv, VF::load_partial(k2 + x, n), a2);
    a3 = fmadd(qv, VF::load_partial(k3 + x, n), a3);
  }
  r[0] = hsum(a0), r[1] = hsum(a1), r[2] = hsum(a2), r[3] = hsum(a3);
}

inline float dot1(const float* q, const float* k, int64_t d) {
  VF a = VF::zero();
  int64_t x = 0;
  for (; x + W <= d; x += W) a = fmadd(VF::load(q + x), VF::load(k + x), a);
  if (x < d) a = fmadd(VF::load_partial(q + x, static_cast<int>(d - x)), VF::load_partial(k + x, static_cast<int>(d - x)), a);
  return hsum(a);
}

// o (d) = Σ_j p[j] · v[j] over n rows of v (d floats each, rows d apart).
inline void weighted_rows(float* o, const float* p, const float* v, int64_t n, int64_t d) {
  int64_t x = 0;
  for (; x + 4 * W <= d; x += 4 * W) {
    VF a0 = VF::zero(), a1 = VF::zero(), a2 = VF::zero(), a3 = VF::zero();
    for (int64_t j = 0; j < n; ++j) {
      const VF pj = VF::set1(p[j]);
      const float* vr = v + j * d + x;
      a0 = fmadd(pj, VF::load(vr), a0);
      a1 = fmadd(pj, VF::load(vr + W), a1);
      a2 = fmadd(pj, VF::load(vr + 2 * W), a2);
      a3 = fmadd(pj, VF::load(vr + 3 * W), a3);
    }
    a0.store(o + x), a1.store(o + x + W), a2.store(o + x + 2 * W), a3.store(o + x + 3 * W);
  }
  for (; x < d; x += W) {
    const int w = static_cast<int>(std::min<int64_t>(W, d - x));
    VF a = VF::zero();
    for (int64_t j = 0; j < n; ++j) a = fmadd(VF::set1(p[j]), VF::load_partial(v + j * d + x, w), a);
    a.store_partial(o + x, w);
  }
}

}  // namespace

void attention_forward(float* out, float* lse, const float* q, int64_t qs, const float* k, int64_t ks,
                       const float* v, int64_t vs, int64_t b, int64_t t, int64_t h, int64_t kvh, int64_t d,
                       float scale) {
  const int64_t grp = h / kvh;
  forward_heads(b, h, t, d, scale, [&](int64_t bi, int64_t hh) {
    const int64_t g = hh / grp;
    return HeadView{q + bi * t * qs + hh * d, k + bi * t * ks + g * d, v + bi * t * vs + g * d, qs, ks, vs, 0,
                    out + (bi * t * h + hh) * d, h * d, lse + (bi * h + hh) * t};
  });
}

void attention_decode(float* out, const float* q, const float* kcache, const float* vcache, const int32_t* starts,
                      int64_t b, int64_t tq, int64_t h, int64_t kvh, int64_t d, int64_t maxt, float scale) {
  const int64_t grp = h / kvh;
  if (tq >= 16) {
    // A prompt continuation: the tiled forward, queries offset by the cached prefix.
    forward_heads(b, h, tq, d, scale, [&](int64_t bi, int64_t hh) {
      const int64_t cache = (bi * kvh + hh / grp) * maxt * d;
      return HeadView{q + (bi * tq * h + hh) * d, kcache + cache, vcache + cache, h * d, d, d, starts[bi],
                      out + (bi * tq * h + hh) * d, h * d, nullptr};
    });
    return;
  }
  // A few queries per sequence: units (batch, kv head, key chunk), each scanning its chunk
  // once per query row of the head group (the chunk stays in cache); with several chunks,
  // each leaves (max, sum, unnormalised output) per row and a final pass merges them.
  int64_t maxlen = 1;
  for (int64_t bi = 0; bi < b; ++bi) maxlen = std::max<int64_t>(maxlen, starts[bi] + tq);
  const int64_t units0 = b * kvh, want = 4 * static_cast<int64_t>(num_threads());
  int64_t nc = 1;
  if (units0 < want) nc = std::max<int64_t>(1, std::min<int64_t>((want + units0 - 1) / units0, maxlen / 128));
  const int64_t chunk = round_up((maxlen + nc - 1) / nc, 16);
  nc = (maxlen + chunk - 1) / chunk;
  const int64_t rows = b * h * tq;
  std::vector<float> pm, pl, po;
  if (nc > 1) {
    pm.assign(static_cast<size_t>(rows * nc), M_INIT);
    pl.assign(static_cast<size_t>(rows * nc), 0.f);
    po.assign(static_cast<size_t>(rows * nc * d), 0.f);
  }
  parallel_tasks(units0 * nc, [&](int64_t u) {
    thread_local std::vector<float> sbuf, obuf;
    const int64_t c = u % nc, bk = u / nc, bi = bk / kvh, g = bk % kvh;
    const int64_t kb = c * chunk, ke = std::min<int64_t>(starts[bi] + tq, kb + chunk);
    const float* kbase = kcache + (bi * kvh + g) * maxt * d;
    const float* vbase = vcache + (bi * kvh + g) * maxt * d;
    float* sc = scratch(sbuf, chunk + 4);
    float* acc = scratch(obuf, d);
    for (int64_t gi = 0; gi < grp; ++gi) {
      const int64_t hh = g * grp + gi;
      for (int64_t i = 0; i < tq; ++i) {
        const int64_t row = (bi * h + hh) * tq + i;
        const int64_t kend = std::min<int64_t>(ke, starts[bi] + i + 1);
        if (kend <= kb) continue;  // nothing visible in this chunk: partial stays (M_INIT, 0, 0)
        const int64_t n = kend - kb;
        const float* qr = q + ((bi * tq + i) * h + hh) * d;
        int64_t j = 0;
        for (; j + 4 <= n; j += 4) {
          const float* kr = kbase + (kb + j) * d;
          dot4(qr, kr, kr + d, kr + 2 * d, kr + 3 * d, d, sc + j);
        }
        for (; j < n; ++j) sc[j] = dot1(qr, kbase + (kb + j) * d, d);
        float mx = M_INIT;
        for (j = 0; j < n; ++j) mx = std::max(mx, sc[j] *= scale);
        VF sum = VF::zero();
        const VF mv = VF::set1(mx);
        for (j = 0; j + W <= n; j += W) {
          const VF p = vexp(VF::load(sc + j) - mv);
          p.store(sc + j);
          sum = sum + p;
        }
        float l = hsum(sum);
        for (; j < n; ++j) l += (sc[j] = std::exp(sc[j] - mx));
        weighted_rows(acc, sc, vbase + kb * d, n, d);
        if (nc == 1) {
          float* o = out + ((bi * tq + i) * h + hh) * d;
          const float inv = 1.f / l;
          for (int64_t x = 0; x < d; ++x) o[x] = acc[x] * inv;
        } else {
          pm[row * nc + c] = mx;
          pl[row * nc + c] = l;
          std::memcpy(po.data() + (row * nc + c) * d, acc, sizeof(float) * d);
        }
      }
    }
  });
  if (nc == 1) return;
  parallel_for(rows, 4, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t bh = row / tq, i = row % tq, bi = bh / h, hh = bh % h;
      float mx = M_INIT;
      for (int64_t c = 0; c < nc; ++c) mx = std::max(mx, pm[row * nc + c]);
      float l = 0.f;
      float* o = out + ((bi * tq + i) * h + hh) * d;
      for (int64_t x = 0; x < d; ++x) o[x] = 0.f;
      for (int64_t c = 0; c < nc; ++c) {
        if (pl[row * nc + c] == 0.f) continue;
        const float w = std::exp(pm[row * nc + c] - mx);
        l += w * pl[row * nc + c];
        const float* pc = po.data() + (row * nc + c) * d;
        for (int64_t x = 0; x < d; ++x) o[x] += w * pc[x];
      }
      const float inv = 1.f / l;
      for (int64_t x = 0; x < d; ++x) o[x] *= inv;
    }
  });
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, int64_t qs,
                        const float* k, int64_t ks, const float* v, int64_t vs, const float* out, const float* lse,
                        int64_t b, int64_t t, int64_t h, int64_t kvh, int64_t d, float scale) {
  const int64_t grp = h / kvh, nqt = (t + BQ - 1) / BQ, dp = round_up(d, CB);
  // Units (batch, kv head, part): a unit owns dk, dv of its kv head and the dq rows of the
  // (query head, query tile) pairs it handles, so nothing races. When there are too few
  // (batch, kv head) pairs to keep every thread busy, the pairs are dealt over `nc` parts,
  // each adding its dk, dv into a private slice that a last pass sums.
  const int64_t units0 = b * kvh, pairs = grp * nqt, threads = num_threads();
  int64_t nc = 1;
  if (units0 < 2 * threads) nc = std::min<int64_t>(pairs, (4 * threads + units0 - 1) / units0);
  std::vector<float> part;
  if (nc > 1) part.assign(static_cast<size_t>(units0 * nc * 2 * t * d), 0.f);
  parallel_tasks(units0 * nc, [&](int64_t u) {
    thread_local std::vector<float> bqt, bdot, bs, bdp, bqp, bdop, bkp, bvp, bdk, bdv, bdq, bst;
    const int64_t c = u % nc, bk = u / nc, bi = bk / kvh, g = bk % kvh;
    float* qt = scratch(bqt, d * BQ);
    float* dot = scratch(bdot, d * BQ);
    float* s = scratch(bs, BK * BQ);
    float* dps = scratch(bdp, BK * BQ);
    float* dkacc = scratch(bdk, t * dp);
    float* dvacc = scratch(bdv, t * dp);
    float* dqacc = scratch(bdq, BQ * dp);
    float* lrow = scratch(bst, 2 * BQ);
    float* di = lrow + BQ;
    const float* kb = k + bi * t * ks + g * d;
    const float* vb = v + bi * t * vs + g * d;
    // Keys and values (here) and queries and output gradients (per tile) are packed into
    // contiguous zero-padded rows: the micro-kernel reads dp columns of right-hand
    // operands, and rows a fused-buffer stride apart would fall into a few cache sets.
    float* kB = scratch(bkp, t * dp);
    float* vB = scratch(bvp, t * dp);
    pack_pad(kB, dp, kb, ks, t, d);
    pack_pad(vB, dp, vb, vs, t, d);
    const int64_t ldk = dp;
    std::memset(dkacc, 0, sizeof(float) * t * dp);
    std::memset(dvacc, 0, sizeof(float) * t * dp);
    for (int64_t idx = c; idx < pairs; idx += nc) {
      const int64_t gi = idx / nqt, it = nqt - 1 - idx % nqt, hh = g * grp + gi;
      const int64_t i0 = it * BQ, qc = std::min<int64_t>(BQ, t - i0);
      const float* qrow = q + (bi * t + i0) * qs + hh * d;
      const float* orow = out + ((bi * t + i0) * h + hh) * d;
      const float* dorow = dout + ((bi * t + i0) * h + hh) * d;
      if (idx + nc < pairs) {
        const int64_t ngi = (idx + nc) / nqt, nit = nqt - 1 - (idx + nc) % nqt, nh = g * grp + ngi;
        const int64_t n0 = nit * BQ, nqc = std::min<int64_t>(BQ, t - n0);
        const int64_t orow0 = ((bi * t + n0) * h + nh) * d;
        prefetch_rows(q + (bi * t + n0) * qs + nh * d, qs, nqc, d, false);
        prefetch_rows(dq + (bi * t + n0) * qs + nh * d, qs, nqc, d, true);
        prefetch_rows(dout + orow0, h * d, nqc, d, false);
        prefetch_rows(out + orow0, h * d, nqc, d, false);
      }
      pack_t(qt, qrow, qs, qc, d, scale);
      pack_t(dot, dorow, h * d, qc, d, 1.f);
      for (int64_t cc = 0; cc < BQ; ++cc) {
        lrow[cc] = cc < qc ? lse[(bi * h + hh) * t + i0 + cc] : 0.f;
        di[cc] = 0.f;
        if (cc < qc) {
          float acc = 0.f;
          for (int64_t x = 0; x < d; ++x) acc += dorow[cc * h * d + x] * orow[cc * h * d + x];
          di[cc] = acc;
        }
      }
      float* qB = scratch(bqp, BQ * dp);
      float* doB = scratch(bdop, BQ * dp);
      pack_pad(qB, dp, qrow, qs, qc, d);
      pack_pad(doB, dp, dorow, h * d, qc, d);
      const int64_t ldq = dp, lddo = dp;
      std::memset(dqacc, 0, sizeof(float) * BQ * dp);
      for (int64_t j0 = 0; j0 <= i0 + qc - 1; j0 += BK) {
        const int64_t kc = std::min<int64_t>(BK, t - j0);
        const bool diag = j0 + kc - 1 > i0;
        auto past = [&](int64_t r0, int, int64_t c0, int64_t& k0, int64_t& k1) {
          k0 = 0;
          k1 = (diag && j0 + r0 > i0 + c0 + CB - 1) ? 0 : d;
        };
        auto queries = [&](int64_t r0, int, int64_t, int64_t& k0, int64_t& k1) {
          k0 = std::max<int64_t>(0, j0 + r0 - i0);
          k1 = qc;
        };
        auto keys = [&](int64_t r0, int rows, int64_t, int64_t& k0, int64_t& k1) {
          k0 = 0;
          k1 = std::min<int64_t>(kc, i0 + r0 + rows - j0);
        };
        // pᵀ (kc × BQ) = exp(k_tile · qt − lse)
        tile_mm(s, BQ, kB + j0 * ldk, ldk, 1, qt, BQ, kc, BQ, false, past);
        for (int64_t r = 0; r < kc; ++r) {
          for (int64_t cc = 0; cc < BQ; cc += W) {
            vexp(VF::load(s + r * BQ + cc) - VF::load(lrow + cc)).store(s + r * BQ + cc);
          }
        }
        if (diag) mask_future(s, j0, kc, i0, 0.f);
        // dv_tile (kc × dp) += pᵀ · dout
        tile_mm(dvacc + j0 * dp, dp, s, BQ, 1, doB, lddo, kc, dp, true, queries);
        // dpᵀ (kc × BQ) = v_tile · doutᵀ, then dsᵀ = pᵀ ∘ (dpᵀ − Di)
        tile_mm(dps, BQ, vB + j0 * dp, dp, 1, dot, BQ, kc, BQ, false, past);
        for (int64_t r = 0; r < kc; ++r) {
          for (int64_t cc = 0; cc < BQ; cc += W) {
            const VF p = VF::load(s + r * BQ + cc);
            (p * (VF::load(dps + r * BQ + cc) - VF::load(di + cc))).store(dps + r * BQ + cc);
          }
        }
        if (diag) mask_future(dps, j0, kc, i0, 0.f);
        // dq_tile (qc × dp) += ds · k_tile; dk_tile (kc × dp) += dsᵀ · q (scale applied on write)
        tile_mm(dqacc, dp, dps, 1, BQ, kB + j0 * ldk, ldk, qc, dp, true, keys);
        tile_mm(dkacc + j0 * dp, dp, dps, BQ, 1, qB, ldq, kc, dp, true, queries);
      }
      for (int64_t cc = 0; cc < qc; ++cc) {
        float* dst = dq + (bi * t + i0 + cc) * qs + hh * d;
        for (int64_t x = 0; x < d; ++x) dst[x] += scale * dqacc[cc * dp + x];
      }
    }
    if (nc == 1) {
      for (int64_t r = 0; r < t; ++r) {
        float* dkr = dk + (bi * t + r) * ks + g * d;
        float* dvr = dv + (bi * t + r) * vs + g * d;
        for (int64_t x = 0; x < d; ++x) {
          dkr[x] += scale * dkacc[r * dp + x];
          dvr[x] += dvacc[r * dp + x];
        }
      }
    } else {
      float* pk = part.data() + (bk * nc + c) * 2 * t * d;
      float* pv = pk + t * d;
      for (int64_t r = 0; r < t; ++r) {
        for (int64_t x = 0; x < d; ++x) {
          pk[r * d + x] = scale * dkacc[r * dp + x];
          pv[r * d + x] = dvacc[r * dp + x];
        }
      }
    }
  });
  if (nc == 1) return;
  parallel_for(units0 * t, 16, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t bk = row / t, r = row % t, bi = bk / kvh, g = bk % kvh;
      float* dkr = dk + (bi * t + r) * ks + g * d;
      float* dvr = dv + (bi * t + r) * vs + g * d;
      for (int64_t c = 0; c < nc; ++c) {
        const float* pk = part.data() + (bk * nc + c) * 2 * t * d + r * d;
        const float* pv = pk + t * d;
        for (int64_t x = 0; x < d; ++x) dkr[x] += pk[x], dvr[x] += pv[x];
      }
    }
  });
}

}  // namespace SLM_ISA
}  // namespace slm
