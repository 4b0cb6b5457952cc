// Activation and element-wise kernels (SwiGLU, GELU-tanh, softmax, add, axpy),
// compiled once per instruction set (namespace slm::SLM_ISA). Element-wise
// kernels split [0,n) into contiguous ranges on the pool; softmax takes rows.
//
// GELU-tanh is computed as x·σ(2u) with u = √(2/π)(x + 0.044715x³), which is
// the same function (½(1 + tanh u) = σ(2u)) without the cancellation that
// 1 + tanh u suffers for negative x, and with only one vexp.
#include <cstdint>

#include "kernels/rowops.h"
#include "kernels/simd.h"
#include "pool.h"

namespace slm {
namespace SLM_ISA {

namespace {

// Element-wise calls below this many values stay on the calling thread.
constexpr int64_t kGrain = 1 << 15;
constexpr float kGeluK = 0.7978845608028654f;  // √(2/π)
constexpr float kGeluC = 0.044715f;

// Runs body(j, r) over [0,n) in vectors: r == VF::W for full vectors, r < W for the tail.
template <class F>
void for_vectors(int64_t n, F&& body) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    int64_t j = begin;
    for (; j + VF::W <= end; j += VF::W) body(j, VF::W);
    if (j < end) body(j, static_cast<int>(end - j));
  });
}

inline VF ld(const float* p, int r) { return r == VF::W ? VF::load(p) : VF::load_partial(p, r); }
inline void st(VF v, float* p, int r) {
  if (r == VF::W) v.store(p);
  else v.store_partial(p, r);
}

}  // namespace

// out (n), gate (n), up (n)
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) {
  const VF one = VF::set1(1.0f);
  for_vectors(n, [&](int64_t j, int r) {
    VF g = ld(gate + j, r);
    VF s = one / (one + vexp(VF::zero() - g));
    st(g * s * ld(up + j, r), out + j, r);
  });
}

// silu'(g) = σ(g)·(1 + g·(1 − σ(g))), with 1 − σ(g) = e^-g·σ(g).
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n) {
  const VF one = VF::set1(1.0f);
  for_vectors(n, [&](int64_t j, int r) {
    VF g = ld(gate + j, r), d = ld(dout + j, r);
    VF e = vexp(VF::zero() - g);
    VF s = one / (one + e);
    VF ds = s * fmadd(g, e * s, one);  // e·s ≤ 1 first: g·e alone can overflow
    st(fmadd(d * ld(up + j, r), ds, ld(dgate + j, r)), dgate + j, r);
    st(fmadd(d, g * s, ld(dup + j, r)), dup + j, r);
  });
}

// out (n), inp (n)
void gelu_forward(float* out, const float* inp, int64_t n) {
  const VF one = VF::set1(1.0f), m2k = VF::set1(-2.0f * kGeluK), c = VF::set1(kGeluC);
  for_vectors(n, [&](int64_t j, int r) {
    VF x = ld(inp + j, r);
    VF e = vexp(m2k * fmadd(c * x, x * x, x));  // e^(−2u)
    st(x / (one + e), out + j, r);
  });
}

// gelu(x) = x·s, s = σ(2u):  gelu' = s + 2x·u'·s·(1 − s) = s·(1 + 2x·u'·e·s), e = e^(−2u),
// u' = √(2/π)(1 + 3·0.044715·x²).
void gelu_backward(float* dinp, const float* dout, const float* inp, int64_t n) {
  const VF one = VF::set1(1.0f), m2k = VF::set1(-2.0f * kGeluK), c = VF::set1(kGeluC);
  const VF k2 = VF::set1(2.0f * kGeluK), c3 = VF::set1(3.0f * kGeluC);
  for_vectors(n, [&](int64_t j, int r) {
    VF x = ld(inp + j, r);
    VF x2 = x * x;
    VF e = vexp(m2k * fmadd(c * x, x2, x));
    VF s = one / (one + e);
    VF du2 = k2 * fmadd(c3, x2, one);  // 2u'
    VF gp = s * fmadd(x * du2, e * s, one);  // e·s ≤ 1 first: x·e alone can overflow
    st(fmadd(ld(dout + j, r), gp, ld(dinp + j, r)), dinp + j, r);
  });
}

// out (N,V), inp (N,V); out may alias inp.
void softmax_forward(float* out, const float* inp, int64_t N, int64_t V) {
  if (V <= 0) return;
  int64_t grain = V >= kGrain ? 1 : kGrain / V;
  parallel_for(N, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* x = inp + i * V;
      float* y = out + i * V;
      float m = rowops::row_max(x, V);
      float inv = static_cast<float>(1.0 / rowops::row_exp_sum(y, x, m, V));
      VF vi = VF::set1(inv);
      int64_t j = 0;
      for (; j + VF::W <= V; j += VF::W) (VF::load(y + j) * vi).store(y + j);
      for (; j < V; ++j) y[j] *= inv;
    }
  });
}

// out (n), a (n), b (n)
void add_f32(float* out, const float* a, const float* b, int64_t n) {
  for_vectors(n, [&](int64_t j, int r) { st(ld(a + j, r) + ld(b + j, r), out + j, r); });
}

// y (n), x (n)
void axpy_f32(float* y, float alpha, const float* x, int64_t n) {
  const VF va = VF::set1(alpha);
  for_vectors(n, [&](int64_t j, int r) { st(fmadd(va, ld(x + j, r), ld(y + j, r)), y + j, r); });
}

}  // namespace SLM_ISA
}  // namespace slm
