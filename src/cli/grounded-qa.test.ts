// CLI test of `slm finetune --task grounded-qa`: a tiny handbook index and a
// tiny random model; the run writes its grounded examples (answer()'s prompt,
// cited sentence or not-found targets) and a model, and answers through
// `slm ask --decode copy-answer` with a cited sentence of a shown source (never
// "not found": that choice is not offered), and through `--decode copy` with
// either such a sentence or exactly the not-found phrase. Bad flags give clear
// errors.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { HashEmbedder } from "../assistant/embed.ts";
import { buildIndex } from "../assistant/index-db.ts";
import { writeTinyDataset, tinyTokenizer } from "../assistant/testing.ts";
import { saveModelDir } from "../formats/hf-dir.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { runCli } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-cli-gqa-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const base = join(dir, "base"),
  index = join(dir, "t.index");

before(async () => {
  buildIndex({ dataset: writeTinyDataset(join(dir, "ds")), out: index, embedder: new HashEmbedder(64) });
  const tok = await tinyTokenizer(320);
  saveModelDir(
    base,
    createModel(presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 1024 }), 4),
    { tokenizer: tok },
  );
});

const run = (argv: string[]) => runCli(argv, { streamToOut: true });

test("slm finetune --task grounded-qa builds cited examples, trains, and the model answers with copy decoding", async () => {
  const runDir = join(dir, "run");
  const r = await run([
    "finetune",
    "--task",
    "grounded-qa",
    "--base",
    base,
    "--index",
    index,
    "--synthetic",
    "16",
    "--out",
    runDir,
    "--method",
    "full",
    "--max-steps",
    "2",
    "--batch",
    "2",
    "--context",
    "1024",
    "--answer-tokens",
    "32",
    "--negatives",
    "0.25",
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /grounded-qa: \d+ examples/);
  const lines = readFileSync(join(runDir, "grounded-qa.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.ok(lines.length > 8 && lines.length <= 16, `${lines.length} examples`);
  for (const { messages } of lines) {
    assert.match(messages[0].content, /^Answer the question using only the sources below\./);
    assert.match(messages[1].content, /( \[\d\]|^not found in the documents\.)$/);
  }
  assert.ok(existsSync(join(runDir, "model", "model.safetensors")));
  const ask = async (decode: string) => {
    const a = await run([
      "ask",
      "--model",
      join(runDir, "model"),
      "--index",
      index,
      "--decode",
      decode,
      "--min-confidence",
      "0",
      "--json",
      "How many days of annual leave do full-time staff earn?",
    ]);
    assert.equal(a.code, 0, a.err);
    return JSON.parse(a.out) as { text: string; notFound: boolean; citations: unknown[]; sources: { n: number; snippet: string }[] };
  };
  /** The answer is one sentence of a shown source, cited with that source's number. */
  const citedSentence = (ans: { text: string; sources: { n: number; snippet: string }[] }) =>
    ans.sources.some((s) => ans.text.endsWith(` [${s.n}]`) && s.snippet.includes(ans.text.slice(0, -` [${s.n}]`.length)));
  // copy-answer has no not-found choice: a model two steps old must still give a cited source sentence.
  const sentence = await ask("copy-answer");
  assert.equal(sentence.notFound, false, `copy-answer said not found: ${sentence.text}`);
  assert.ok(citedSentence(sentence), `copy-answer gave "${sentence.text}", not a cited sentence of a shown source`);
  assert.equal(sentence.citations.length, 1);
  // copy may also choose the not-found phrase (this barely trained model does): then exactly that phrase, no citation.
  const either = await ask("copy");
  if (either.notFound) {
    assert.equal(either.text, "not found in the documents.");
    assert.deepEqual(either.citations, []);
  } else assert.ok(citedSentence(either), `copy gave "${either.text}", neither a cited sentence of a shown source nor the not-found phrase`);
});

test("slm finetune --task grounded-qa: clear errors for bad flags", async () => {
  const pairs = join(dir, "pairs.jsonl");
  writeFileSync(pairs, '{"question": "How long must passwords be?", "answer": "14 characters"}\n');
  const cases: [string[], RegExp][] = [
    [["--task", "grounded-qa", "--base", base, "--out", join(dir, "x")], /--index/],
    [["--task", "grounded-qa", "--base", base, "--index", index, "--data", pairs, "--out", join(dir, "x")], /--data is for chat/],
    [["--task", "summarise", "--base", base, "--data", pairs, "--out", join(dir, "x")], /--task must be/],
    [["--task", "grounded-qa", "--base", base, "--index", index, "--teacher-url", "http://127.0.0.1:9/v1", "--out", join(dir, "x")], /go together/],
    [["--task", "grounded-qa", "--base", base, "--index", join(dir, "missing.index"), "--out", join(dir, "x")], /index not found/],
  ];
  for (const [argv, re] of cases) {
    const r = await run(["finetune", ...argv]);
    assert.notEqual(r.code, 0, argv.join(" "));
    assert.match(r.err, re, argv.join(" "));
  }
});
