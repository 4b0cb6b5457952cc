// Internal interface between the quantized-product files (qact, qdot_*, qdequant,
// qgemm), compiled into each instruction set's namespace like them. Not part
// of the addon's contract (that is qgemm.h).
#pragma once
#include <cstdint>

#include "kernels/qtypes.h"

namespace slm {
namespace SLM_ISA {

// x (cols) -> q (cols) int8, d (cols/block) scales max|x|/127, sums16 (cols/16) sums of 16 codes.
// block is 32 or 256; cols a multiple of block.
void quantize_act_row(const float* x, int64_t cols, int block, int8_t* q, float* d, int16_t* sums16);

// Activation rows regrouped for the wide decode loops (qdot_wide.inc, AVX-512 VNNI): one
// aligned 64-byte load of codes matches the 64 weight codes the loop builds from a row, and
// the per-lane block scales and offsets sit beside them. A short last group is zero-padded.
// Q4_0 and Q5_0, per 4 blocks (128 values): codes 0..15 of each block (lo), codes 16..31 (hi),
// d_x of block j in int32 lanes 4j..4j+3, and -8·Σcodes (Q5_0: -16·Σcodes) of block j in lane 4j.
struct alignas(64) WideQ4 {
  int8_t lo[64];
  int8_t hi[64];
  float dx[16];
  int32_t off[16];
};
// Q8_0, per 2 blocks (64 values): the codes in order, d_x of block j in lanes 8j..8j+7, and
// -128·Σcodes of block j in lane 8j (the loop feeds vpdpbusd the weights plus 128).
struct alignas(64) WideQ8 {
  int8_t q[64];
  float dx[16];
  int32_t off[16];
};
// Groups of a row of nb blocks, and bytes of one packed row, for Q4_0 / Q5_0 / Q8_0.
inline int64_t wide_groups(int type, int64_t nb) { return type == qt::Q8_0 ? (nb + 1) / 2 : (nb + 3) / 4; }
inline int64_t wide_row_bytes(int type, int64_t nb) {
  return wide_groups(type, nb) * static_cast<int64_t>(type == qt::Q8_0 ? sizeof(WideQ8) : sizeof(WideQ4));
}
// a (nb blocks of 32) -> dst (wide_row_bytes(type, nb) bytes, 64-byte aligned), type Q4_0, Q5_0 or Q8_0.
void pack_act_wide(int type, const qt::ActRow& a, int64_t nb, void* dst);

// Dot products of one weight row (GGUF blocks) with one quantized activation row.
float dot_q8_0(const uint8_t* w, const qt::ActRow& a, int64_t nblocks);
float dot_q4_0(const uint8_t* w, const qt::ActRow& a, int64_t nblocks);
float dot_q5_0(const uint8_t* w, const qt::ActRow& a, int64_t nblocks);
float dot_q5_1(const uint8_t* w, const qt::ActRow& a, int64_t nblocks);
// Four consecutive rows (row stride rb bytes) at once, out[4]: shares the activation loads.
void dot4_q4_0(const uint8_t* w, int64_t rb, const qt::ActRow& a, int64_t nblocks, float* out);
void dot4_q5_0(const uint8_t* w, int64_t rb, const qt::ActRow& a, int64_t nblocks, float* out);
float dot_q4_k(const uint8_t* w, const qt::ActRow& a, int64_t nsuper);
float dot_q5_k(const uint8_t* w, const qt::ActRow& a, int64_t nsuper);
float dot_q6_k(const uint8_t* w, const qt::ActRow& a, int64_t nsuper);
// Dot products of one F16 / BF16 weight row with float32 activations.
float dot_f16(const uint8_t* w, const float* x, int64_t cols);
float dot_bf16(const uint8_t* w, const float* x, int64_t cols);
// Prefill y (m,rows) = x·Wᵀ as an int8 GEMM over repacked rows (qgemm_i8.cpp); false when
// this build, CPU or type cannot (then the float panels run).
bool prefill_int8(float* y, const float* x, int64_t m, int type, const uint8_t* w, int64_t rows, int64_t cols);
// Whether dot_q8_0 / dot_q4_0 use VNNI here (decided once from CPUID).
bool int8_dot_uses_vnni();
// Whether the wide decode loops serve `type` here (AVX-512 build, VNNI in use, Q4_0, Q5_0 or Q8_0).
bool wide_decode(int type);
// y[i·ldy + r] = W_r · x_i for the nrows rows at w (stride rb, nb blocks of `type` each) and
// the m <= 8 packed activation rows act[i] (pack_act_wide); prefetches a few KB ahead, never
// past the nrows rows. Only where wide_decode(type).
void dot_rows_wide(int type, const uint8_t* w, int64_t rb, int64_t nrows, int64_t nb, const void* const* act, int64_t m,
                   float* y, int64_t ldy);

// nblocks GGML blocks of `type` at src -> nblocks·block_size floats, exactly as ggml's
// dequantize_row_* (float32 operations in its order).
void dequant_blocks(int type, const uint8_t* src, int64_t nblocks, float* dst);

}  // namespace SLM_ISA
}  // namespace slm
