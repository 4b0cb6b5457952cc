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

// nblocks GGML blocks of `type` at src -> nblocks·block_size floats, exactly as ggml's
// dequantize_row_* (float32 operations in its order).
void dequant_blocks(int type, const uint8_t* src, int64_t nblocks, float* dst);

}  // namespace SLM_ISA
}  // namespace slm
