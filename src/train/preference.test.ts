import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { loadAdapter } from "../formats/peft.ts";
import { tinyByteLevel } from "../formats/testing.ts";
import { quantize } from "../formats/quant.ts";
import { qweight } from "../native/ops/qgemm.ts";
import { createModel, presetConfig, type CausalLM } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { encodePreferences, fillPreferenceBatch, parsePreferenceJsonl, type PreferenceExample } from "./preference-data.ts";
import { PreferenceTrainLoss, evaluatePreferences, finetunePreference, pairLogProbs, withAdaptersOff, type PreferenceEvent } from "./preference.ts";
import { attachLora } from "../models/index.ts";

const root = mkdtempSync(join(tmpdir(), "slm-pref-"));
after(() => rmSync(root, { recursive: true, force: true }));
const tok = await tinyByteLevel(400);

function model(seed = 0): CausalLM {
  return createModel(presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 96 }), seed);
}

const WORDS = ["fox", "dog", "cat", "owl", "elk", "bee", "ant", "yak"];
const examples: PreferenceExample[] = parsePreferenceJsonl(
  WORDS.flatMap((a, i) =>
    WORDS.slice(0, 3).map((b) => JSON.stringify({ prompt: `Who is near the ${a}?`, chosen: `The ${b} is. [${(i % 3) + 1}]`, rejected: `The ${b} is.` })),
  ).join("\n"),
  "pairs.jsonl",
);

test("reference log-probs: adapters off give the base model's log-probs exactly, whatever the adapters hold", () => {
  const m = model(1);
  const { pairs } = encodePreferences(tok, examples.slice(0, 4), 95);
  const base = pairLogProbs(m, pairs, 2);
  const lora = attachLora(m, { r: 2 }, 3);
  for (const a of lora.adapters.values()) a.B.data.fill(0.05);
  const on = pairLogProbs(m, pairs, 2);
  assert.ok(
    on.some((v, i) => Math.abs(v - base[i]!) > 1e-3),
    "the adapters change the policy",
  );
  assert.deepEqual(
    withAdaptersOff(lora, () => pairLogProbs(m, pairs, 4)),
    base,
  );
  assert.deepEqual(pairLogProbs(m, pairs, 2), on, "and are back on afterwards");
});

test("DPO with LoRA: held-out reward accuracy rises, rewards and margins are logged, the adapter is written", async () => {
  const events: PreferenceEvent[] = [];
  const m = model(2);
  const val = examples.filter((_, i) => i % 6 === 0);
  const trainEx = examples.filter((_, i) => i % 6 !== 0);
  const runDir = join(root, "dpo");
  const r = await finetunePreference({
    model: m,
    tokenizer: tok,
    examples: trainEx,
    valExamples: val,
    objective: "dpo",
    method: "lora",
    lora: { r: 4 },
    runDir,
    config: { maxSteps: 24, batch: 4, lr: 5e-3, logEvery: 4, evalEvery: 12 },
    onEvent: (e) => events.push(e),
  });
  const ref = events.find((e) => e.type === "reference");
  assert.ok(ref && ref.type === "reference" && ref.pairs === examples.length);
  const steps = events.filter((e) => e.type === "preference");
  assert.equal(steps.length, 6);
  const first = steps[0]!.type === "preference" ? steps[0]!.metrics : null,
    last = steps.at(-1)!.type === "preference" ? steps.at(-1)!.metrics : null;
  assert.ok(first && last);
  assert.ok(last.margin > first.margin, `margin rises (${first.margin} → ${last.margin})`);
  assert.ok(r.evaluation !== null && r.evaluation.accuracy >= 0.75, `held-out accuracy ${r.evaluation?.accuracy}`);
  assert.ok(r.evaluation.margin > 0);
  const lines = readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const step = lines.find((l) => l.type === "step")!;
  for (const k of ["chosenReward", "rejectedReward", "margin", "accuracy"]) assert.equal(typeof step[k], "number", k);
  assert.equal(lines.at(-1)!.type, "preference_eval");
  assert.ok(existsSync(join(runDir, "preference-eval.json")));
  const cfg = JSON.parse(readFileSync(join(runDir, "finetune-config.json"), "utf8"));
  assert.equal(cfg.objective, "dpo");
  assert.equal(cfg.preference.beta, 0.1);
  // The saved adapter reproduces the trained policy on a fresh base.
  const fresh = model(2);
  loadAdapter(r.output, fresh);
  const { pairs } = encodePreferences(tok, val, 95);
  assert.deepEqual(
    evaluatePreferences(fresh, pairs, null, { ...r.loss, objective: "orpo" }, 4),
    evaluatePreferences(m, pairs, null, { ...r.loss, objective: "orpo" }, 4),
  );
});

test("ORPO, full fine-tuning: no reference pass; the chosen NLL falls and held-out accuracy rises", async () => {
  const events: PreferenceEvent[] = [];
  const r = await finetunePreference({
    model: model(3),
    tokenizer: tok,
    examples,
    valFraction: 0.2,
    objective: "orpo",
    method: "full",
    runDir: join(root, "orpo"),
    config: { maxSteps: 20, batch: 4, lr: 3e-3, logEvery: 5 },
    onEvent: (e) => events.push(e),
  });
  assert.ok(!events.some((e) => e.type === "reference"));
  const m = events.filter((e) => e.type === "preference").map((e) => (e.type === "preference" ? e.metrics : null)!);
  assert.ok(m.at(-1)!.nll! < m[0]!.nll!, `NLL ${m[0]!.nll} → ${m.at(-1)!.nll}`);
  assert.ok(r.evaluation!.accuracy >= 0.75, `held-out accuracy ${r.evaluation!.accuracy}`);
  assert.ok(existsSync(join(r.output, "config.json")));
});

test("DPO (IPO) with LoRA over a q8_0 base trains the adapters", async () => {
  const m = createModel(presetConfig("nano", tok.vocabSize, { dModel: 64, nLayers: 1, nHeads: 4, nKvHeads: 2, headDim: 16, ffnDim: 64, maxSeqLen: 96 }), 4);
  for (const [, p] of m.namedParameters()) if (p.ndim === 2) p.setQuantized(qweight("Q8_0", quantize("Q8_0", p.data), p.shape[0]!, p.shape[1]!));
  const r = await finetunePreference({
    model: m,
    tokenizer: tok,
    examples,
    valExamples: examples.slice(0, 6),
    objective: "dpo",
    loss: "ipo",
    method: "lora",
    runDir: join(root, "ipo-q8"),
    config: { maxSteps: 6, batch: 4, lr: 5e-3 },
  });
  assert.ok(r.evaluation!.margin > 0, `held-out margin ${r.evaluation!.margin}`);
  assert.ok(
    [...r.lora!.adapters.values()].every((a) => a.B.data.some((v) => v !== 0)),
    "every B moved off zero",
  );
});

test("resume: a DPO run stopped at step 2 and resumed ends where an uninterrupted run ends (the reference is re-scored from the base)", async () => {
  const opts = (runDir: string) => ({
    tokenizer: tok,
    examples,
    valExamples: examples.slice(0, 4),
    objective: "dpo" as const,
    method: "lora" as const,
    lora: { r: 2 },
    runDir,
    config: { maxSteps: 4, batch: 2, lr: 5e-3, logEvery: 1, checkpointEvery: 0 },
  });
  const straight = await finetunePreference({ ...opts(join(root, "straight")), model: model(7) });
  const ac = new AbortController();
  const first = await finetunePreference({
    ...opts(join(root, "resumed")),
    model: model(7),
    signal: ac.signal,
    onEvent: (e) => (e.type === "step" && e.step === 2 ? ac.abort() : undefined),
  });
  assert.equal(first.stopped, "requested");
  assert.equal(first.counters.step, 2);
  const resumed = await finetunePreference({ ...opts(join(root, "resumed")), model: model(7), resume: true });
  assert.equal(resumed.counters.step, 4);
  const a = straight.lora!.namedParameters(),
    b = resumed.lora!.namedParameters();
  a.forEach(([n, p], i) => p.data.forEach((x, j) => assert.ok(Math.abs(x - b[i]![1].data[j]!) <= 1e-6, `${n}[${j}]: ${x} vs ${b[i]![1].data[j]}`)));
  assert.ok(Math.abs(straight.evaluation!.loss - resumed.evaluation!.loss) <= 1e-6);
});

test("activation checkpointing: the DPO loss and adapter gradients are those without it", () => {
  const { pairs } = encodePreferences(tok, examples.slice(0, 4), 95);
  const grads = (checkpoint: boolean) => {
    const m = model(9);
    const lora = attachLora(m, { r: 2 }, 4);
    for (const a of lora.adapters.values()) a.B.data.fill(0.02);
    const ref = withAdaptersOff(lora, () => pairLogProbs(m, pairs, 4));
    const b = fillPreferenceBatch(pairs, [0, 1, 2, 3], 0);
    const g = new Tape({ checkpoint });
    const loss = new PreferenceTrainLoss(m, { objective: "dpo", beta: 0.1, loss: "sigmoid", orpoLambda: 0.1 }, ref).compute(
      g,
      m.hidden(g, b.inputs, b.batch, b.seqLen),
      b,
    );
    g.backward(loss);
    return { loss: loss.data[0]!, grads: lora.namedParameters().map(([, p]) => p.grad!.slice()) };
  };
  const a = grads(false),
    c = grads(true);
  assert.ok(Math.abs(a.loss - c.loss) <= 1e-6);
  a.grads.forEach((ga, i) =>
    ga.forEach((x, j) => assert.ok(Math.abs(x - c.grads[i]![j]!) <= 1e-5 + 1e-4 * Math.abs(x), `grad ${i}[${j}]: ${x} vs ${c.grads[i]![j]}`)),
  );
  assert.ok(a.grads.some((ga) => ga.some((x) => x !== 0)));
});
