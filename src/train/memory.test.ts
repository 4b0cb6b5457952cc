import assert from "node:assert/strict";
import { test } from "node:test";

import { createModel, presetConfig } from "../models/index.ts";
import { estimateTrainingMemory } from "./memory.ts";

test("the memory estimate: checkpointing and the chunked loss shrink it, by the amounts the code allocates", () => {
  const model = createModel(presetConfig("nano", 4096, { nLayers: 8 }), 1);
  const o = { batch: 4, seqLen: 128, trainableValues: 1000, checkpointing: false, chunkedLoss: false };
  const plain = estimateTrainingMemory(model, o);
  const ck = estimateTrainingMemory(model, { ...o, checkpointing: true });
  const chunked = estimateTrainingMemory(model, { ...o, chunkedLoss: true });
  assert.ok(ck.activationBytes < plain.activationBytes / 3, `checkpointed activations ${ck.activationBytes} vs ${plain.activationBytes}`);
  assert.equal(plain.logitsBytes, 2 * 512 * 4096 * 4, "full logits and their gradient");
  assert.ok(chunked.logitsBytes < plain.logitsBytes);
  assert.equal(plain.trainingStateBytes, 12_000);
  assert.equal(plain.totalBytes, plain.weightsBytes + plain.trainingStateBytes + plain.activationBytes + plain.logitsBytes + plain.runtimeBytes);
});
