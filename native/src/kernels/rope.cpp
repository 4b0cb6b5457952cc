// Rotary position embedding kernels, compiled once per instruction set
// (namespace slm::SLM_ISA). Each (token, head) row rotates its first `rot`
// dims pair by pair with the angle tables of the token's position; the rest
// copy through (forward) or add through (backward). Rotate-half rows are
// vectorised over pairs; interleaved rows are a plain loop (adjacent pairs
// would need lane shuffles; rope is memory-bound either way).
// Knows nothing about models or about how the tables were made.
#include <cstdint>
#include <cstring>

#include "kernels/simd.h"
#include "pool.h"

namespace slm {
namespace SLM_ISA {
namespace {

constexpr int W = VF::W;

// y1 = x1·c − x2·s, y2 = x2·c + x1·s over `half` pairs (x1[j], x2[j]).
inline void rotate_half_fwd(float* y1, float* y2, const float* x1, const float* x2, const float* c, const float* s,
                            int64_t half) {
  int64_t j = 0;
  for (; j + W <= half; j += W) {
    VF a = VF::load(x1 + j), b = VF::load(x2 + j), cv = VF::load(c + j), sv = VF::load(s + j);
    VF r1 = fmadd(a, cv, VF::zero() - b * sv);
    VF r2 = fmadd(b, cv, a * sv);
    r1.store(y1 + j);
    r2.store(y2 + j);
  }
  for (; j < half; ++j) {
    float a = x1[j], b = x2[j];
    y1[j] = a * c[j] - b * s[j];
    y2[j] = b * c[j] + a * s[j];
  }
}

// dx1 += dy1·c + dy2·s, dx2 += dy2·c − dy1·s (the transpose of the rotation).
inline void rotate_half_bwd(float* dx1, float* dx2, const float* dy1, const float* dy2, const float* c, const float* s,
                            int64_t half) {
  int64_t j = 0;
  for (; j + W <= half; j += W) {
    VF a = VF::load(dy1 + j), b = VF::load(dy2 + j), cv = VF::load(c + j), sv = VF::load(s + j);
    VF r1 = fmadd(a, cv, b * sv);
    VF r2 = fmadd(b, cv, VF::zero() - a * sv);
    (VF::load(dx1 + j) + r1).store(dx1 + j);
    (VF::load(dx2 + j) + r2).store(dx2 + j);
  }
  for (; j < half; ++j) {
    float a = dy1[j], b = dy2[j];
    dx1[j] += a * c[j] + b * s[j];
    dx2[j] += b * c[j] - a * s[j];
  }
}

}  // namespace

void rope_forward(float* out, const float* inp, const float* cos, const float* sin, const int32_t* positions,
                  int64_t n, int64_t h, int64_t d, int64_t rot, bool interleaved) {
  const int64_t half = rot / 2;
  parallel_for(n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* c = cos + static_cast<int64_t>(positions[t]) * half;
      const float* s = sin + static_cast<int64_t>(positions[t]) * half;
      for (int64_t hh = 0; hh < h; ++hh) {
        const float* x = inp + (t * h + hh) * d;
        float* y = out + (t * h + hh) * d;
        if (interleaved) {
          for (int64_t j = 0; j < half; ++j) {
            float a = x[2 * j], b = x[2 * j + 1];
            y[2 * j] = a * c[j] - b * s[j];
            y[2 * j + 1] = b * c[j] + a * s[j];
          }
        } else {
          rotate_half_fwd(y, y + half, x, x + half, c, s, half);
        }
        if (y != x && rot < d) std::memcpy(y + rot, x + rot, sizeof(float) * (d - rot));
      }
    }
  });
}

void rope_backward(float* dinp, const float* dout, const float* cos, const float* sin, const int32_t* positions,
                   int64_t n, int64_t h, int64_t d, int64_t rot, bool interleaved) {
  const int64_t half = rot / 2;
  parallel_for(n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* c = cos + static_cast<int64_t>(positions[t]) * half;
      const float* s = sin + static_cast<int64_t>(positions[t]) * half;
      for (int64_t hh = 0; hh < h; ++hh) {
        const float* dy = dout + (t * h + hh) * d;
        float* dx = dinp + (t * h + hh) * d;
        if (interleaved) {
          for (int64_t j = 0; j < half; ++j) {
            float a = dy[2 * j], b = dy[2 * j + 1];
            dx[2 * j] += a * c[j] + b * s[j];
            dx[2 * j + 1] += b * c[j] - a * s[j];
          }
        } else {
          rotate_half_bwd(dx, dx + half, dy, dy + half, c, s, half);
        }
        for (int64_t i = rot; i < d; ++i) dx[i] += dy[i];
      }
    }
  });
}

}  // namespace SLM_ISA
}  // namespace slm
