import assert from "node:assert/strict";
import { test } from "node:test";

import { quantize } from "../formats/quant.ts";
import { qweight } from "../native/ops/qgemm.ts";
import { attachLora, createModel, presetConfig } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { estimateTrainingMemory } from "./memory.ts";
import { batchLoss } from "./trainer.ts";

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

test("the estimate's activations and logits match what a LoRA step's arenas hold (checkpointing on and off, float and Q8_0 base)", () => {
  for (const [checkpointing, quantized] of [
    [true, false],
    [false, false],
    [true, true],
    [false, true],
  ]) {
    const model = createModel(presetConfig("nano", 512, { nLayers: 6, maxSeqLen: 64 }), 1);
    if (quantized) for (const p of model.parameters()) if (p.ndim === 2) p.setQuantized(qweight("Q8_0", quantize("Q8_0", p.data), p.shape[0]!, p.shape[1]!));
    const lora = attachLora(model, { r: 4 }, 2);
    const B = 2,
      T = 64;
    const e = estimateTrainingMemory(model, {
      batch: B,
      seqLen: T,
      trainableValues: lora.numParameters(),
      loraRank: 4,
      adaptersPerLayer: 7,
      checkpointing,
      chunkedLoss: true,
    });
    const g = new Tape({ checkpoint: checkpointing });
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 5 + 1) % 512);
    g.backward(batchLoss(model, g, { inputs: ids, targets: ids, batch: B, seqLen: T }, true));
    const held = (g.arena.stats().capacity + g.workArena.stats().capacity) * 4;
    const est = e.activationBytes + e.logitsBytes;
    assert.ok(Math.abs(est - held) < 0.1 * held, `checkpointing ${checkpointing}, quantized ${quantized}: estimated ${est} bytes, the arenas hold ${held}`);
    assert.equal(e.trainingStateBytes, 16 * lora.numParameters(), "an adapter's value, gradient and two moments");
  }
});
