// Tests of `slm demo`'s pipeline on a small folder written here: ingest →
// tokenizer → train (a tiny model, a tiny time budget) → model directory;
// finished stages are reused on a re-run, an interrupted run continues from its
// checkpoint, --fresh starts over, a new --data re-ingests; and the CLI's
// usage errors and failures. Serving is covered by src/serve/web.test.ts.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { loadModel } from "../formats/hf-dir.ts";
import type { CommandContext } from "./command.ts";
import { DEMO_DEFAULTS, SAMPLE_DATA, ensureDemoIndex, runDemoPipeline, type DemoOptions } from "./demo.ts";
import { SectionIndex } from "../assistant/index-db.ts";
import { TINY_HANDBOOK, writeTinyDataset } from "../assistant/testing.ts";
import { runCli } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-demo-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const docs = join(dir, "docs");
const docs2 = join(dir, "docs2");

const TOPICS = ["leave", "expenses", "travel", "security", "benefits", "onboarding", "equipment", "payroll"];

function writeDocs(root: string, salt: string) {
  mkdirSync(root, { recursive: true });
  for (const [i, t] of TOPICS.entries()) {
    const body = Array.from(
      { length: 6 },
      (_, k) => `Staff ask about ${t} rule ${k} (${salt}): write to the ${t} desk ${i + k} days ahead, keep receipts, and tell your manager.`,
    ).join("\n\n");
    writeFileSync(join(root, `${t}.md`), `# ${t[0]!.toUpperCase()}${t.slice(1)} policy\n\n${body}\n`);
  }
}

before(() => {
  writeDocs(docs, "a");
  writeDocs(docs2, "b");
});

function capture(): { ctx: CommandContext; err: () => string } {
  let err = "";
  return { ctx: { out: () => {}, err: (s) => (err += `${s}\n`), tty: false, verbose: false }, err: () => err };
}

const tiny = (out: string, extra: Partial<DemoOptions> = {}): DemoOptions => ({
  data: docs,
  out,
  vocabSize: 300,
  timeBudgetMs: 1500,
  fresh: false,
  seed: 0,
  modelOverrides: { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 64 },
  trainOverrides: { batch: 2, evalEvery: 5, evalBatches: 2, logEvery: 1 },
  ...extra,
});

test("demo pipeline: dataset + tokenizer + trained model directory, then stages are reused", async () => {
  const out = join(dir, "run1");
  const c1 = capture();
  const r1 = await runDemoPipeline(tiny(out), c1.ctx);
  assert.equal(r1.ingested, true);
  assert.equal(r1.trained, true);
  assert.ok(r1.stopped === "time" || r1.stopped === "early", `stopped: ${r1.stopped}`);
  assert.ok(r1.finalValLoss !== null && Number.isFinite(r1.finalValLoss), "a validation loss is reported");
  // Progress: step lines with loss and rate, and the summary.
  assert.match(c1.err(), /step \d+\/\d+ loss \d+\.\d{4} lr .* tok\/s/);
  assert.match(c1.err(), /done after \d+ steps/);
  const m = loadModel(r1.modelDir);
  assert.ok(m.tokenizer, "the model directory carries the tokenizer");
  assert.equal(m.config.dModel, 32);
  assert.equal(m.config.vocabSize, m.tokenizer.vocabSize);
  const state = JSON.parse(readFileSync(join(out, "demo.json"), "utf8"));
  assert.equal(
    state.model.steps,
    JSON.parse(readFileSync(join(out, "checkpoints", readdirNewest(join(out, "checkpoints")), "state.json"), "utf8")).counters.step,
  );

  const weights = join(r1.modelDir, "model.safetensors");
  const before = readFileSync(weights);
  const mtime = statSync(weights).mtimeMs;
  const c2 = capture();
  const r2 = await runDemoPipeline(tiny(out), c2.ctx);
  assert.equal(r2.ingested, false);
  assert.equal(r2.trained, false);
  assert.equal(r2.stopped, "reused");
  assert.equal(r2.finalValLoss, r1.finalValLoss);
  assert.match(c2.err(), /dataset: reusing/);
  assert.match(c2.err(), /model: reusing/);
  assert.equal(statSync(weights).mtimeMs, mtime);
  assert.deepEqual(readFileSync(weights), before);

  // Another folder: a new dataset, so a new model.
  const c3 = capture();
  const r3 = await runDemoPipeline(tiny(out, { data: docs2 }), c3.ctx);
  assert.equal(r3.ingested, true);
  assert.equal(r3.trained, true);
  assert.match(readFileSync(join(out, "dataset", "documents.jsonl"), "utf8"), /\(b\)/);

  // --fresh: everything again, even with the same inputs.
  const c4 = capture();
  const r4 = await runDemoPipeline(tiny(out, { data: docs2, fresh: true }), c4.ctx);
  assert.equal(r4.ingested, true);
  assert.equal(r4.trained, true);
});

function readdirNewest(p: string): string {
  const names = readdirSync(p)
    .filter((n) => n.startsWith("step-"))
    .sort();
  assert.ok(names.length > 0, `no checkpoint in ${p}`);
  return names[names.length - 1]!;
}

test("demo pipeline: an interrupted training run is continued from its checkpoint, not restarted", async () => {
  const out = join(dir, "run2");
  const ac = new AbortController();
  ac.abort();
  const r1 = await runDemoPipeline(tiny(out, { signal: ac.signal, trainOverrides: { batch: 2, evalEvery: 0, evalBatches: 2, logEvery: 1 } }), capture().ctx);
  assert.equal(r1.stopped, "requested");
  assert.ok(existsSync(join(r1.modelDir, "config.json")), "the model so far is saved");
  const c2 = capture();
  const r2 = await runDemoPipeline(tiny(out, { trainOverrides: { batch: 2, evalEvery: 0, evalBatches: 2, logEvery: 1 } }), c2.ctx);
  assert.equal(r2.ingested, false);
  assert.equal(r2.trained, true);
  assert.match(c2.err(), /model: continuing/);
  assert.match(c2.err(), /resumed from step 0/);
  assert.ok(r2.stopped === "time" || r2.stopped === "steps");
});

test("demo pipeline: training that outruns its time budget is stopped at 1.2× and the model is kept", async () => {
  const out = join(dir, "run5");
  // maxSteps far beyond what fits: without the demo's hard limit this would run for minutes.
  const c = capture();
  const r = await runDemoPipeline(
    tiny(out, { timeBudgetMs: 1000, trainOverrides: { batch: 2, maxSteps: 1_000_000, evalEvery: 0, evalBatches: 2, logEvery: 50 } }),
    c.ctx,
  );
  assert.equal(r.stopped, "time");
  assert.match(c.err(), /stopped at the time limit \(1\.2s\)/);
  assert.ok(existsSync(join(r.modelDir, "model.safetensors")));
  // It counts as finished: the next run reuses it.
  const r2 = await runDemoPipeline(tiny(out, { timeBudgetMs: 1000 }), capture().ctx);
  assert.equal(r2.stopped, "reused");
});

test("slm demo: usage errors exit 2, a missing or empty folder exits 1", async () => {
  const run = (argv: string[]) => runCli(argv);
  assert.equal((await run(["demo", "--port", "70000", "--no-serve"])).code, 2);
  assert.equal((await run(["demo", "--time-budget", "soon", "--no-serve"])).code, 2);
  assert.equal((await run(["demo", "--bogus"])).code, 2);
  assert.equal((await run(["demo", "--answerer", "oracle", "--no-serve"])).code, 2);
  const missing = await run(["demo", "--data", join(dir, "nope"), "--out", join(dir, "run3"), "--no-serve"]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /no such file or directory/);
  const empty = join(dir, "empty");
  mkdirSync(empty);
  const e = await run(["demo", "--data", empty, "--out", join(dir, "run4"), "--no-serve"]);
  assert.equal(e.code, 1);
  assert.match(e.err, /nothing usable|no input files|no files/i);
  // The bundled sample exists where the demo looks for it, and the defaults fit it.
  assert.ok(existsSync(join(SAMPLE_DATA, "welcome.md")), `the sample handbook is missing from ${SAMPLE_DATA}`);
  assert.ok(DEMO_DEFAULTS.timeBudgetMs <= 5 * 60_000);
});

test("slm demo: the assistant's index is built once and rebuilt when the dataset changes", () => {
  const out = join(dir, "run-index");
  const ds = writeTinyDataset(join(out, "dataset"));
  const c = capture();
  const path = ensureDemoIndex(out, ds, c.ctx);
  assert.match(c.err(), /indexed 8 sections of 4 documents/);
  const idx = SectionIndex.open(path);
  assert.equal(idx.size, TINY_HANDBOOK.length);
  idx.close();
  const built = statSync(path).mtimeMs;
  const again = capture();
  assert.equal(ensureDemoIndex(out, ds, again.ctx), path);
  assert.equal(again.err(), "", "an up-to-date index is reused");
  assert.equal(statSync(path).mtimeMs, built);
  // A newer dataset (a re-ingest) makes a new index.
  writeTinyDataset(ds, TINY_HANDBOOK.slice(0, 3));
  const future = new Date(Date.now() + 5000);
  utimesSync(join(ds, "documents.jsonl"), future, future);
  const third = capture();
  ensureDemoIndex(out, ds, third.ctx);
  assert.match(third.err(), /indexed 3 sections/);
});
