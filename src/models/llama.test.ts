import assert from "node:assert/strict";
import { test } from "node:test";

import { Tape } from "../tensor/index.ts";
import { createModel, KvCache, presetConfig } from "./index.ts";
import { MLP_ROWS_FLOAT, type LlamaModel } from "./llama.ts";

test("llama: the rotary tables grow with the positions used and give the same logits as the full-context table", () => {
  const config = presetConfig("nano", 61, { modelType: "llama", maxSeqLen: 1024 });
  const V = config.vocabSize;
  const ids = Int32Array.from({ length: 600 }, (_, i) => (i * 7 + 3) % V);
  // Pieces that cross the first table (256 rows) and its doubling (512).
  const pieces: [number, number][] = [
    [0, 200],
    [200, 300],
    [300, 600],
  ];
  const run = (model: LlamaModel): Float32Array[] => {
    const cache = new KvCache(config, 1, 600);
    return pieces.map(([s, e]) => model.forwardCached(new Tape({ grad: false }), ids.subarray(s, e), 1, e - s, cache, Int32Array.of(s)).data.slice());
  };
  const growing = createModel(config, 9) as LlamaModel;
  const full = createModel(config, 9) as LlamaModel;
  assert.equal(full.rope.maxPositions, 1024, "the public table covers the whole context");
  const want = run(full);
  const got = run(growing);
  got.forEach((g, i) => assert.deepEqual(g, want[i], `piece ${i}: bit-identical logits`));
  assert.deepEqual(growing.rope.cos.subarray(0, 600 * 4), full.rope.cos.subarray(0, 600 * 4));
});

test("llama: an inference pass (in-place ops, MLP in slices of MLP_ROWS_FLOAT rows) gives the logits of the plain recording pass", () => {
  const config = presetConfig("nano", 61, { modelType: "llama", maxSeqLen: 1200 });
  const model = createModel(config, 4) as LlamaModel;
  const T = 2 * MLP_ROWS_FLOAT + 37; // float32 weights: three slices of near-equal size
  const ids = Int32Array.from({ length: T }, (_, i) => (i * 11 + 5) % config.vocabSize);
  const pass = (tape: Tape) => model.forwardCached(tape, ids, 1, T, new KvCache(config, 1, T), Int32Array.of(0)).data.slice();
  assert.deepEqual(pass(new Tape({ grad: false })), pass(new Tape()));
});
