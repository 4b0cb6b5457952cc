// Fused softmax + cross-entropy, forward and backward, compiled once per
// instruction set (namespace slm::SLM_ISA). Rows are independent and long
// (V up to ~150k), so threads take whole rows. Forward reads each row twice
// (max, then Σ e^(x−max)); backward reads and writes it once, in place when
// dlogits is logits. Knows nothing about tokens or batches.
#include <cmath>
#include <cstdint>

#include "kernels/rowops.h"
#include "kernels/simd.h"
#include "pool.h"

namespace slm {
namespace SLM_ISA {

namespace {
constexpr int64_t kGrainFloats = 1 << 15;
int64_t row_grain(int64_t V) { return V >= kGrainFloats ? 1 : kGrainFloats / V; }
}  // namespace

// losses (N), lse (N), logits (N,V), targets (N)
void cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                           int64_t V, int64_t ignore_index) {
  if (V <= 0) return;
  parallel_for(N, row_grain(V), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* x = logits + i * V;
      float m = rowops::row_max(x, V);
      double l = static_cast<double>(m) + std::log(rowops::row_exp_sum(nullptr, x, m, V));
      lse[i] = static_cast<float>(l);
      int64_t t = targets[i];
      losses[i] = t == ignore_index ? 0.0f : static_cast<float>(l - static_cast<double>(x[t]));
    }
  });
}

// dlogits (N,V), logits (N,V) (may be the same buffer), lse (N), targets (N)
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets, int64_t N,
                            int64_t V, int64_t ignore_index, float scale) {
  if (V <= 0) return;
  parallel_for(N, row_grain(V), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* x = logits + i * V;
      float* d = dlogits + i * V;
      int64_t t = targets[i];
      if (t == ignore_index) {
        VF z = VF::zero();
        int64_t j = 0;
        for (; j + VF::W <= V; j += VF::W) z.store(d + j);
        for (; j < V; ++j) d[j] = 0.0f;
        continue;
      }
      VF vl = VF::set1(lse[i]), vs = VF::set1(scale);
      int64_t j = 0;
      for (; j + VF::W <= V; j += VF::W) (vs * vexp(VF::load(x + j) - vl)).store(d + j);
      if (j < V) {
        int r = static_cast<int>(V - j);
        (vs * vexp(VF::load_partial(x + j, r) - vl)).store_partial(d + j, r);
      }
      d[t] -= scale;
    }
  });
}

// lse1 (N), lseT (N), logits (N,V). max(x·inv_t) = max(x)·inv_t since inv_t > 0.
void softmax_lse_pair(float* lse1, float* lseT, const float* logits, int64_t N, int64_t V, float inv_t) {
  if (V <= 0) return;
  parallel_for(N, row_grain(V), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* x = logits + i * V;
      float m = rowops::row_max(x, V);
      lse1[i] = static_cast<float>(static_cast<double>(m) + std::log(rowops::row_exp_sum(nullptr, x, m, V)));
      // Σ e^((x − m)·inv_t), blocks summed in double as row_exp_sum does.
      VF vm = VF::set1(m), vi = VF::set1(inv_t);
      double total = 0.0;
      for (int64_t b = 0; b < V; b += rowops::kBlock) {
        int64_t e = b + rowops::kBlock < V ? b + rowops::kBlock : V;
        VF a = VF::zero();
        int64_t j = b;
        for (; j + VF::W <= e; j += VF::W) a = a + vexp((VF::load(x + j) - vm) * vi);
        float s = hsum(a);
        for (; j < e; ++j) s += std::exp((x[j] - m) * inv_t);
        total += s;
      }
      lseT[i] = static_cast<float>(static_cast<double>(m) * inv_t + std::log(total));
    }
  });
}

// dlogits (N,V), logits (N,V), lse1 (N), lseT (N), c1 (N), cT (N)
void distill_dense_backward(float* dlogits, const float* logits, const float* lse1, const float* lseT, const float* c1,
                            const float* cT, int64_t N, int64_t V, float inv_t) {
  if (V <= 0) return;
  parallel_for(N, row_grain(V), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* x = logits + i * V;
      float* d = dlogits + i * V;
      const float a = c1[i], b = cT[i];
      VF va = VF::set1(a), vb = VF::set1(b), vl1 = VF::set1(lse1[i]), vlt = VF::set1(lseT[i]), vi = VF::set1(inv_t);
      int64_t j = 0;
      if (a != 0.0f && b != 0.0f) {
        for (; j + VF::W <= V; j += VF::W) {
          VF xv = VF::load(x + j);
          (va * vexp(xv - vl1) + vb * vexp(xv * vi - vlt)).store(d + j);
        }
      } else if (a != 0.0f) {
        for (; j + VF::W <= V; j += VF::W) (va * vexp(VF::load(x + j) - vl1)).store(d + j);
      } else if (b != 0.0f) {
        for (; j + VF::W <= V; j += VF::W) (vb * vexp(VF::load(x + j) * vi - vlt)).store(d + j);
      } else {
        VF z = VF::zero();
        for (; j + VF::W <= V; j += VF::W) z.store(d + j);
      }
      for (; j < V; ++j) {
        float v = 0.0f;
        if (a != 0.0f) v += a * std::exp(x[j] - lse1[i]);
        if (b != 0.0f) v += b * std::exp(x[j] * inv_t - lseT[i]);
        d[j] = v;
      }
    }
  });
}

}  // namespace SLM_ISA
}  // namespace slm
