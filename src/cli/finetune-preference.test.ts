// CLI tests of `slm finetune --objective dpo|orpo`: a tiny random model and a
// few preference pairs in a temp directory.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { saveModelDir } from "../formats/hf-dir.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { trainBpe } from "../tokenizer/index.ts";
import { runCli } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-cli-pref-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const base = join(dir, "base");
const data = join(dir, "pairs.jsonl");

before(async () => {
  const lines = ["the cat sat on the mat.", "the dog sat on the log.", "hello there, how are you? [1]"];
  const tok = await trainBpe(
    (function* () {
      for (let i = 0; i < 20; i++) yield* lines;
    })(),
    { vocabSize: 300 },
  );
  const model = createModel(presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 64 }), 5);
  saveModelDir(base, model, { tokenizer: tok });
  const pairs = Array.from({ length: 12 }, (_, i) =>
    JSON.stringify({ prompt: lines[i % 2], chosen: `the ${i % 3 ? "cat" : "dog"} sat. [1]`, rejected: `the ${i % 3 ? "cat" : "dog"} sat.` }),
  );
  writeFileSync(data, `${pairs.join("\n")}\n`);
});

const run = (argv: string[]) => runCli(argv, { streamToOut: true });

test("slm finetune --objective dpo (lora): rewards, margin and accuracy per log step and for the held-out pairs; adapter written", async () => {
  const out = join(dir, "dpo");
  const r = await run([
    "finetune",
    "--base",
    base,
    "--data",
    data,
    "--out",
    out,
    "--objective",
    "dpo",
    "--beta",
    "0.2",
    "--max-steps",
    "4",
    "--batch",
    "2",
    "--log-every",
    "2",
    "--val-fraction",
    "0.25",
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /reference log-probs of 12 pairs \(base, adapters off\)/);
  assert.match(r.err, /rewards chosen -?\d+\.\d+ rejected -?\d+\.\d+ margin -?\d+\.\d+ accuracy \d+\.\d%/);
  assert.match(r.err, /held-out pairs \(3\): loss \d\.\d+, rewards chosen .* accuracy/);
  assert.ok(existsSync(join(out, "adapter", "adapter_model.safetensors")));
  const cfg = JSON.parse(readFileSync(join(out, "finetune-config.json"), "utf8"));
  assert.deepEqual(cfg.preference, { objective: "dpo", beta: 0.2, loss: "sigmoid", orpoLambda: 0.1, rpoAlpha: 1 });
  assert.equal(cfg.batch, 4, "two pairs per step are four rows");
});

test("slm finetune --objective orpo --method full --json: JSON lines with the preference figures", async () => {
  const r = await run([
    "finetune",
    "--base",
    base,
    "--data",
    data,
    "--out",
    join(dir, "orpo"),
    "--objective",
    "orpo",
    "--method",
    "full",
    "--max-steps",
    "2",
    "--batch",
    "2",
    "--log-every",
    "1",
    "--json",
  ]);
  assert.equal(r.code, 0, r.err);
  const lines = r.out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.ok(lines.some((l) => l.type === "preference" && typeof l.metrics.nll === "number"));
  assert.equal(lines.at(-1).type, "summary");
  assert.equal(lines.at(-1).objective.objective, "orpo");
  assert.ok(!lines.some((l) => l.type === "reference"), "ORPO has no reference pass");
});

test("preference flags and files: usage errors (exit 2) and file:line format errors (exit 1)", async () => {
  const common = ["finetune", "--base", base, "--data", data, "--out", join(dir, "bad")];
  for (const [extra, re] of [
    [["--objective", "kto"], /--objective must be sft, dpo or orpo/],
    [["--objective", "orpo", "--beta", "0.1"], /--beta, --loss and --rpo-alpha are DPO options/],
    [["--objective", "orpo", "--rpo-alpha", "1"], /DPO options/],
    [["--objective", "dpo", "--rpo-alpha=-1"], /--rpo-alpha must be a number >= 0/],
    [["--objective", "dpo", "--orpo-lambda", "1"], /--orpo-lambda is an ORPO option/],
    [["--objective", "dpo", "--loss", "hinge"], /--loss must be sigmoid or ipo/],
    [["--objective", "dpo", "--beta", "0"], /--beta must be a number > 0/],
    [["--beta", "0.1"], /preference options/],
    [["--objective", "dpo", "--packing"], /--packing is for SFT/],
  ] as [string[], RegExp][]) {
    const r = await run([...common, ...extra]);
    assert.equal(r.code, 2, `${extra.join(" ")}: ${r.err}`);
    assert.match(r.err, re);
  }
  const bad = join(dir, "bad.jsonl");
  writeFileSync(bad, `${readFileSync(data, "utf8") + JSON.stringify({ prompt: "x", chosen: "y" })}\n`);
  const r = await run(["finetune", "--base", base, "--data", bad, "--out", join(dir, "bad2"), "--objective", "dpo"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /bad\.jsonl:13: missing "rejected"/);
});
