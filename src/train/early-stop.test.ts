import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { ShardSet, ShardWriter } from "../data/shards.ts";
import { createModel, presetConfig, type CausalLM } from "../models/index.ts";
import { Rng } from "../util/rng.ts";
import { BestWeights, EarlyStopping } from "./early-stop.ts";
import { evaluate, train, type TrainEvent } from "./trainer.ts";

const root = mkdtempSync(join(tmpdir(), "slm-early-"));
after(() => rmSync(root, { recursive: true, force: true }));

const V = 64;
function tinyModel(seed = 0): CausalLM {
  return createModel(presetConfig("nano", V, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 32 }), seed);
}
const evalEvent = (step: number, valLoss: number): TrainEvent => ({ type: "eval", step, valLoss, perplexity: Math.exp(valLoss), bitsPerByte: null, tokens: 0 });

test("BestWeights: counts evaluations without improvement and restores the best weights only when they beat the end", () => {
  const model = createModel(presetConfig("nano", 64, { dModel: 16, nLayers: 1, nHeads: 2, nKvHeads: 2, headDim: 8, ffnDim: 32, maxSeqLen: 16 }), 1);
  const p = model.parameters()[0]!;
  const b = new BestWeights(model);
  p.data[0] = 1;
  assert.equal(b.observe(10, 5.0), 0);
  p.data[0] = 2;
  assert.equal(b.observe(20, 4.0), 0); // new best: the copy holds 2
  p.data[0] = 3;
  assert.equal(b.observe(30, 4.5), 1);
  assert.equal(b.observe(40, Number.NaN), 2, "a non-finite loss is not an improvement");
  assert.equal(b.observe(50, 4.2), 3);
  assert.equal(b.restoreIfBetter(4.0), false, "not better than the end: weights stay");
  assert.equal(p.data[0], 3);
  assert.equal(b.restoreIfBetter(4.3), true);
  assert.equal(p.data[0], 2);
  assert.equal(b.step, 20);
  assert.equal(b.loss, 4.0);
});

test("EarlyStopping: aborts after `patience` evaluations without a new best, ignores other events and repeated steps", () => {
  const es = new EarlyStopping(tinyModel(), 2);
  es.observe(evalEvent(10, 3.0));
  es.observe({ type: "checkpoint", step: 10, path: "x" });
  es.observe(evalEvent(20, 3.1));
  es.observe(evalEvent(20, 3.1)); // the same evaluation seen twice counts once
  assert.equal(es.triggered, false);
  es.observe(evalEvent(30, 2.9)); // a new best resets the count
  es.observe(evalEvent(40, 3.0));
  assert.equal(es.triggered, false);
  es.observe(evalEvent(50, 3.0));
  assert.equal(es.triggered, true);
  assert.equal(es.signal.aborted, true);
  assert.equal(es.best.step, 30);
  assert.throws(() => new EarlyStopping(tinyModel(), 0), /patience/);
});

test("a run that memorises its training split stops early, and the kept weights score the best validation loss", async () => {
  // 512 random training tokens are learnt by heart; validation is other random tokens, so
  // validation loss rises once the model starts memorising.
  const r = new Rng(5);
  for (const [split, n] of [
    ["train", 512],
    ["val", 2048],
  ] as const) {
    const w = new ShardWriter({ dir: root, split, vocabSize: V });
    w.write(Array.from({ length: n }, () => r.int(V)));
    w.close();
  }
  const ds = { train: ShardSet.open(root, "train"), val: ShardSet.open(root, "val") };
  const model = tinyModel(2);
  const es = new EarlyStopping(model, 3);
  const evals: number[] = [];
  const maxSteps = 600;
  const res = await train({
    model,
    ...ds,
    runDir: join(root, "run"),
    signal: es.signal,
    config: { batch: 4, seqLen: 16, lr: 1e-2, maxSteps, evalEvery: 10, evalBatches: 8, checkpointEvery: 0, logEvery: 10 },
    onEvent: (e) => {
      if (e.type === "eval") evals.push(e.valLoss);
      es.observe(e);
    },
  });
  assert.equal(es.triggered, true, `validation losses: ${evals.map((l) => l.toFixed(3)).join(" ")}`);
  assert.ok(res.counters.step < maxSteps, `stopped at ${res.counters.step}`);
  assert.equal(res.stopped, "early", "the trainer tells early stopping from an interruption");
  assert.ok(res.finalValLoss! > es.best.loss, `final ${res.finalValLoss} vs best ${es.best.loss}`);
  assert.equal(es.best.restoreIfBetter(res.finalValLoss), true);
  const again = evaluate(model, ds.val, 4, 16, 8).loss;
  assert.ok(Math.abs(again - es.best.loss) < 1e-5, `restored weights score ${again}, best was ${es.best.loss}`);
  ds.train.close();
  ds.val.close();
});
