// RMSNorm and LayerNorm, forward and backward, compiled once per instruction
// set (namespace slm::SLM_ISA). Rows are independent: threads take row ranges;
// the weight/bias gradients are summed per task into scratch rows and reduced
// at the end, so no two threads write the same element. Row statistics are
// accumulated in float vectors (C is at most a few thousand).
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/simd.h"
#include "pool.h"

namespace slm {
namespace SLM_ISA {

namespace {

constexpr int64_t kGrainFloats = 1 << 14;

int64_t row_grain(int64_t C) { return C >= kGrainFloats ? 1 : kGrainFloats / C; }

// Σ x[j]·y[j] over C floats.
inline float dotf(const float* x, const float* y, int64_t C) {
  VF a0 = VF::zero(), a1 = VF::zero();
  int64_t j = 0;
  for (; j + 2 * VF::W <= C; j += 2 * VF::W) {
    a0 = fmadd(VF::load(x + j), VF::load(y + j), a0);
    a1 = fmadd(VF::load(x + j + VF::W), VF::load(y + j + VF::W), a1);
  }
  for (; j + VF::W <= C; j += VF::W) a0 = fmadd(VF::load(x + j), VF::load(y + j), a0);
  if (j < C) {
    int r = static_cast<int>(C - j);
    a1 = fmadd(VF::load_partial(x + j, r), VF::load_partial(y + j, r), a1);
  }
  return hsum(a0 + a1);
}

// Σ x[j] over C floats.
inline float sumf(const float* x, int64_t C) {
  VF a0 = VF::zero(), a1 = VF::zero();
  int64_t j = 0;
  for (; j + 2 * VF::W <= C; j += 2 * VF::W) {
    a0 = a0 + VF::load(x + j);
    a1 = a1 + VF::load(x + j + VF::W);
  }
  for (; j + VF::W <= C; j += VF::W) a0 = a0 + VF::load(x + j);
  if (j < C) a1 = a1 + VF::load_partial(x + j, static_cast<int>(C - j));
  return hsum(a0 + a1);
}

// Σ (x[j] - m)² over C floats.
inline float sumsq_centered(const float* x, float m, int64_t C) {
  VF vm = VF::set1(m), a0 = VF::zero();
  int64_t j = 0;
  for (; j + VF::W <= C; j += VF::W) {
    VF d = VF::load(x + j) - vm;
    a0 = fmadd(d, d, a0);
  }
  if (j < C) {
    int r = static_cast<int>(C - j);
    // masked-off lanes load 0; subtract m only where real: build d from a partial load of x - m.
    float tmp[VF::W];
    for (int k = 0; k < r; ++k) tmp[k] = x[j + k] - m;
    VF d = VF::load_partial(tmp, r);
    a0 = fmadd(d, d, a0);
  }
  return hsum(a0);
}

// Number of row tasks for a backward pass: at least row_grain(C) rows each, at most
// num_threads(); each task owns one scratch row for the weight/bias gradients.
int64_t row_task_count(int64_t N, int64_t C) {
  int64_t grain = row_grain(C);
  int64_t nt = (N + grain - 1) / grain;
  if (nt > num_threads()) nt = num_threads();
  return nt < 1 ? 1 : nt;
}

// Adds the nt scratch rows (each C floats) into dst.
void reduce_into(float* dst, const std::vector<float>& scratch, int64_t nt, int64_t C) {
  for (int64_t t = 0; t < nt; ++t) {
    const float* s = scratch.data() + t * C;
    int64_t j = 0;
    for (; j + VF::W <= C; j += VF::W) (VF::load(dst + j) + VF::load(s + j)).store(dst + j);
    for (; j < C; ++j) dst[j] += s[j];
  }
}

}  // namespace

// out (N,C), rstd (N), inp (N,C), weight (C)
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C, float eps) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* x = inp + i * C;
      float* y = out + i * C;
      float r = 1.0f / std::sqrt(dotf(x, x, C) / static_cast<float>(C) + eps);
      rstd[i] = r;
      VF vr = VF::set1(r);
      int64_t j = 0;
      for (; j + VF::W <= C; j += VF::W) (VF::load(x + j) * vr * VF::load(weight + j)).store(y + j);
      if (j < C) {
        int rem = static_cast<int>(C - j);
        (VF::load_partial(x + j, rem) * vr * VF::load_partial(weight + j, rem)).store_partial(y + j, rem);
      }
    }
  });
}

// With y = x·r·w and r = (mean(x²)+eps)^-1/2:
//   dx_j = r·w_j·g_j − x_j · r³/C · Σ_k g_k·w_k·x_k,   dw_j = Σ_rows g_j·x_j·r.
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int64_t N, int64_t C) {
  int64_t nt = row_task_count(N, C);
  std::vector<float> scratch(static_cast<size_t>(nt * C), 0.0f);
  std::vector<float> gw_rows(static_cast<size_t>(nt * C));
  parallel_tasks(nt, [&](int64_t t) {
    int64_t begin = N * t / nt, end = N * (t + 1) / nt;
    float* dw = scratch.data() + t * C;
    float* gw = gw_rows.data() + t * C;  // g·w for the current row
    for (int64_t i = begin; i < end; ++i) {
      const float* x = inp + i * C;
      const float* g = dout + i * C;
      float* dx = dinp + i * C;
      float r = rstd[i];
      VF vr = VF::set1(r);
      VF acc = VF::zero();
      int64_t j = 0;
      for (; j + VF::W <= C; j += VF::W) {
        VF vg = VF::load(g + j), vx = VF::load(x + j);
        VF p = vg * VF::load(weight + j);
        p.store(gw + j);
        acc = fmadd(p, vx, acc);
        fmadd(vg, vx * vr, VF::load(dw + j)).store(dw + j);
      }
      float s = hsum(acc);
      for (; j < C; ++j) {
        float p = g[j] * weight[j];
        gw[j] = p;
        s += p * x[j];
        dw[j] += g[j] * x[j] * r;
      }
      float k = -r * r * r * s / static_cast<float>(C);
      VF vk = VF::set1(k);
      j = 0;
      for (; j + VF::W <= C; j += VF::W) {
        VF d = fmadd(VF::load(gw + j), vr, VF::load(dx + j));
        fmadd(VF::load(x + j), vk, d).store(dx + j);
      }
      for (; j < C; ++j) dx[j] += gw[j] * r + x[j] * k;
    }
  });
  reduce_into(dweight, scratch, nt, C);
}

// out (N,C), mean (N), rstd (N), inp (N,C), weight (C), bias (C) or null
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t N, int64_t C, float eps) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* x = inp + i * C;
      float* y = out + i * C;
      float m = sumf(x, C) / static_cast<float>(C);
      float var = sumsq_centered(x, m, C) / static_cast<float>(C);
      float r = 1.0f / std::sqrt(var + eps);
      mean[i] = m;
      rstd[i] = r;
      VF vm = VF::set1(m), vr = VF::set1(r);
      int64_t j = 0;
      for (; j + VF::W <= C; j += VF::W) {
        VF h = (VF::load(x + j) - vm) * vr;
        VF b = bias ? VF::load(bias + j) : VF::zero();
        fmadd(h, VF::load(weight + j), b).store(y + j);
      }
      for (; j < C; ++j) y[j] = (x[j] - m) * r * weight[j] + (bias ? bias[j] : 0.0f);
    }
  });
}

// With h = (x−mean)·r and y = h·w + b, dh = g·w:
//   dx_j = r·(dh_j − mean(dh) − h_j·mean(dh·h)),  dw_j = Σ_rows g_j·h_j,  db_j = Σ_rows g_j.
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) {
  int64_t nt = row_task_count(N, C);
  std::vector<float> sw(static_cast<size_t>(nt * C), 0.0f);
  std::vector<float> sb(dbias ? static_cast<size_t>(nt * C) : 0, 0.0f);
  parallel_tasks(nt, [&](int64_t t) {
    int64_t begin = N * t / nt, end = N * (t + 1) / nt;
    float* dw = sw.data() + t * C;
    float* db = dbias ? sb.data() + t * C : nullptr;
    for (int64_t i = begin; i < end; ++i) {
      const float* x = inp + i * C;
      const float* g = dout + i * C;
      float* dx = dinp + i * C;
      float m = mean[i], r = rstd[i];
      VF vm = VF::set1(m), vr = VF::set1(r);
      // pass 1: Σ dh, Σ dh·h, and the weight/bias gradients
      VF a_dh = VF::zero(), a_dhh = VF::zero();
      int64_t j = 0;
      for (; j + VF::W <= C; j += VF::W) {
        VF vg = VF::load(g + j);
        VF h = (VF::load(x + j) - vm) * vr;
        VF dh = vg * VF::load(weight + j);
        a_dh = a_dh + dh;
        a_dhh = fmadd(dh, h, a_dhh);
        fmadd(vg, h, VF::load(dw + j)).store(dw + j);
        if (db) (VF::load(db + j) + vg).store(db + j);
      }
      float s_dh = hsum(a_dh), s_dhh = hsum(a_dhh);
      for (; j < C; ++j) {
        float h = (x[j] - m) * r;
        float dh = g[j] * weight[j];
        s_dh += dh;
        s_dhh += dh * h;
        dw[j] += g[j] * h;
        if (db) db[j] += g[j];
      }
      float mdh = s_dh / static_cast<float>(C), mdhh = s_dhh / static_cast<float>(C);
      // pass 2: dx += r·(dh − mean(dh) − h·mean(dh·h))
      VF vmdh = VF::set1(mdh), vmdhh = VF::set1(mdhh);
      j = 0;
      for (; j + VF::W <= C; j += VF::W) {
        VF h = (VF::load(x + j) - vm) * vr;
        VF dh = VF::load(g + j) * VF::load(weight + j);
        VF t2 = dh - vmdh - h * vmdhh;
        fmadd(t2, vr, VF::load(dx + j)).store(dx + j);
      }
      for (; j < C; ++j) {
        float h = (x[j] - m) * r;
        float dh = g[j] * weight[j];
        dx[j] += (dh - mdh - h * mdhh) * r;
      }
    }
  });
  reduce_into(dweight, sw, nt, C);
  if (dbias) reduce_into(dbias, sb, nt, C);
}

}  // namespace SLM_ISA
}  // namespace slm
