// GGML block types as the quantized kernels see them: ids, block sizes and
// bytes (the same table as src/formats/quant.ts), an exact f16 -> f32
// conversion for block scales, and the 8-bit activation rows the integer dot
// products read. Header-only, compiled into each instruction set's copy.
// Knows nothing about threads or models.
#pragma once
#include <cstdint>
#include <cstring>
#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace slm {
namespace qt {

enum Type : int { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, Q4_K = 12, Q5_K = 13, Q6_K = 14, BF16 = 30 };

inline bool known(int t) {
  return t == F32 || t == F16 || t == BF16 || t == Q4_0 || t == Q8_0 || t == Q4_K || t == Q5_K || t == Q6_K;
}
inline int64_t block_size(int t) { return t == Q4_K || t == Q5_K || t == Q6_K ? 256 : t == Q4_0 || t == Q8_0 ? 32 : 1; }
inline int64_t block_bytes(int t) {
  switch (t) {
    case F32: return 4;
    case F16: case BF16: return 2;
    case Q4_0: return 18;
    case Q8_0: return 34;
    case Q4_K: return 144;
    case Q5_K: return 176;
    case Q6_K: return 210;
    default: return 0;
  }
}
inline int64_t row_bytes(int t, int64_t cols) { return cols / block_size(t) * block_bytes(t); }

// IEEE half bits -> float, exact (subnormals, infinities, NaN), as ggml's GGML_FP16_TO_FP32.
inline float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { ++e; mant <<= 1; } while (!(mant & 0x400));
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline float half_at(const uint8_t* p) {
#if defined(__F16C__)
  return _cvtsh_ss(static_cast<unsigned short>(p[0] | p[1] << 8));  // exact, like the bit version
#else
  return f16_to_f32(static_cast<uint16_t>(p[0] | p[1] << 8));
#endif
}
inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block (12 packed bytes at q).
inline void scale_min_k4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// One activation row quantized to 8 bits: q (cols) int8, one float scale per `block` values
// (32 or 256), and the sum of each 16 codes (for the weight offsets: -8 of Q4_0, the mins of
// Q4_K/Q5_K, -32 of Q6_K). x ≈ q · d[k / block].
struct ActRow {
  const int8_t* q;
  const float* d;
  const int16_t* sums16;
};

}  // namespace qt
}  // namespace slm
