// Exact dequantization of GGML blocks to float32, compiled once per
// instruction set: every value is computed with ggml's float32 operations in
// ggml's order (dequantize_row_* in ggml-quants.c), so it equals the
// TypeScript decoders in src/formats/{quant,kquant}.ts bit for bit. Used by
// qgather (embedding rows), the prefill panels and the transposed product.
// Plain loops (the compiler vectorises the simple ones); knows nothing about threads.
#include <cstdint>
#include <cstring>

#include "kernels/qinternal.h"

namespace slm {
namespace SLM_ISA {

namespace {

void deq_q8_0(const uint8_t* src, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, src += 34, y += 32) {
    const float d = qt::half_at(src);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(src[2 + j])) * d;
  }
}

void deq_q4_0(const uint8_t* src, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, src += 18, y += 32) {
    const float d = qt::half_at(src);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((src[2 + j] & 0xf) - 8) * d;
      y[j + 16] = static_cast<float>((src[2 + j] >> 4) - 8) * d;
    }
  }
}

// Q4_K (bits 4) and Q5_K (bits 5): y = (d·sc)·q − (dmin·m), each product rounded to float.
template <int Bits>
void deq_k_min(const uint8_t* src, int64_t ns, float* y) {
  constexpr int64_t kBytes = Bits == 4 ? 144 : 176;
  for (int64_t s = 0; s < ns; ++s, src += kBytes) {
    const float d = qt::half_at(src), dmin = qt::half_at(src + 2);
    const uint8_t* qh = src + 16;
    const uint8_t* ql = Bits == 4 ? src + 16 : src + 48;
    for (int c = 0; c < 4; ++c, y += 64) {
      int sc1, m1, sc2, m2;
      qt::scale_min_k4(2 * c, src + 4, &sc1, &m1);
      qt::scale_min_k4(2 * c + 1, src + 4, &sc2, &m2);
      const float d1 = d * static_cast<float>(sc1), dm1 = dmin * static_cast<float>(m1);
      const float d2 = d * static_cast<float>(sc2), dm2 = dmin * static_cast<float>(m2);
      for (int l = 0; l < 32; ++l) {
        int lo = ql[32 * c + l] & 0xf, hi = ql[32 * c + l] >> 4;
        if (Bits == 5) {
          lo += (qh[l] >> (2 * c)) & 1 ? 16 : 0;
          hi += (qh[l] >> (2 * c + 1)) & 1 ? 16 : 0;
        }
        const float plo = d1 * static_cast<float>(lo), phi = d2 * static_cast<float>(hi);
        y[l] = plo - dm1;
        y[32 + l] = phi - dm2;
      }
    }
  }
}

// Q6_K: y = (d·sc)·(q − 32).
void deq_q6_k(const uint8_t* src, int64_t ns, float* y) {
  for (int64_t s = 0; s < ns; ++s, src += 210) {
    const float d = qt::half_at(src + 208);
    const int8_t* sc = reinterpret_cast<const int8_t*>(src + 192);
    for (int h = 0; h < 2; ++h, y += 128) {
      const uint8_t* ql = src + 64 * h;
      const uint8_t* qh = src + 128 + 32 * h;
      const int8_t* s8 = sc + 8 * h;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xf) | ((qh[l] & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = (d * static_cast<float>(s8[is])) * static_cast<float>(q1);
        y[l + 32] = (d * static_cast<float>(s8[is + 2])) * static_cast<float>(q2);
        y[l + 64] = (d * static_cast<float>(s8[is + 4])) * static_cast<float>(q3);
        y[l + 96] = (d * static_cast<float>(s8[is + 6])) * static_cast<float>(q4);
      }
    }
  }
}

}  // namespace

// src (nblocks blocks of `type`), dst (nblocks · block_size(type))
void dequant_blocks(int type, const uint8_t* src, int64_t nblocks, float* dst) {
  switch (type) {
    case qt::F32: std::memcpy(dst, src, static_cast<size_t>(nblocks) * 4); break;
    case qt::F16:
      for (int64_t i = 0; i < nblocks; ++i) dst[i] = qt::half_at(src + 2 * i);
      break;
    case qt::BF16:
      for (int64_t i = 0; i < nblocks; ++i) dst[i] = qt::bf16_to_f32(static_cast<uint16_t>(src[2 * i] | src[2 * i + 1] << 8));
      break;
    case qt::Q8_0: deq_q8_0(src, nblocks, dst); break;
    case qt::Q4_0: deq_q4_0(src, nblocks, dst); break;
    case qt::Q4_K: deq_k_min<4>(src, nblocks, dst); break;
    case qt::Q5_K: deq_k_min<5>(src, nblocks, dst); break;
    case qt::Q6_K: deq_q6_k(src, nblocks, dst); break;
    default: break;
  }
}

}  // namespace SLM_ISA
}  // namespace slm
