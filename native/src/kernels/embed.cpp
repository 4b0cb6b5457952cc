// Embedding lookup and its scatter-add backward, compiled once per instruction
// set (namespace slm::SLM_ISA). Knows nothing about vocabularies or models:
// ids are trusted to be in range (the binding checks them).
#include <cstdint>
#include <cstring>

#include "kernels/simd.h"
#include "pool.h"

namespace slm {
namespace SLM_ISA {

namespace {
// Below this many floats moved a call stays on the calling thread.
constexpr int64_t kGrainFloats = 1 << 15;
}  // namespace

// out (N,C), ids (N), table (V,C)
void embedding_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t C, int64_t /*V*/) {
  int64_t grain = C >= kGrainFloats ? 1 : kGrainFloats / C;
  parallel_for(N, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      std::memcpy(out + i * C, table + static_cast<int64_t>(ids[i]) * C, static_cast<size_t>(C) * sizeof(float));
    }
  });
}

// dtable (V,C), dout (N,C), ids (N)
void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t C, int64_t /*V*/) {
  // Column blocks of 64 floats (a cache line pair, a whole number of vectors on every ISA):
  // each task owns a range of columns, so two threads never touch the same dtable element,
  // and within a task rows are added in id order, so the result is deterministic.
  constexpr int64_t kBlock = 64;
  int64_t nblocks = (C + kBlock - 1) / kBlock;
  int64_t per_block = N * kBlock;
  int64_t grain = per_block >= kGrainFloats ? 1 : (kGrainFloats + per_block - 1) / per_block;
  parallel_for(nblocks, grain, [&](int64_t b0, int64_t b1) {
    int64_t c0 = b0 * kBlock, c1 = b1 * kBlock < C ? b1 * kBlock : C;
    int64_t w = c1 - c0;
    for (int64_t i = 0; i < N; ++i) {
      float* d = dtable + static_cast<int64_t>(ids[i]) * C + c0;
      const float* g = dout + i * C + c0;
      int64_t j = 0;
      for (; j + VF::W <= w; j += VF::W) (VF::load(d + j) + VF::load(g + j)).store(d + j);
      if (j < w) {
        int r = static_cast<int>(w - j);
        (VF::load_partial(d + j, r) + VF::load_partial(g + j, r)).store_partial(d + j, r);
      }
    }
  });
}

}  // namespace SLM_ISA
}  // namespace slm
