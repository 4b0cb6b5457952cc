import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { ConfigError } from "../errors.ts";
import { ShardSet } from "../data/shards.ts";
import { createModel, presetConfig, type CausalLM } from "../models/index.ts";
import { writePatternSplit } from "./testing.ts";
import { listCheckpoints } from "./checkpoint.ts";
import { train, type TrainConfig, type TrainEvent } from "./trainer.ts";

const root = mkdtempSync(join(tmpdir(), "slm-trainer-"));
after(() => rmSync(root, { recursive: true, force: true }));

// A learnable stream: token t+1 = (3·t + 1) mod 64, restarted at random points.
const V = 64;
writePatternSplit(root, "train", 20000, 1, V);
writePatternSplit(root, "val", 3000, 2, V);

function tinyModel(seed = 0): CausalLM {
  return createModel(presetConfig("nano", V, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 32 }), seed);
}

const base: Partial<TrainConfig> = { batch: 4, seqLen: 16, lr: 3e-3, evalEvery: 10, evalBatches: 4, checkpointEvery: 5, logEvery: 1 };

function weights(m: CausalLM): Float32Array[] {
  return m.namedParameters().map(([, p]) => p.data.slice());
}

test("loss falls on a learnable stream, and metrics.jsonl records steps and evals", async () => {
  const ds = { train: ShardSet.open(root, "train"), val: ShardSet.open(root, "val") };
  const events: TrainEvent[] = [];
  const r = await train({
    model: tinyModel(),
    ...ds,
    runDir: join(root, "run-learn"),
    config: { ...base, lr: 1e-2, maxSteps: 60 },
    onEvent: (e) => events.push(e),
  });
  const steps = events.filter((e) => e.type === "step") as Extract<TrainEvent, { type: "step" }>[];
  assert.equal(steps.length, 60);
  assert.ok(steps[0]!.loss > 3.5, `first loss ${steps[0]!.loss}`);
  assert.ok(r.finalValLoss! < 2.0, `final val loss ${r.finalValLoss}`);
  assert.equal(r.stopped, "steps");
  assert.deepEqual(listCheckpoints(join(root, "run-learn")), ["step-00000055", "step-00000060"]);
  ds.train.close();
  ds.val.close();
});

test("stop at step 7 + resume ends bit-identical to an uninterrupted run", async () => {
  const ds = { train: ShardSet.open(root, "train"), val: ShardSet.open(root, "val") };
  const cfg = { ...base, maxSteps: 14, checkpointEvery: 0 };
  const whole = tinyModel(3);
  await train({ model: whole, ...ds, runDir: join(root, "run-whole"), config: cfg });

  const first = tinyModel(3);
  const ac = new AbortController();
  const r1 = await train({
    model: first,
    ...ds,
    runDir: join(root, "run-split"),
    config: cfg,
    signal: ac.signal,
    onEvent: (e) => {
      if (e.type === "step" && e.step === 7) ac.abort();
    },
  });
  assert.equal(r1.stopped, "requested");
  assert.equal(r1.counters.step, 7);
  const second = tinyModel(99); // different init: everything must come from the checkpoint
  const r2 = await train({ model: second, ...ds, runDir: join(root, "run-split"), config: cfg, resume: true });
  assert.equal(r2.counters.step, 14);
  const a = weights(whole),
    b = weights(second);
  for (let i = 0; i < a.length; i++) assert.deepEqual(b[i], a[i], `parameter ${i} differs`);
  ds.train.close();
  ds.val.close();
});

test("resume refuses changed options and a missing checkpoint; a fresh run refuses an existing one", async () => {
  const ds = { train: ShardSet.open(root, "train") };
  await assert.rejects(train({ model: tinyModel(), ...ds, runDir: join(root, "run-none"), config: { ...base, maxSteps: 2 }, resume: true }), /no checkpoint/);
  await train({ model: tinyModel(), ...ds, runDir: join(root, "run-opts"), config: { ...base, maxSteps: 2 } });
  await assert.rejects(
    train({ model: tinyModel(), ...ds, runDir: join(root, "run-opts"), config: { ...base, maxSteps: 4, batch: 2 }, resume: true }),
    /batch = 4/,
  );
  await assert.rejects(train({ model: tinyModel(), ...ds, runDir: join(root, "run-opts"), config: { ...base, maxSteps: 4 } }), /already has checkpoints/);
  ds.train.close();
});

test("a corrupt checkpoint is a clear error", async () => {
  const ds = { train: ShardSet.open(root, "train") };
  const dir = join(root, "run-corrupt");
  await train({ model: tinyModel(), ...ds, runDir: dir, config: { ...base, maxSteps: 2 } });
  writeFileSync(join(dir, "checkpoints", "step-00000002", "model.safetensors"), "garbage");
  await assert.rejects(
    train({ model: tinyModel(), ...ds, runDir: dir, config: { ...base, maxSteps: 4 }, resume: true }),
    /model.safetensors: .*too short|header length/,
  );
  ds.train.close();
});

test("non-finite losses skip the update, warn, and stop the run after repeated failures", async () => {
  const ds = { train: ShardSet.open(root, "train") };
  const model = tinyModel();
  const [, emb] = model.namedParameters().find(([n]) => n.endsWith("embed_tokens.weight"))!;
  emb.data.fill(Number.NaN);
  const [, norm] = model.namedParameters().find(([n]) => n === "model.norm.weight")!;
  const before = norm.data.slice();
  const warns: string[] = [];
  await assert.rejects(
    train({
      model,
      ...ds,
      runDir: join(root, "run-nan"),
      config: { ...base, maxSteps: 10, maxBadSteps: 3 },
      onEvent: (e) => {
        if (e.type === "warn") warns.push(e.message);
      },
    }),
    (e: unknown) => e instanceof ConfigError && /diverged: 3 consecutive steps/.test(e.message),
  );
  assert.equal(warns.length, 3);
  assert.match(warns[0]!, /non-finite loss at step 1: update skipped/);
  assert.deepEqual(norm.data, before, "no update was applied");
  ds.train.close();
});

test("a time budget fixes the step count after calibration and stops on time", async () => {
  const ds = { train: ShardSet.open(root, "train") };
  let t = 0;
  const r = await train({
    model: tinyModel(),
    ...ds,
    runDir: join(root, "run-time"),
    config: { ...base, timeBudgetMs: 1000, logEvery: 100 },
    now: () => (t += 50), // every clock read advances 50 ms
  });
  assert.equal(r.stopped, "time");
  assert.ok(r.counters.totalSteps > 3 && r.counters.step === r.counters.totalSteps, JSON.stringify(r.counters));
  ds.train.close();
});
