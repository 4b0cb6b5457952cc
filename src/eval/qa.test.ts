// QA evaluation: reading question sets (with clear errors), recall@k and
// scoring on the tiny handbook checked against hand-derived expectations, and
// the committed 18F question set against the real corpus (skipped without
// ../shared): retrieval recall@3 must stay >= 90% for BM25 and hybrid.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";

import { FormatError, NotFoundError } from "../errors.ts";
import { HashEmbedder } from "../assistant/embed.ts";
import { SectionIndex, buildIndex } from "../assistant/index-db.ts";
import { writeTinyDataset } from "../assistant/testing.ts";
import { ingest } from "../data/ingest.ts";
import { sharedDir } from "../data/testing.ts";
import { readQaFile, runQa, type QaItem } from "./qa.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-qa-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

test("readQaFile: fields, line numbers in errors, unanswerable sets without answers", () => {
  const p = join(dir, "q.jsonl");
  writeFileSync(p, '{"id":"a","question":"Q1?","answer":"x","answer_aliases":["y"],"source_path":"s.md"}\n\n{"question":"Q2?","answer":"z"}\n');
  const items = readQaFile(p);
  assert.deepEqual(items[0], { id: "a", question: "Q1?", answer: "x", aliases: ["y"], sourcePath: "s.md" });
  assert.equal(items[1]!.id, "3");
  writeFileSync(p, '{"question":"Q?"}\n');
  assert.throws(() => readQaFile(p), /:1: "answer" must be/);
  assert.equal(readQaFile(p, { unanswerable: true })[0]!.answer, "");
  writeFileSync(p, '{"question":"Q?","answer":"a","answer_aliases":"b"}\n');
  assert.throws(() => readQaFile(p), FormatError);
  writeFileSync(p, "\n");
  assert.throws(() => readQaFile(p), /no questions/);
  assert.throws(() => readQaFile(join(dir, "absent.jsonl")), NotFoundError);
});

test("runQa on the tiny handbook: recall, accuracy, citations and not-found rates", async () => {
  const emb = new HashEmbedder(128);
  buildIndex({ dataset: writeTinyDataset(join(dir, "ds")), out: join(dir, "t.index"), embedder: emb });
  const index = SectionIndex.open(join(dir, "t.index"));
  try {
    const items: QaItem[] = [
      { id: "1", question: "How many days of annual leave do full-time staff earn?", answer: "25 days", aliases: [], sourcePath: "leave.md" },
      { id: "2", question: "What is the meal allowance in Oslo?", answer: "60 euros", aliases: [], sourcePath: "travel.md" },
      // Wrong gold file on purpose: recall 0 for this one, answer still matches.
      { id: "3", question: "When are salaries paid?", answer: "25th", aliases: [], sourcePath: "security.md" },
      { id: "4", question: "How long must passwords be?", answer: "twenty characters", aliases: [], sourcePath: "security.md" },
    ];
    const un: QaItem[] = [{ id: "u", question: "What is the sabbatical policy for engineers?", answer: "", aliases: [], sourcePath: null }];
    const res = await runQa(items, un, { index, embedder: emb });
    const s = res.summary;
    assert.equal(s.questions, 4);
    // Top 1: each question's own section, so the wrong gold of question 3 costs exactly one.
    for (const m of ["bm25", "hybrid"] as const) assert.equal(s.recall[m]!["@1"], 0.75, m);
    assert.ok(s.recall.vector!["@1"]! <= 0.75);
    assert.notEqual(res.records[2]!.goldRank.hybrid, 1);
    assert.equal(res.records[0]!.goldRank.bm25, 1);
    assert.deepEqual(
      res.records.map((r) => r.correct),
      [true, true, true, false],
    );
    assert.equal(s.accuracy, 0.75);
    assert.equal(s.citationCorrect, 0.75);
    assert.equal(s.falseNotFound, 0);
    assert.deepEqual(s.unanswerable, { questions: 1, notFoundRate: 1 });
    assert.equal(s.method, "extractive");
    assert.ok(s.latencyMs.p95 >= s.latencyMs.p50);
  } finally {
    index.close();
  }
});

const shared = sharedDir();
test("18F handbook: recall@3 >= 90% for BM25 and hybrid on examples/qa/18f-handbook.jsonl", {
  skip: shared ? false : "../shared/corpora is absent",
}, async () => {
  const corpus = join(shared!, "corpora", "18f-handbook");
  const ds = join(dir, "18f");
  await ingest({ inputs: ["pages"], cwd: corpus, out: ds, cacheDir: null, workers: 0 });
  const emb = new HashEmbedder(256);
  buildIndex({ dataset: ds, out: join(dir, "18f.index"), embedder: emb });
  const index = SectionIndex.open(join(dir, "18f.index"));
  try {
    const items = readQaFile(join(repoRoot, "examples", "qa", "18f-handbook.jsonl"));
    assert.ok(items.length >= 40);
    const res = await runQa(items, [], { index, embedder: emb });
    assert.ok(res.summary.recall.bm25!["@3"]! >= 0.9, `bm25 recall@3 ${res.summary.recall.bm25!["@3"]}`);
    assert.ok(res.summary.recall.hybrid!["@3"]! >= 0.9, `hybrid recall@3 ${res.summary.recall.hybrid!["@3"]}`);
  } finally {
    index.close();
  }
});
