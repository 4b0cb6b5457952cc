// Internal interface between the int8 prefill GEMMs (qgemm_i8.cpp with VNNI, qgemm_amx.cpp
// with AMX tiles) and the weight repacking they share (qpack_i8.cpp). AVX-512 build only;
// compiled into that instruction set's namespace like qinternal.h. Not part of the addon's
// contract (that is qgemm.h).
//
// A repacked block covers 32 values of 16 consecutive weight rows: the codes as signed
// bytes interleaved so that one 32-bit lane holds four consecutive values of one row,
// [group g 0..7][row r 0..15][4 codes] (512 bytes: one vector of 16 lanes per group for
// vpdpbusd, and exactly the B operand of an AMX tile multiply with K = 32, 8 rows of 64
// bytes), then 16 float scales (offset 512), 16 int32 corrections -128·Σcodes per row
// (576; vpdpbusd's +128 activations), and 16 float mins or, for Q6_K, second scales (640)
// and second corrections (704). Rows past the matrix are zero (codes and scales).
#pragma once
#include <cstdint>

namespace slm {
namespace SLM_ISA {

#if defined(SLM_ISA_AVX512)

constexpr int kPackRows = 16;                   // weight rows per repacked panel
constexpr int64_t kPackBlockBytes = 512 + 4 * 64;  // bytes per repacked block of 32 values
constexpr int kPackScales = 512, kPackCorr = 576, kPackMins = 640, kPackCorr2 = 704;  // slot offsets

// Rows [r0, r0 + 16) of a Q8_0 / Q4_0 / Q5_0 / Q5_1 matrix (row stride rb bytes, `rows`
// rows in all) -> nb blocks at dst. Codes: Q8_0 as stored, Q4_0 q − 8, Q5_0 q − 16, Q5_1 q
// with its +m stored negated as the min.
void repack16(int type, const uint8_t* w, int64_t rb, int64_t r0, int64_t rows, int64_t nb, uint8_t* dst);
// The same for Q4_K / Q5_K: sub-block j of super-block s becomes block 8s + j with codes
// 0..15 / 0..31, scale d·sc_j and min dmin·m_j. nb = cols / 32.
void repack16_k(int type, const uint8_t* w, int64_t rb, int64_t r0, int64_t rows, int64_t nb, uint8_t* dst);
// The same for Q6_K: codes q − 32, two scales and corrections per block (one per 16 values).
void repack16_q6k(const uint8_t* w, int64_t rb, int64_t r0, int64_t rows, int64_t nb, uint8_t* dst);

#endif

// Prefill y (m,rows) = x·Wᵀ with AMX-INT8 tiles (qgemm_amx.cpp); false when this build,
// compiler, CPU, OS or type cannot, or the AMX switch is off (then the caller goes on).
bool prefill_amx(float* y, const float* x, int64_t m, int type, const uint8_t* w, int64_t rows, int64_t cols);

}  // namespace SLM_ISA
}  // namespace slm
