// A few tokens through a Llama-family decoder's layers (contract: decode.h), compiled once per
// instruction set. Each step is the kernel the JavaScript forward would call, with the same
// arguments, so the output is bitwise the model's forwardCached for those rows; what it saves
// is the return to JavaScript between the ~15 calls of a layer (2.9 ms of a 25.9 ms
// Qwen2.5-0.5B q4_0 token: argument checks, tape and arena work, N-API crossings).
#include <cstring>

#include "isa.h"

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
    qgemm_multi(qkv, h, n, 3, L.types + kDecQ, L.w + kDecQ, qkv_rows, d);
    for (int i = 0; i < 3; ++i) add_bias_rows(qkv[i], L.bias[kDecQ + i], ones, n, qkv_rows[i]);
    if (L.q_norm) rmsnorm_forward(q, rstd, q, L.q_norm, n * p.h, hd, p.eps);
    if (L.k_norm) rmsnorm_forward(k, rstd, k, L.k_norm, n * p.kvh, hd, p.eps);
    rope_forward(q, q, cos, sin, pos, n, p.h, hd, p.rot, false);
    rope_forward(k, k, cos, sin, pos, n, p.kvh, hd, p.rot, false);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t g = 0; g < p.kvh; ++g) {
        const int64_t row = ((i / tq) * p.kvh + g) * p.maxt + pos[i];
        std::memcpy(L.kcache + row * hd, k + i * kd + g * hd, sizeof(float) * hd);
        std::memcpy(L.vcache + row * hd, v + i * kd + g * hd, sizeof(float) * hd);
      }
    attention_decode(a, q, L.kcache, L.vcache, starts, b, tq, p.h, p.kvh, hd, p.maxt, p.scale);
    qgemm(o, a, n, L.types[kDecO], L.w[kDecO], d, qd);
    add_bias_rows(o, L.bias[kDecO], ones, n, d);
    add_f32(x, o, x, n * d);
    // MLP: h = norm(x); x += (silu(h·Wgᵀ) · h·Wuᵀ)·Wdᵀ.
    rmsnorm_forward(h, rstd, x, L.mlp_norm, n, d, p.eps);
    float* gu[2] = {gate, up};
    const int64_t gu_rows[2] = {ffn, ffn};
    qgemm_multi(gu, h, n, 2, L.types + kDecGate, L.w + kDecGate, gu_rows, d);
    for (int i = 0; i < 2; ++i) add_bias_rows(gu[i], L.bias[kDecGate + i], ones, n, ffn);
    swiglu_forward(gate, gate, up, n * ffn);
    qgemm(o, gate, n, L.types[kDecDown], L.w[kDecDown], d, ffn);
    add_bias_rows(o, L.bias[kDecDown], ones, n, d);
    add_f32(x, o, x, n * d);
  }
}

}  // namespace SLM_ISA
}  // namespace slm
