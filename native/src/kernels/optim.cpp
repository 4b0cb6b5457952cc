// Optimizer kernels: AdamW (decoupled weight decay, bias correction), squared
// norms and scaling for gradient clipping, compiled once per instruction set
// (namespace slm::SLM_ISA). All memory-bound; split into contiguous element
// ranges on the pool. Knows nothing about parameter groups or schedules.
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/simd.h"
#include "pool.h"

namespace slm {
namespace SLM_ISA {

namespace {

constexpr int64_t kGrain = 1 << 15;

// Square root per lane (simd.h has no sqrt; AdamW is the only kernel here that needs one).
inline VF vsqrt(VF a) {
#if defined(SLM_ISA_AVX512)
  return _mm512_sqrt_ps(a.v);
#elif defined(SLM_ISA_AVX2)
  return _mm256_sqrt_ps(a.v);
#else
  return std::sqrt(a.v);
#endif
}

inline VF ld(const float* p, int r) { return r == VF::W ? VF::load(p) : VF::load_partial(p, r); }
inline void st(VF v, float* p, int r) {
  if (r == VF::W) v.store(p);
  else v.store_partial(p, r);
}

}  // namespace

// param (n), grad (n), m (n), v (n)
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                float eps, float weight_decay, int64_t step) {
  // Bias corrections in double: β^step for large steps is where float would lose digits.
  double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const VF b1 = VF::set1(beta1), b2 = VF::set1(beta2);
  const VF omb1 = VF::set1(1.0f - beta1), omb2 = VF::set1(1.0f - beta2);
  const VF ibc1 = VF::set1(static_cast<float>(1.0 / bc1)), ibc2 = VF::set1(static_cast<float>(1.0 / bc2));
  const VF veps = VF::set1(eps), vlr = VF::set1(lr), vwd = VF::set1(weight_decay);
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    auto body = [&](int64_t j, int r) {
      VF g = ld(grad + j, r), p = ld(param + j, r);
      VF mm = fmadd(b1, ld(m + j, r), omb1 * g);
      VF vv = fmadd(b2, ld(v + j, r), omb2 * g * g);
      VF upd = (mm * ibc1) / (vsqrt(vv * ibc2) + veps);
      upd = fmadd(vwd, p, upd);
      st(mm, m + j, r);
      st(vv, v + j, r);
      st(p - vlr * upd, param + j, r);
    };
    int64_t j = begin;
    for (; j + VF::W <= end; j += VF::W) body(j, VF::W);
    if (j < end) body(j, static_cast<int>(end - j));
  });
}

// Σ x² over x (n) with every square and sum in double: no float rounding and no overflow
// for |x| past 1.8e19. Four double accumulators per ISA; the tail goes one by one.
inline double sumsq_f64(const float* x, int64_t n) {
  int64_t j = 0;
  double s = 0.0;
#if defined(SLM_ISA_AVX512)
  __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
  for (; j + 16 <= n; j += 16) {
    __m512d x0 = _mm512_cvtps_pd(_mm256_loadu_ps(x + j)), x1 = _mm512_cvtps_pd(_mm256_loadu_ps(x + j + 8));
    a0 = _mm512_fmadd_pd(x0, x0, a0);
    a1 = _mm512_fmadd_pd(x1, x1, a1);
  }
  s = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
#elif defined(SLM_ISA_AVX2)
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  for (; j + 8 <= n; j += 8) {
    __m256d x0 = _mm256_cvtps_pd(_mm_loadu_ps(x + j)), x1 = _mm256_cvtps_pd(_mm_loadu_ps(x + j + 4));
    a0 = _mm256_fmadd_pd(x0, x0, a0);
    a1 = _mm256_fmadd_pd(x1, x1, a1);
  }
  double lanes[4];
  _mm256_storeu_pd(lanes, _mm256_add_pd(a0, a1));
  s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
#endif
  for (; j < n; ++j) s += static_cast<double>(x[j]) * static_cast<double>(x[j]);
  return s;
}

// x (n)
double sum_squares(const float* x, int64_t n) {
  int64_t nt = (n + kGrain - 1) / kGrain;
  if (nt > num_threads()) nt = num_threads();
  if (nt < 1) nt = 1;
  std::vector<double> part(static_cast<size_t>(nt), 0.0);
  parallel_tasks(nt, [&](int64_t t) {
    int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    part[static_cast<size_t>(t)] = sumsq_f64(x + begin, end - begin);
  });
  double s = 0.0;
  for (double p : part) s += p;
  return s;
}

// x (n)
void scale_f32(float* x, int64_t n, float s) {
  const VF vs = VF::set1(s);
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    int64_t j = begin;
    for (; j + VF::W <= end; j += VF::W) (VF::load(x + j) * vs).store(x + j);
    if (j < end) {
      int r = static_cast<int>(end - j);
      (VF::load_partial(x + j, r) * vs).store_partial(x + j, r);
    }
  });
}

}  // namespace SLM_ISA
}  // namespace slm
