// Single-token decode through a Llama-family decoder's layers (contract: decode.h), compiled
// once per instruction set. Each step is the kernel the JavaScript forward would call, with
// the same arguments, so the output is bitwise the model's forwardCached for one token; what
// it saves is the return to JavaScript between the ~15 calls of a layer (measured at ~2-4 ms
// of a 25-35 ms Qwen2.5-0.5B token: argument checks, tape and arena work, N-API crossings).
#include <cstring>

#include "isa.h"

namespace slm {
namespace SLM_ISA {

void decode_layers(::slm::DecodePlan& p, float* x, int64_t pos, const float* cos, const float* sin) {
  const int64_t d = p.d, qd = p.h * p.hd, kd = p.kvh * p.hd, ffn = p.ffn;
  // One token's activations, laid end to end in the plan's buffer.
  float* const h = p.buf.data();
  float* const q = h + d;
  float* const k = q + qd;
  float* const v = k + kd;
  float* const a = v + kd;
  float* const o = a + qd;
  float* const gate = o + d;
  float* const up = gate + ffn;
  float* const rstd = up + ffn;  // (h) scratch: the norms' saved statistics, unused here
  const int32_t at = static_cast<int32_t>(pos);
  for (DecodeLayer& L : p.layers) {
    // Attention: h = norm(x); q, k, v = h·Wᵀ (+ b); per-head norms; rotary; cache; attend; x += a·Woᵀ.
    rmsnorm_forward(h, rstd, x, L.attn_norm, 1, d, p.eps);
    float* qkv[3] = {q, k, v};
    const int64_t qkv_rows[3] = {qd, kd, kd};
    qgemm_multi(qkv, h, 1, 3, L.types + kDecQ, L.w + kDecQ, qkv_rows, d);
    for (int i = 0; i < 3; ++i)
      if (L.bias[kDecQ + i]) add_f32(qkv[i], qkv[i], L.bias[kDecQ + i], qkv_rows[i]);
    if (L.q_norm) rmsnorm_forward(q, rstd, q, L.q_norm, p.h, p.hd, p.eps);
    if (L.k_norm) rmsnorm_forward(k, rstd, k, L.k_norm, p.kvh, p.hd, p.eps);
    rope_forward(q, q, cos, sin, &at, 1, p.h, p.hd, p.rot, false);
    rope_forward(k, k, cos, sin, &at, 1, p.kvh, p.hd, p.rot, false);
    for (int64_t g = 0; g < p.kvh; ++g) {
      std::memcpy(L.kcache + (g * p.maxt + pos) * p.hd, k + g * p.hd, sizeof(float) * p.hd);
      std::memcpy(L.vcache + (g * p.maxt + pos) * p.hd, v + g * p.hd, sizeof(float) * p.hd);
    }
    attention_decode(a, q, L.kcache, L.vcache, &at, 1, 1, p.h, p.kvh, p.hd, p.maxt, p.scale);
    qgemm(o, a, 1, L.types[kDecO], L.w[kDecO], d, qd);
    if (L.bias[kDecO]) add_f32(o, o, L.bias[kDecO], d);
    add_f32(x, o, x, d);
    // MLP: h = norm(x); x += (silu(h·Wgᵀ) · h·Wuᵀ)·Wdᵀ.
    rmsnorm_forward(h, rstd, x, L.mlp_norm, 1, d, p.eps);
    float* gu[2] = {gate, up};
    const int64_t gu_rows[2] = {ffn, ffn};
    qgemm_multi(gu, h, 1, 2, L.types + kDecGate, L.w + kDecGate, gu_rows, d);
    for (int i = 0; i < 2; ++i)
      if (L.bias[kDecGate + i]) add_f32(gu[i], gu[i], L.bias[kDecGate + i], ffn);
    swiglu_forward(gate, gate, up, ffn);
    qgemm(o, gate, 1, L.types[kDecDown], L.w[kDecDown], d, ffn);
    if (L.bias[kDecDown]) add_f32(o, o, L.bias[kDecDown], d);
    add_f32(x, o, x, d);
  }
}

}  // namespace SLM_ISA
}  // namespace slm
