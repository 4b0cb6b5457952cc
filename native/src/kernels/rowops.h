// Row reductions shared by softmax and cross-entropy (included by their .cpp
// files, inside the per-ISA namespace): the maximum of a row, and Σ e^(x−m)
// (optionally storing each e^(x−m)). Sums are taken in float vectors over
// blocks of 1024 values and the blocks added in double, so rows of 150k
// logits lose no more than a short float sum does.
#pragma once
#include <cstdint>

#include "kernels/simd.h"

namespace slm {
namespace SLM_ISA {
namespace rowops {

constexpr int64_t kBlock = 1024;

// max_j x[j] over n >= 1 values.
inline float row_max(const float* x, int64_t n) {
  VF m0 = VF::set1(x[0]), m1 = m0;
  int64_t j = 0;
  for (; j + 2 * VF::W <= n; j += 2 * VF::W) {
    m0 = vmax(m0, VF::load(x + j));
    m1 = vmax(m1, VF::load(x + j + VF::W));
  }
  for (; j + VF::W <= n; j += VF::W) m0 = vmax(m0, VF::load(x + j));
  float m = hmax(vmax(m0, m1));
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// Σ_j e^(x[j] − m) over n values; when out is not null also stores out[j] = e^(x[j] − m)
// (out may alias x).
inline double row_exp_sum(float* out, const float* x, float m, int64_t n) {
  VF vm = VF::set1(m);
  double total = 0.0;
  for (int64_t b = 0; b < n; b += kBlock) {
    int64_t e = b + kBlock < n ? b + kBlock : n;
    VF a0 = VF::zero(), a1 = VF::zero();
    int64_t j = b;
    for (; j + 2 * VF::W <= e; j += 2 * VF::W) {
      VF p0 = vexp(VF::load(x + j) - vm), p1 = vexp(VF::load(x + j + VF::W) - vm);
      if (out) {
        p0.store(out + j);
        p1.store(out + j + VF::W);
      }
      a0 = a0 + p0;
      a1 = a1 + p1;
    }
    for (; j + VF::W <= e; j += VF::W) {
      VF p = vexp(VF::load(x + j) - vm);
      if (out) p.store(out + j);
      a0 = a0 + p;
    }
    float s = hsum(a0 + a1);
    if (j < e) {
      int r = static_cast<int>(e - j);
      VF p = vexp(VF::load_partial(x + j, r) - vm);
      float tmp[VF::W];
      p.store(tmp);
      for (int k = 0; k < r; ++k) s += tmp[k];
      if (out) p.store_partial(out + j, r);
    }
    total += s;
  }
  return total;
}

}  // namespace rowops
}  // namespace SLM_ISA
}  // namespace slm
