import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { ShardSet, ShardWriter } from "../data/shards.ts";
import { loadModel } from "../formats/hf-dir.ts";
import { attachLora, createModel, presetConfig, type CausalLM } from "../models/index.ts";
import { Rng } from "../util/rng.ts";
import { trainRunDir } from "./run.ts";
import { evaluate, type TrainConfig } from "./trainer.ts";

const root = mkdtempSync(join(tmpdir(), "slm-rundir-"));
after(() => rmSync(root, { recursive: true, force: true }));

const V = 64;
const tiny = (seed: number): CausalLM =>
  createModel(presetConfig("nano", V, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 32 }), seed);
// 512 random training tokens are learnt by heart while validation (other random tokens) gets
// worse: early stopping has something to keep.
const r = new Rng(5);
for (const [split, n] of [
  ["train", 512],
  ["val", 2048],
] as const) {
  const w = new ShardWriter({ dir: root, split, vocabSize: V });
  w.write(Array.from({ length: n }, () => r.int(V)));
  w.close();
}
const config: Partial<TrainConfig> = { batch: 4, seqLen: 16, lr: 1e-2, maxSteps: 600, evalEvery: 10, evalBatches: 8, checkpointEvery: 0, logEvery: 10 };

test("trainRunDir: early stopping saves the best validation weights in RUN/model and the settings in RUN/<record>", async () => {
  const ds = { train: ShardSet.open(root, "train"), val: ShardSet.open(root, "val") };
  const runDir = join(root, "early");
  const res = await trainRunDir({ model: tiny(2), ...ds, runDir, config, earlyStop: 3, record: { file: "x-config.json", settings: { hello: 1, ...config } } });
  assert.equal(res.stopped, "early");
  assert.ok(res.keptStep !== null && res.keptStep < res.counters.step, `kept ${res.keptStep} of ${res.counters.step}`);
  assert.ok(res.savedValLoss! < res.finalValLoss!, `saved ${res.savedValLoss} vs final ${res.finalValLoss}`);
  assert.equal(res.output, join(runDir, "model"));
  const saved = loadModel(res.output).model;
  const again = evaluate(saved, ds.val, 4, 16, 8).loss;
  assert.ok(Math.abs(again - res.savedValLoss!) < 1e-4, `the saved model scores ${again}, the kept weights ${res.savedValLoss}`);
  assert.deepEqual(JSON.parse(readFileSync(join(runDir, "x-config.json"), "utf8")), { hello: 1, ...config });
  ds.train.close();
  ds.val.close();
});

test("trainRunDir: the caller's interrupt keeps the last weights (resumable); the deadline stops as 'time'; a LoRA run saves RUN/adapter", async () => {
  const ds = { train: ShardSet.open(root, "train"), val: ShardSet.open(root, "val") };
  const ac = new AbortController();
  const a = await trainRunDir({
    model: tiny(3),
    ...ds,
    runDir: join(root, "interrupt"),
    config,
    earlyStop: 1000,
    signal: ac.signal,
    onEvent: (e) => e.type === "eval" && e.step >= 40 && ac.abort(),
  });
  assert.equal(a.stopped, "requested");
  assert.equal(a.deadlineHit, false);
  assert.equal(a.keptStep, null, "an interruption never swaps in the best weights");
  assert.equal(a.savedValLoss, a.finalValLoss);

  const model = tiny(4);
  const lora = attachLora(model, { r: 2 }, 0);
  const b = await trainRunDir({
    model,
    ...ds,
    runDir: join(root, "deadline"),
    config: { ...config, maxSteps: 100_000 },
    deadlineMs: 1500,
    trainable: lora.namedParameters(),
    adapter: { lora, baseModel: "some/base" },
  });
  assert.equal(b.stopped, "time");
  assert.equal(b.deadlineHit, true);
  assert.ok(b.counters.step < 100_000);
  assert.equal(b.output, join(root, "deadline", "adapter"));
  assert.equal(JSON.parse(readFileSync(join(b.output, "adapter_config.json"), "utf8")).base_model_name_or_path, "some/base");
  assert.equal(existsSync(join(root, "deadline", "model")), false, "a LoRA run saves the adapter, not the model");
  ds.train.close();
  ds.val.close();
});
