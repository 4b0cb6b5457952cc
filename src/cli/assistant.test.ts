// CLI tests of `slm index`, `slm ask` and `slm eval qa` on the tiny handbook:
// output matches the library's answer, files written by --out, `slm eval`
// still routes to the perplexity command, usage errors exit 2, a corrupt
// index exits 1 with a one-line message.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import Database from "better-sqlite3";

import { writeTinyDataset, tinyTokenizer } from "../assistant/testing.ts";
import { runCli } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-cli-assist-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const ds = writeTinyDataset(join(dir, "ds"));
const index = join(dir, "hb.index");

const run = (argv: string[]) => runCli(argv);

test("slm index, then slm ask answers with a citation line, and --json gives the whole result", async () => {
  const b = await run(["index", ds, "--out", index, "--dim", "64", "--json"]);
  assert.equal(b.code, 0, b.err);
  assert.equal(JSON.parse(b.out).sections, 8);
  const a = await run(["ask", "--index", index, "How", "many", "characters", "must", "passwords", "have?"]);
  assert.equal(a.code, 0, a.err);
  assert.match(a.out, /at least 14 characters.*\[1\]\n\n\[1\] hb\/security\.md — Passwords\n/);
  assert.match(a.err, /extractive baseline, bm25 retrieval/);
  const j = await run(["ask", "--index", index, "--retrieval", "hybrid", "--json", "When are salaries paid?"]);
  const r = JSON.parse(j.out);
  assert.equal(r.retrieval.mode, "hybrid");
  assert.equal(r.citations[0].sourcePath, "hb/pay.md");
  const nf = await run(["ask", "--index", index, "What is the sabbatical policy?"]);
  assert.match(nf.out, /^Not found in the documents\.\n$/);
});

test("slm eval qa prints recall and accuracy and writes report.html, summary.json, records.jsonl", async () => {
  const q = join(dir, "q.jsonl"),
    u = join(dir, "u.jsonl"),
    out = join(dir, "report");
  writeFileSync(
    q,
    [
      { question: "How many days of annual leave do full-time staff earn?", answer: "25 days", source_path: "leave.md" },
      { question: "What is the meal allowance in Oslo?", answer: "60 euros", source_path: "travel.md" },
    ]
      .map((x) => JSON.stringify(x))
      .join("\n"),
  );
  writeFileSync(u, `${JSON.stringify({ question: "Do we get free gym membership?" })}\n`);
  const r = await run(["eval", "qa", "--index", index, "--questions", q, "--unanswerable", u, "--out", out]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /bm25 retrieval/);
  assert.match(r.out, /recall bm25 +@1 100\.0%/);
  assert.match(r.out, /recall hybrid +@1 100\.0%/, "recall for every mode the index supports");
  assert.match(r.out, /accuracy 100\.0%/);
  assert.match(r.out, /unanswerable: 100\.0% of 1/);
  const s = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
  assert.equal(s.accuracy, 1);
  assert.equal(s.questionsFile, q);
  assert.ok(readFileSync(join(out, "report.html"), "utf8").includes("<svg"));
  assert.equal(readFileSync(join(out, "records.jsonl"), "utf8").trim().split("\n").length, 3);
  const js = await run(["eval", "qa", "--index", index, "--questions", q, "--json"]);
  assert.equal(JSON.parse(js.out).questions, 2);
});

test("slm eval without qa is still the perplexity command", async () => {
  const h = await run(["eval", "--help"]);
  assert.match(h.out, /--data DATASET/);
  const missing = await run(["eval", "--data", ds]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /--model is required/);
});

test("usage errors exit 2; a corrupt index exits 1 naming the file", async () => {
  assert.equal((await run(["ask", "question?"])).code, 2);
  assert.equal((await run(["ask", "--index", index])).code, 2);
  assert.equal((await run(["ask", "--index", index, "--retrieval", "fuzzy", "q?"])).code, 2);
  assert.equal((await run(["ask", "--index", index, "--min-confidence", "2", "q?"])).code, 2);
  for (const w of ["-1", "abc", ""]) {
    const bad = await run(["ask", "--index", index, `--baseline-weight=${w}`, "q?"]);
    assert.equal(bad.code, 2, `--baseline-weight "${w}"`);
    assert.match(bad.err, /--baseline-weight must be a number >= 0/);
  }
  assert.equal((await run(["index", ds])).code, 2);
  assert.equal((await run(["eval", "qa", "--index", index])).code, 2);
  const bad = join(dir, "bad.index");
  writeFileSync(bad, "garbage ".repeat(600));
  const r = await run(["ask", "--index", bad, "q?"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /bad\.index: not a readable slm index/);
  assert.equal(r.err.trim().split("\n").length, 2); // message + hint, no stack
  assert.ok(!existsSync(join(dir, "x.index")));
});

test("slm train-reader trains and saves a reader that slm ask and slm eval qa use through --model", async () => {
  if (!existsSync(index)) assert.equal((await run(["index", ds, "--out", index, "--dim", "64"])).code, 0);
  const tok = await tinyTokenizer(300);
  const tokDir = join(dir, "tok");
  tok.save(tokDir);
  const out = join(dir, "reader");
  const t = await run([
    "train-reader",
    "--index",
    index,
    "--out",
    out,
    "--tokenizer",
    tokDir,
    "--synthetic",
    "80",
    "--max-steps",
    "6",
    "--groups",
    "4",
    "--group-size",
    "3",
    "--val-questions",
    "10",
    "--eval-every",
    "3",
  ]);
  assert.equal(t.code, 0, t.err);
  assert.match(t.err, /examples: \d+ from 80 questions/);
  assert.match(t.err, /step 6: validation accuracy@1 [\d.]+% of 10 questions/);
  assert.ok(existsSync(join(out, "reader.json")) && existsSync(join(out, "backbone", "model.safetensors")) && existsSync(join(out, "metrics.jsonl")));
  assert.equal(JSON.parse(readFileSync(join(out, "reader.json"), "utf8")).steps, 6);
  const a = await run(["ask", "--index", index, "--model", out, "--json", "When are salaries paid?"]);
  assert.equal(a.code, 0, a.err);
  const r = JSON.parse(a.out);
  assert.equal(r.method, "reader");
  assert.match(r.text, / \[[1-3]\]$/);
  const bad = await run(["train-reader", "--index", index, "--out", join(dir, "r2"), "--tokenizer", tokDir, "--group-size", "1"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--group-size must be an integer >= 2/);
  assert.equal((await run(["train-reader", "--out", out])).code, 2);

  // BM25 (the default) needs no embedder: an index whose embedding model is gone still trains a
  // reader and answers; only vector retrieval asks for the model.
  const moved = join(dir, "moved.index");
  copyFileSync(index, moved);
  const db = new Database(moved);
  db.prepare("UPDATE meta SET value = ? WHERE key = 'embedder'").run(JSON.stringify({ kind: "model", dim: 64, model: join(dir, "no-such-model") }));
  db.close();
  const t2 = await run([
    "train-reader",
    "--index",
    moved,
    "--out",
    join(dir, "reader2"),
    "--tokenizer",
    tokDir,
    "--synthetic",
    "40",
    "--max-steps",
    "2",
    "--groups",
    "2",
    "--group-size",
    "3",
    "--val-questions",
    "0",
  ]);
  assert.equal(t2.code, 0, t2.err);
  assert.equal((await run(["ask", "--index", moved, "When are salaries paid?"])).code, 0);
  const hy = await run(["ask", "--index", moved, "--retrieval", "hybrid", "When are salaries paid?"]);
  assert.notEqual(hy.code, 0);
  assert.match(hy.err, /no-such-model/);
});
