// A few tokens through a Llama-family decoder's layers (contract: decode.h), compiled once per
// instruction set. Each step is the kernel the JavaScript forward would call, with the same
// arguments, so the output is bitwise the model's forwardCached for those rows; what it saves
// is the return to JavaScript between the ~15 calls of a layer (2.9 ms of a 25.9 ms
// Qwen2.5-0.5B q4_0 token: argument checks, tape and arena work, N-API crossings).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "isa.h"
#include "kernels/qinternal.h"
#include "pool.h"

namespace slm {
namespace SLM_ISA {

namespace {

// y (n, out) += bias (out) on every row, as the JavaScript forward adds it (tensor/ops.ts
// addBiasRows): one add for one row, else y += ones (n, 1) · bias (1, out) as one GEMM.
void add_bias_rows(float* y, const float* bias, const float* ones, int64_t n, int64_t out) {
  if (!bias) return;
  if (n == 1) add_f32(y, y, bias, out);
  else gemm_f32(1, n, out, 1, ones, 1, n, false, bias, out, out, false, y, out, n * out, true);
}

// ys[k] (n, rows[k]) = x (n, cols) · W_kᵀ + b_k for `count` weights of L from `first`, as the
// forward makes them (tensor/ops.ts linears() and linear()): when several weights are all held
// in a storage type, one qgemm_multi and the biases added after; otherwise each on its own: a
// plain float32 weight starts its rows from the bias and accumulates the GEMM into them, a
// stored one runs qgemm and adds the bias after.
void project(const DecodeLayer& L, int first, int count, float* const* ys, const int64_t* rows, const float* x, int64_t n, int64_t cols,
             const float* ones) {
  bool fused = count > 1;
  for (int k = 0; k < count; ++k) fused = fused && !L.plain[first + k];
  if (fused) {
    qgemm_multi(ys, x, n, count, L.types + first, L.w + first, rows, cols);
    for (int k = 0; k < count; ++k) add_bias_rows(ys[k], L.bias[first + k], ones, n, rows[k]);
    return;
  }
  for (int k = 0; k < count; ++k) {
    const int i = first + k;
    float* y = ys[k];
    if (L.plain[i]) {
      const float* b = L.bias[i];
      if (b)
        for (int64_t r = 0; r < n; ++r) std::memcpy(y + r * rows[k], b, sizeof(float) * rows[k]);
      gemm_f32(1, n, rows[k], cols, x, cols, n * cols, false, reinterpret_cast<const float*>(L.w[i]), cols, cols * rows[k], true, y, rows[k],
               n * rows[k], b != nullptr);
    } else {
      qgemm(y, x, n, L.types[i], L.w[i], rows[k], cols);
      add_bias_rows(y, L.bias[i], ones, n, rows[k]);
    }
  }
}

// IEEE half bits of x, rounded to nearest even (as src/formats/half.ts f32ToF16Bits).
uint16_t f16_bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  const uint32_t sign = (b >> 16) & 0x8000u, exp = (b >> 23) & 0xffu;
  uint32_t mant = b & 0x7fffffu;
  if (exp == 0xffu) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0u));
  const int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - e;
    const uint32_t half = 1u << (shift - 1), rest = mant & ((1u << shift) - 1);
    uint32_t h = mant >> shift;
    if (rest > half || (rest == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is still right
  return static_cast<uint16_t>(sign | h);
}

// One cache row of n values in `type` (F16, or Q8_0: per 32 values an f16 scale max|x|/127 and
// the values / scale rounded half away from zero): the bytes src/formats/quant.ts writes.
void encode_row(int type, const float* x, int64_t n, uint8_t* dst) {
  if (type == qt::F16) {
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = f16_bits(x[i]);
      dst[2 * i] = static_cast<uint8_t>(h & 0xff);
      dst[2 * i + 1] = static_cast<uint8_t>(h >> 8);
    }
    return;
  }
  for (int64_t b0 = 0; b0 < n; b0 += 32) {
    float amax = 0.f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b0 + j]));
    const float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
    uint8_t* o = dst + b0 / 32 * 34;
    const uint16_t h = f16_bits(d);
    o[0] = static_cast<uint8_t>(h & 0xff);
    o[1] = static_cast<uint8_t>(h >> 8);
    for (int j = 0; j < 32; ++j) {
      const float v = x[b0 + j] * id;
      o[2 + j] = static_cast<uint8_t>(static_cast<int>(std::roundf(v)) & 0xff);
    }
  }
}

// Rows 0..len-1 of cache slots 0..b-1, every KV head, expanded to float32 (b, kvh, len, hd) in
// out, as KvCache.attendView does (the exact GGML decoders).
void expand_rows(const DecodePlan& p, const uint8_t* cache, int64_t b, int64_t len, float* out) {
  const int64_t nb = p.hd / qt::block_size(p.kv_type);
  parallel_for(b * p.kvh * len, std::max<int64_t>(1, (int64_t(1) << 15) / p.hd), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t bh = i / len, t = i % len;
      dequant_blocks(p.kv_type, cache + (bh * p.maxt + t) * p.kv_row_bytes, nb, out + i * p.hd);
    }
  });
}

}  // namespace

void decode_layers(::slm::DecodePlan& p, float* x, int64_t b, int64_t tq, const int32_t* starts, const float* cos, const float* sin) {
  const int64_t n = b * tq, d = p.d, qd = p.h * p.hd, kd = p.kvh * p.hd, ffn = p.ffn, hd = p.hd;
  // The rows' activations, laid end to end in the plan's buffer (sized for kDecodeMaxRows rows).
  float* const h = p.buf.data();
  float* const q = h + n * d;
  float* const k = q + n * qd;
  float* const v = k + n * kd;
  float* const a = v + n * kd;
  float* const o = a + n * qd;
  float* const gate = o + n * d;
  float* const up = gate + n * ffn;
  float* const rstd = up + n * ffn;  // (n·h) the norms' saved statistics, unused here
  float ones[kDecodeMaxRows];
  int32_t pos[kDecodeMaxRows];
  for (int64_t i = 0; i < n; ++i) {
    ones[i] = 1.f;
    pos[i] = starts[i / tq] + static_cast<int32_t>(i % tq);
  }
  for (DecodeLayer& L : p.layers) {
    // Attention: h = norm(x); q, k, v = h·Wᵀ (+ b); per-head norms; rotary; cache; attend; x += a·Woᵀ.
    rmsnorm_forward(h, rstd, x, L.attn_norm, n, d, p.eps);
    float* qkv[3] = {q, k, v};
    const int64_t qkv_rows[3] = {qd, kd, kd};
    project(L, kDecQ, 3, qkv, qkv_rows, h, n, d, ones);
    if (L.q_norm) rmsnorm_forward(q, rstd, q, L.q_norm, n * p.h, hd, p.eps);
    if (L.k_norm) rmsnorm_forward(k, rstd, k, L.k_norm, n * p.kvh, hd, p.eps);
    rope_forward(q, q, cos, sin, pos, n, p.h, hd, p.rot, false);
    rope_forward(k, k, cos, sin, pos, n, p.kvh, hd, p.rot, false);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t g = 0; g < p.kvh; ++g) {
        const int64_t row = ((i / tq) * p.kvh + g) * p.maxt + pos[i];
        if (p.kv_type == qt::F32) {
          std::memcpy(L.kcache + row * p.kv_row_bytes, k + i * kd + g * hd, sizeof(float) * hd);
          std::memcpy(L.vcache + row * p.kv_row_bytes, v + i * kd + g * hd, sizeof(float) * hd);
        } else {
          encode_row(p.kv_type, k + i * kd + g * hd, hd, L.kcache + row * p.kv_row_bytes);
          encode_row(p.kv_type, v + i * kd + g * hd, hd, L.vcache + row * p.kv_row_bytes);
        }
      }
    if (p.kv_type == qt::F32) {
      attention_decode(a, q, reinterpret_cast<const float*>(L.kcache), reinterpret_cast<const float*>(L.vcache), starts, b, tq, p.h, p.kvh, hd,
                       p.maxt, p.scale);
    } else {
      // F16 / Q8_0: the positions in use expanded to float32 first (KvCache.attendView's way).
      int64_t len = 1;
      for (int64_t s = 0; s < b; ++s) len = std::max<int64_t>(len, starts[s] + tq);
      float* ks = p.kv.data();
      float* vs = ks + b * p.kvh * len * hd;
      expand_rows(p, L.kcache, b, len, ks);
      expand_rows(p, L.vcache, b, len, vs);
      attention_decode(a, q, ks, vs, starts, b, tq, p.h, p.kvh, hd, len, p.scale);
    }
    project(L, kDecO, 1, &o, &d, a, n, qd, ones);
    add_f32(x, o, x, n * d);
    // MLP: h = norm(x); x += (silu(h·Wgᵀ) · h·Wuᵀ)·Wdᵀ.
    rmsnorm_forward(h, rstd, x, L.mlp_norm, n, d, p.eps);
    float* gu[2] = {gate, up};
    const int64_t gu_rows[2] = {ffn, ffn};
    project(L, kDecGate, 2, gu, gu_rows, h, n, d, ones);
    swiglu_forward(gate, gate, up, n * ffn);
    project(L, kDecDown, 1, &o, &d, gate, n, ffn, ones);
    add_f32(x, o, x, n * d);
  }
}

}  // namespace SLM_ISA
}  // namespace slm
