import assert from "node:assert/strict";
import { test } from "node:test";

import { Tape } from "../tensor/index.ts";
import { createModel, KvCache, presetConfig } from "./index.ts";

for (const modelType of ["llama", "gpt2"] as const) {
  test(`${modelType}: forwardCached with logits "last" gives each sequence's last row of "all"`, () => {
    const config = presetConfig("nano", 97, { modelType, maxSeqLen: 32 });
    const model = createModel(config, 5);
    const B = 3, T = 7, V = config.vocabSize;
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
