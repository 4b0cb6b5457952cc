// `slm train` end to end: a folder of documents to a model directory in one
// command, and a run killed with SIGKILL at a random step that resumes from its
// newest checkpoint (checked from the resumed process's own events: the step it
// resumed from and the steps it took) to the same weights as an uninterrupted run.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { Rng } from "../util/rng.ts";
import { runCli, writeWordCorpus } from "./testing.ts";

const root = mkdtempSync(join(tmpdir(), "slm-cli-train-"));
after(() => rmSync(root, { recursive: true, force: true }));
const bin = join(import.meta.dirname, "..", "..", "bin", "slm.js");

const run = (...argv: string[]) => runCli(argv);

// A small handbook-like corpus.
const docs = join(root, "docs");
writeWordCorpus(docs, 12, 8);
const small = ["--preset", "nano", "--batch", "2", "--context", "32", "--vocab-size", "300", "--eval-every", "4", "--log-every", "1"];

test("one command: documents → dataset → tokenizer → model directory, then slm eval", async () => {
  const out = join(root, "run-docs");
  const res = await run("train", "--data", docs, "--out", out, "--max-steps", "6", ...small);
  assert.equal(res.code, 0, res.err);
  assert.match(res.err, /is not a dataset; ingesting it/);
  assert.match(res.err, /done after 6 steps/);
  for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"])
    assert.ok(existsSync(join(out, "model", f)), f);
  const metrics = readFileSync(join(out, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(metrics.filter((m) => m.type === "step").length, 6);
  assert.ok(metrics.some((m) => m.type === "eval" && m.step === 6));
  // Same windows as training's evaluation: 20 batches of 2 × 32 tokens = 5 batches of 8.
  const ev = await run("eval", "--model", join(out, "model"), "--data", join(out, "dataset"), "--context", "32", "--batches", "5", "--json");
  assert.equal(ev.code, 0, ev.err);
  const j = JSON.parse(ev.out);
  assert.ok(j.loss > 0 && j.loss < Math.log(300) + 1, `eval loss ${j.loss}`);
  // The model in the run matches what training reported at its final evaluation.
  const last = metrics.filter((m) => m.type === "eval").pop();
  assert.ok(Math.abs(j.loss - last.valLoss) < 1e-6, `eval ${j.loss} vs training ${last.valLoss}`);
  const notDataset = await run("eval", "--model", join(out, "model"), "--data", docs);
  assert.equal(notDataset.code, 1);
  assert.match(notDataset.err, /has no manifest.json: not a dataset/);
  assert.equal((await run("eval", "--model", join(out, "model"), "--data", join(out, "dataset"), "--split", "test")).code, 2);
});

test("--early-stop: stops once validation loss stops improving and the model directory holds the best validation run's weights", async () => {
  const out = join(root, "run-early");
  const res = await run("train", "--data", docs, "--out", out, "--max-steps", "400", "--lr", "0.01", "--early-stop", "2", "--json", ...small);
  assert.equal(res.code, 0, res.err);
  const lines = res.out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const summary = lines.find((l) => l.type === "summary");
  const evals = lines.filter((l) => l.type === "eval");
  assert.equal(summary.stopped, "early", `val losses ${evals.map((e) => e.valLoss.toFixed(3)).join(" ")}`);
  assert.equal(lines.find((l) => l.type === "done").stopped, "early", "the trainer's done event says so too");
  assert.ok(summary.steps < 400);
  const best = evals.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
  assert.equal(summary.model_step, best.step);
  assert.equal(summary.model_val_loss, best.valLoss);
  // The saved model is that step's: `slm eval` on the same windows gives its loss.
  const ev = await run("eval", "--model", join(out, "model"), "--data", join(out, "dataset"), "--context", "32", "--batches", "5", "--json");
  assert.equal(ev.code, 0, ev.err);
  assert.ok(Math.abs(JSON.parse(ev.out).loss - best.valLoss) < 1e-5, `eval ${JSON.parse(ev.out).loss} vs best ${best.valLoss}`);
  assert.equal(JSON.parse(readFileSync(join(out, "train-config.json"), "utf8")).earlyStop, 2);
});

test("usage errors exit 2 and bad data exits 1, with one-line messages", async () => {
  assert.equal((await run("train", "--data", docs)).code, 2);
  assert.equal((await run("train", "--data", docs, "--out", join(root, "x"))).code, 2, "no length");
  assert.equal((await run("train", "--data", docs, "--out", join(root, "x"), "--max-steps", "0")).code, 2);
  assert.equal((await run("train", "--data", docs, "--out", join(root, "x"), "--max-steps", "1", "--early-stop", "0")).code, 2);
  const noEval = await run(
    "train",
    "--data",
    docs,
    "--out",
    join(root, "x"),
    "--max-steps",
    "1",
    "--early-stop",
    "3",
    "--eval-every",
    "0",
    ...small.slice(0, 6),
  );
  assert.equal(noEval.code, 2);
  assert.match(noEval.err, /--early-stop needs validation runs: --eval-every is 0/);
  assert.equal((await run("train", "--data", docs, "--out", join(root, "x"), "--max-steps", "1", "--preset", "huge")).code, 1);
  const missing = await run("train", "--data", join(root, "nope"), "--out", join(root, "x"), "--max-steps", "1");
  assert.equal(missing.code, 1);
  assert.match(missing.err, /no such file or directory/);
  assert.equal(missing.err.trim().split("\n").length, 1);
});

function child(args: string[], onLine?: (line: string, kill: () => void) => void): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } });
    let buf = "";
    let err = "";
    p.stdout.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        onLine?.(line, () => p.kill("SIGKILL"));
      }
    });
    p.stderr.on("data", (d) => (err += d));
    p.on("error", reject);
    p.on("close", (code, signal) => (signal === "SIGKILL" ? resolve(null) : code === 0 ? resolve(0) : reject(new Error(`exit ${code}: ${err}`))));
  });
}

test("SIGKILL at a random step, then --resume, continues from the last checkpoint to the weights of an uninterrupted run", async () => {
  const data = join(root, "run-docs", "dataset"); // made by the first test
  const args = (out: string) => [
    "train",
    "--data",
    data,
    "--out",
    out,
    "--max-steps",
    "10",
    "--checkpoint-every",
    "1",
    "--json",
    ...small.filter((a) => a !== "--vocab-size" && a !== "300"),
  ];
  await child(args(join(root, "run-whole")));
  const killAt = 2 + new Rng(Date.now()).int(7); // a step in [2, 8]
  let killedAt = -1;
  const status = await child(args(join(root, "run-killed")), (line, kill) => {
    const e = JSON.parse(line);
    if (e.type === "step" && e.step === killAt && killedAt < 0) {
      killedAt = e.step;
      kill();
    }
  });
  assert.equal(status, null, "the run was killed");
  assert.ok(killedAt >= 2);
  // The newest complete checkpoint the kill left (the process may have gone on a little after the step line).
  const saved = readdirSync(join(root, "run-killed", "checkpoints"))
    .filter((d) => /^step-\d+$/.test(d) && existsSync(join(root, "run-killed", "checkpoints", d, "state.json")))
    .map((d) => Number(d.slice(5)));
  const last = Math.max(...saved);
  assert.ok(last >= killAt - 1 && last < 10, `newest checkpoint step ${last} after a kill at step ${killAt}`);
  // Same seed and data: a --resume that silently started again from step 0 would also end on the same
  // weights, so the resumed process must say where it started and take only the remaining steps.
  const events: { type: string; step?: number; steps?: number; resumedFrom?: number | null }[] = [];
  await child([...args(join(root, "run-killed")), "--resume"], (line) => events.push(JSON.parse(line)));
  const start = events.find((e) => e.type === "start");
  assert.equal(start?.resumedFrom, last, `the resumed run reports resumedFrom ${start?.resumedFrom}, the newest checkpoint is step ${last}`);
  const steps = events.filter((e) => e.type === "step").map((e) => e.step);
  assert.deepEqual(
    steps,
    Array.from({ length: 10 - last }, (_, i) => last + 1 + i),
    `steps taken by the resumed process after a checkpoint at step ${last}`,
  );
  assert.equal(events.find((e) => e.type === "summary")?.steps, 10, "the resumed run's summary counts the whole run's steps");
  const a = readFileSync(join(root, "run-whole", "model", "model.safetensors"));
  const b = readFileSync(join(root, "run-killed", "model", "model.safetensors"));
  assert.ok(a.equals(b), `weights differ after a kill at step ${killAt} and resume from step ${last}`);
});
