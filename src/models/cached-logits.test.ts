import assert from "node:assert/strict";
import { test } from "node:test";

import { Tape } from "../tensor/index.ts";
import { createModel, KvCache, presetConfig, validateConfig, type ModelConfig } from "./index.ts";

const GEMMA = validateConfig({
  modelType: "gemma3_text",
  vocabSize: 97,
  dModel: 32,
  nLayers: 3,
  nHeads: 4,
  nKvHeads: 1,
  headDim: 16,
  ffnDim: 48,
  maxSeqLen: 32,
  normEps: 1e-6,
  ropeTheta: 1e6,
  ropeLocalTheta: 1e4,
  slidingWindow: 4,
  queryPreAttnScalar: 12,
  tieEmbeddings: true,
  qkvBias: false,
  oBias: false,
  mlpBias: false,
  layerTypes: ["sliding_attention", "sliding_attention", "full_attention"],
});

const CONFIGS: Record<string, ModelConfig> = {
  llama: presetConfig("nano", 97, { modelType: "llama", maxSeqLen: 32 }),
  gpt2: presetConfig("nano", 97, { modelType: "gpt2", maxSeqLen: 32 }),
  gemma3_text: GEMMA,
};

for (const [modelType, config] of Object.entries(CONFIGS)) {
  test(`${modelType}: forwardCached with logits "last" gives each sequence's last row of "all"`, () => {
    const model = createModel(config, 5);
    const B = 3,
      T = 7,
      V = config.vocabSize;
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 13 + 1) % V);
    const all = model.forwardCached(new Tape({ grad: false }), ids, B, T, new KvCache(config, B, 16), new Int32Array(B)).data.slice();
    const last = model.forwardCached(new Tape({ grad: false }), ids, B, T, new KvCache(config, B, 16), new Int32Array(B), { logits: "last" });
    assert.deepEqual(last.shape, [B, V]);
    for (let b = 0; b < B; b++) {
      const want = all.subarray(((b + 1) * T - 1) * V, (b + 1) * T * V);
      const got = last.data.subarray(b * V, (b + 1) * V);
      let worst = 0;
      for (let i = 0; i < V; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      assert.ok(worst < 1e-5, `sequence ${b}: max |Δ| ${worst}`);
    }
  });
}
