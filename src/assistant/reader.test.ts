// The extractive reader: candidates and features (match, place, answer type,
// lexical overlap), last-token pooling and batch padding that changes no
// score, gradients of the whole scoring graph against finite differences,
// training that learns the tiny handbook's synthetic questions, a saved
// reader that scores exactly as before (and clear errors for broken ones),
// and answer() with a reader.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { FormatError } from "../errors.ts";
import { isReaderDir, loadReaderDir, saveReaderDir } from "../formats/reader-dir.ts";
import { presetConfig } from "../models/index.ts";
import { READER_FEATURE_ROWS, ReaderModel, kindFeature, matchFeature, placeFeature } from "../models/reader.ts";
import { Tape } from "../tensor/index.ts";
import { checkTapeGradients } from "../tensor/testing.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { Rng } from "../util/rng.ts";
import { answer } from "./answer.ts";
import { HashEmbedder } from "./embed.ts";
import { SectionIndex, buildIndex } from "./index-db.ts";
import type { PromptSource } from "./prompt.ts";
import { encodePair, idfLevel, packReaderBatch, readerAnswer, readerCandidates, readerIdf, scoreCandidates, scorePairs, zScores } from "./reader.ts";
import { extractiveAnswer } from "./extractive.ts";
import { READER_TRAIN_DEFAULTS, buildReaderExamples, readerAccuracy, trainReader } from "./reader-train.ts";
import { synthSeeds } from "./synth.ts";
import { writeTinyDataset, tinyTokenizer } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-reader-"));
const emb = new HashEmbedder(128);
buildIndex({ dataset: writeTinyDataset(join(dir, "ds")), out: join(dir, "t.index"), embedder: emb });
const index = SectionIndex.open(join(dir, "t.index"));
const idf = readerIdf(index);
let tok: Tokenizer;
const tinyConfig = (vocab: number) => presetConfig("nano", vocab, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 160 });
after(() => {
  index.close();
  rmSync(dir, { recursive: true, force: true });
});
before(async () => {
  tok = await tinyTokenizer(320);
});

const SOURCES: PromptSource[] = [
  {
    n: 1,
    sourcePath: "hb/leave.md",
    headingPath: "Leave › Annual leave",
    sectionId: "a",
    text: "Annual leave\nFull-time staff earn 25 days of annual leave per year. Up to 5 unused days carry over.",
  },
  { n: 2, sourcePath: "hb/pay.md", headingPath: "Payroll", sectionId: "b", text: "Payroll\nSalaries are paid on the 25th of each month." },
];

test("candidates are the shown sentences without heading lines, with source number and position", () => {
  const c = readerCandidates(SOURCES);
  assert.deepEqual(
    c.map((x) => [x.n, x.position]),
    [
      [1, 0],
      [1, 1],
      [2, 0],
    ],
  );
  assert.equal(c[0]!.text, "Full-time staff earn 25 days of annual leave per year.");
  assert.equal(c[2]!.text, "Salaries are paid on the 25th of each month.");
});

test("pair features: segment, match level by rarity on words shared with the other side, source place", () => {
  const cand = readerCandidates(SOURCES)[0]!;
  const p = encodePair(tok, "How many days of annual leave?", cand, () => 0.8);
  const q = p.questionTokens;
  assert.ok(q > 0 && q < p.ids.length);
  assert.deepEqual(tok.decode(p.ids.slice(0, q)), "How many days of annual leave?");
  // Question tokens: segment 0; "days", "annual", "leave" occur in the candidate (level 4 at relative IDF 0.8), "How", "many", "of" are stop words.
  const qLevels = p.match.slice(0, q);
  assert.ok(qLevels.every((m) => m === matchFeature(0, 0) || m === matchFeature(0, 4)));
  assert.ok(qLevels.includes(matchFeature(0, 4)) && qLevels.includes(matchFeature(0, 0)));
  const cLevels = p.match.slice(q);
  assert.ok(cLevels.every((m) => m === matchFeature(1, 0) || m === matchFeature(1, 4)));
  assert.equal(cLevels.filter((m) => m === matchFeature(1, 4)).length >= 3, true);
  assert.ok(p.place.slice(0, q).every((x) => x === placeFeature(0, 0, 0)));
  assert.ok(p.place.slice(q).every((x) => x === placeFeature(1, 0, 0)));
  // Lexical overlap: the stems "day", "annual", "leave", each at relative IDF 0.8.
  assert.ok(Math.abs(p.lex - 2.4) < 1e-9, `lex ${p.lex}`);
  assert.deepEqual([idfLevel(0.1), idfLevel(0.4), idfLevel(0.5), idfLevel(0.9)], [1, 2, 3, 4]);
  assert.ok(Math.abs(readerIdf({ idf: () => Math.log(9), size: 8 })("x") - 1) < 1e-12);
});

test("answer-type feature: a typed question marks the candidate's tokens inside a span of its kind", () => {
  const cand = readerCandidates(SOURCES)[0]!; // "Full-time staff earn 25 days of annual leave per year."
  const decoded = (p: ReturnType<typeof encodePair>, row: number) => tok.decode(p.ids.filter((_, i) => i >= p.questionTokens && p.kind[i] === row)).trim();
  const typed = encodePair(tok, "How many days of annual leave?", cand, idf);
  assert.ok(typed.kind.slice(0, typed.questionTokens).every((k) => k === kindFeature(0, true, false)));
  assert.equal(decoded(typed, kindFeature(1, true, true)), "25 days");
  assert.ok(typed.kind.slice(typed.questionTokens).every((k) => k === kindFeature(1, true, true) || k === kindFeature(1, true, false)));
  // A "who" question: no span of that kind in the sentence, so no token is marked.
  const who = encodePair(tok, "Who approves annual leave?", cand, idf);
  assert.ok(who.kind.slice(who.questionTokens).every((k) => k === kindFeature(1, true, false)));
  // "How do I…": an untyped question.
  const how = encodePair(tok, "How do I take annual leave?", cand, idf);
  assert.ok(how.kind.slice(0, how.questionTokens).every((k) => k === kindFeature(0, false, false)));
  assert.ok(how.kind.slice(how.questionTokens).every((k) => k === kindFeature(1, false, false)));
  const rows = [
    kindFeature(0, false, false),
    kindFeature(0, true, false),
    kindFeature(1, false, false),
    kindFeature(1, true, false),
    kindFeature(1, true, true),
  ];
  assert.equal(new Set(rows).size, 5);
  assert.ok(rows.every((r) => r > placeFeature(0, 0, 0) && r < READER_FEATURE_ROWS));
});

test("a pair scores the same alone and padded in a batch with longer pairs", () => {
  const model = new ReaderModel(tinyConfig(tok.vocabSize), new Rng(1)).eval();
  const cands = readerCandidates(SOURCES);
  const pairs = cands.map((c) => encodePair(tok, "When are salaries paid?", c, idf));
  const batch = packReaderBatch(pairs);
  // The head reads one state per pair: its last real token's (padding after it gets no weight).
  pairs.forEach((p, b) => {
    const row = [...batch.pool.subarray(b * batch.seqLen, (b + 1) * batch.seqLen)];
    assert.deepEqual(
      row.map((w, t) => (w === 0 ? -1 : t)).filter((t) => t >= 0),
      [p.ids.length - 1],
      `pair ${b} pooling weights`,
    );
    assert.equal(row[p.ids.length - 1], 1);
  });
  assert.deepEqual(
    [...batch.lex],
    pairs.map((p) => Math.fround(p.lex)),
  );
  const together = model.scores(new Tape({ grad: false }), batch).data.slice();
  for (let i = 0; i < pairs.length; i++) {
    const alone = model.scores(new Tape({ grad: false }), packReaderBatch([pairs[i]!])).data[0]!;
    assert.ok(Math.abs(alone - together[i]!) < 1e-5, `pair ${i}: ${alone} vs ${together[i]}`);
  }
  // Sorted by length into batches of 2 and put back in order: the same scores.
  const reordered = [...pairs.slice(1), pairs[0]!];
  const bucketed = scorePairs(new Tape({ grad: false }), model, reordered, 2).data;
  reordered.forEach((_, i) => assert.ok(Math.abs(bucketed[i]! - together[(i + 1) % pairs.length]!) < 1e-5, `bucketed pair ${i}`));
});

test("reader scores: every parameter gradient matches finite differences", () => {
  const model = new ReaderModel(tinyConfig(tok.vocabSize), new Rng(2));
  const pairs = readerCandidates(SOURCES).map((c) => encodePair(tok, "How many days of annual leave?", c, idf));
  const b = packReaderBatch(pairs);
  const params = Object.fromEntries(model.namedParameters().filter(([n]) => /features|score|lexical|layers\.0\.attn\.q|norm/.test(n)));
  assert.ok("lexical" in params && "features.weight" in params, Object.keys(params).join(", "));
  checkTapeGradients("reader", new Rng(3), params, (g) => model.scores(g, b), { samples: 6, eps: 1e-2 });
});

test("training learns the tiny handbook's synthetic questions; a saved reader scores identically", () => {
  const seeds = synthSeeds(index, 120, 4);
  const { examples } = buildReaderExamples(seeds, { index, tokenizer: tok, embedder: emb });
  assert.ok(examples.length >= 60, `${examples.length} examples`);
  const train = examples.slice(20),
    val = examples.slice(0, 20);
  const model = new ReaderModel(tinyConfig(tok.vocabSize), new Rng(5));
  // A new reader ranks by lexical overlap (its initial lexical weight), like the extractive
  // baseline, which already finds most synthetic answers; with that weight zeroed, the
  // network alone must learn them.
  const prior = readerAccuracy(model, train);
  assert.ok(prior >= 0.8, `a new reader's accuracy ${prior}`);
  model.lexical.data[0] = 0;
  const before = readerAccuracy(model, train);
  const r = trainReader(model, train, val, { ...READER_TRAIN_DEFAULTS, maxSteps: 60, groups: 8, groupSize: 4, evalEvery: 60, lr: 3e-3 });
  const afterTrain = readerAccuracy(model, train);
  assert.equal(r.steps, 60);
  assert.ok(afterTrain > before + 0.2 && afterTrain >= 0.7, `training accuracy ${before} -> ${afterTrain}`);
  assert.ok(r.valAccuracy !== null && r.valAccuracy >= 0.5, `validation accuracy ${r.valAccuracy}`);

  const out = join(dir, "reader");
  saveReaderDir(out, model, tok, { steps: r.steps });
  assert.ok(isReaderDir(out));
  const loaded = loadReaderDir(out);
  const q = "When are salaries paid?",
    cands = readerCandidates(SOURCES);
  assert.deepEqual(scoreCandidates(loaded, q, cands, idf), scoreCandidates({ model, tokenizer: tok }, q, cands, idf));
  assert.equal(loaded.info.steps, 60);
});

test("answer() with a reader: a shown sentence with its citation, method reader", async () => {
  const model = new ReaderModel(tinyConfig(tok.vocabSize), new Rng(6)).eval();
  const r = await answer("How many days of annual leave do full-time staff earn?", { index, embedder: emb, reader: { model, tokenizer: tok } });
  assert.equal(r.method, "reader");
  assert.equal(r.notFound, false);
  const m = r.text.match(/^(.*) \[(\d)\]$/);
  assert.ok(m, r.text);
  const src = r.sources[Number(m[2]) - 1]!;
  assert.ok(src.snippet.includes(m[1]!), `${m[1]} is a sentence of source ${m[2]}`);
  assert.deepEqual(r.citations, [src]);
  const nf = await answer("What is the sabbatical policy for engineers?", { index, embedder: emb, reader: { model, tokenizer: tok } });
  assert.equal(nf.notFound, true);
});

test("answer() passes the baseline weight to the reader: a huge weight gives the extractive baseline's sentence; a bad one is a ConfigError", async () => {
  const q = "How many days of annual leave do full-time staff earn?";
  const base = await answer(q, { index, embedder: emb });
  for (let seed = 10; seed < 16; seed++) {
    const model = new ReaderModel(tinyConfig(tok.vocabSize), new Rng(seed)).eval();
    model.lexical.data[0] = 0;
    const r = await answer(q, { index, embedder: emb, reader: { model, tokenizer: tok }, readerBaselineWeight: 1e6 });
    assert.equal(r.text, base.text);
  }
  const reader = { model: new ReaderModel(tinyConfig(tok.vocabSize), new Rng(6)).eval(), tokenizer: tok };
  for (const w of [-1, Number.NaN])
    await assert.rejects(answer(q, { index, embedder: emb, reader, readerBaselineWeight: w }), /baseline weight must be a number >= 0/);
});

test("zScores: zero mean, unit deviation; equal values give zeros", () => {
  const z = zScores([1, 2, 3, 6]);
  assert.ok(Math.abs(z.reduce((a, x) => a + x, 0)) < 1e-12);
  assert.ok(Math.abs(z.reduce((a, x) => a + x * x, 0) / z.length - 1) < 1e-12);
  assert.deepEqual(zScores([4, 4, 4]), [0, 0, 0]);
});

test("readerAnswer with the baseline: weight 0 is the reader alone, a large weight is the baseline's pick", () => {
  const indexIdf = (t: string) => index.idf(t);
  const q = "How many days of annual leave do full-time staff earn?";
  // Several untrained readers: their picks differ from the baseline's for some seed.
  let differed = 0;
  for (let seed = 10; seed < 16; seed++) {
    const reader = { model: new ReaderModel(tinyConfig(tok.vocabSize), new Rng(seed)).eval(), tokenizer: tok };
    reader.model.lexical.data[0] = 0; // the network alone, so it need not agree with the lexical overlap
    const alone = readerAnswer(reader, q, SOURCES, idf)!;
    assert.deepEqual(readerAnswer(reader, q, SOURCES, idf, { idf: indexIdf, weight: 0 })!.candidate, alone.candidate);
    const base = extractiveAnswer(q, SOURCES, indexIdf)!;
    assert.equal(readerAnswer(reader, q, SOURCES, idf, { idf: indexIdf, weight: 1e6 })!.candidate.text, base.sentence);
    if (alone.candidate.text !== base.sentence) differed++;
  }
  assert.ok(differed > 0, "some untrained reader picks another sentence than the baseline");
});

test("broken reader directories fail to load with the file named", () => {
  const model = new ReaderModel(tinyConfig(tok.vocabSize), new Rng(7));
  const out = join(dir, "broken");
  saveReaderDir(out, model, tok);
  writeFileSync(join(out, "reader.json"), JSON.stringify({ format: "slmkit-reader", version: 99 }));
  assert.throws(
    () => loadReaderDir(out),
    (e: Error) => e instanceof FormatError && /reader\.json: version 99/.test(e.message),
  );
  writeFileSync(join(out, "reader.json"), "{not json");
  assert.throws(
    () => loadReaderDir(out),
    (e: Error) => e instanceof FormatError && /reader\.json/.test(e.message),
  );
  saveReaderDir(out, model, tok);
  writeFileSync(join(out, "reader.safetensors"), "garbage");
  assert.throws(
    () => loadReaderDir(out),
    (e: Error) => e instanceof FormatError && /reader\.safetensors/.test(e.message),
  );
});
