// Tests of embed(): one dModel vector per input; each is the mean over the
// input's positions of the final hidden state, checked against the last row of
// hidden() run on every prefix (a causal model's row t sees tokens 0..t only);
// inputs do not affect each other; bad inputs and cancellation.
import assert from "node:assert/strict";
import { test } from "node:test";

import { CancelledError, UsageError } from "../errors.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { embed } from "./embed.ts";

const config = presetConfig("nano", 200, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 32 });
const gpt2 = presetConfig("nano", 200, {
  modelType: "gpt2",
  dModel: 32,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 4,
  headDim: 8,
  ffnDim: 64,
  maxSeqLen: 32,
  qkvBias: true,
  oBias: true,
  mlpBias: true,
});

for (const c of [config, gpt2]) {
  test(`${c.modelType}: embeddings are the mean of the final hidden states over the input's tokens`, () => {
    const model = createModel(c, 4);
    const inputs = [[5, 6, 7, 8, 9], [42], [100, 3, 3]];
    const vecs = embed(model, inputs);
    assert.equal(vecs.length, 3);
    for (const v of vecs) assert.equal(v.length, c.dModel);
    const tape = new Tape({ grad: false });
    inputs.forEach((ids, i) => {
      // Reference: the hidden state of position t is the last row of hidden() over ids[0..t].
      const ref = new Float64Array(c.dModel);
      for (let t = 1; t <= ids.length; t++) {
        tape.reset();
        const h = model.hidden(tape, Int32Array.from(ids.slice(0, t)), 1, t).data;
        for (let k = 0; k < c.dModel; k++) ref[k]! += h[(t - 1) * c.dModel + k]! / ids.length;
      }
      for (let k = 0; k < c.dModel; k++) assert.ok(Math.abs(vecs[i]![k]! - ref[k]!) < 1e-4, `input ${i} dim ${k}: ${vecs[i]![k]} vs ${ref[k]}`);
    });
    // Alone or together: the same vectors; different inputs give different vectors.
    assert.deepEqual(embed(model, [inputs[2]!])[0], vecs[2]);
    assert.notDeepEqual(vecs[0], vecs[2]);
  });
}

test("embed: bad inputs are UsageErrors; an aborted signal throws CancelledError", () => {
  const model = createModel(config, 4);
  assert.throws(() => embed(model, [[]]), UsageError);
  assert.throws(() => embed(model, [[1, 200]]), /outside the vocabulary/);
  assert.throws(() => embed(model, [new Array(33).fill(1)]), /context is 32/);
  assert.deepEqual(embed(model, []), []);
  assert.throws(() => embed(model, [[1, 2]], { signal: AbortSignal.abort() }), CancelledError);
});
