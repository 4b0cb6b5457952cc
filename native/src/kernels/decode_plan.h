// The plan of single-token decode through a Llama-family decoder's layers (kernels/decode.h):
// pointers to each layer's weights, norms and KV cache, borrowed from buffers the caller keeps
// alive (src/native/ops/decode.ts holds the JavaScript arrays beside the handle). Built once
// per model and cache by the binding (addon/decode.cpp), which checks every size; shared by
// all instruction sets, so it lives outside their namespaces.
#pragma once
#include <cstdint>
#include <vector>

namespace slm {

// Most rows (sequences × tokens) one decode call takes: the quantized products' decode path
// (kernels/qgemm.cpp kQuantRows; src/native/ops/qgemm.ts QGEMM_QUANT_ROWS).
constexpr int64_t kDecodeMaxRows = 8;

// Weight slots of a layer, in the order of DecodeLayer::w.
enum DecodeWeight : int { kDecQ = 0, kDecK, kDecV, kDecO, kDecGate, kDecUp, kDecDown, kDecWeights };

struct DecodeLayer {
  const float* attn_norm;             // (d)
  const float* mlp_norm;              // (d)
  const float* q_norm;                // (hd) per-head RMSNorm of queries (Qwen3), or null
  const float* k_norm;                // (hd) of keys, or null
  int types[kDecWeights];             // ggml type of each weight (kernels/qgemm.h)
  bool plain[kDecWeights];            // a plain float32 weight (type F32), multiplied as linear() does: GEMM onto the bias
  const uint8_t* w[kDecWeights];      // q (h·hd, d), k, v (kvh·hd, d), o (d, h·hd), gate, up (ffn, d), down (d, ffn)
  const float* bias[kDecWeights];     // each (rows) or null
  uint8_t* kcache;                    // (slots, kvh, maxt) rows of hd values in the plan's kv_type
  uint8_t* vcache;
};

struct DecodePlan {
  int64_t d, h, kvh, hd, ffn, rot, maxt, slots;
  float eps, scale;
  int kv_type;             // ggml type of the cache rows: 0 F32, 1 F16, 8 Q8_0
  int64_t kv_row_bytes;    // bytes of one row (hd values)
  std::vector<DecodeLayer> layers;
  std::vector<float> buf;  // activations of kDecodeMaxRows rows (decode.cpp lays them out)
  std::vector<float> kv;   // F16 / Q8_0 caches: one layer's keys and values expanded to float32
};

}  // namespace slm
