// answer(): the extractive baseline cites the section its sentence came from,
// low confidence says "not found", and the model path generates greedily from
// exactly the grounded prompt it reports (checked by re-running generate on
// the rebuilt prompt) within the model's context. Also the model embedder.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { ConfigError } from "../errors.ts";
import { generate } from "../infer/generate.ts";
import { createModel, presetConfig, type CausalLM } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { answer, copyCandidates, copyDecode } from "./answer.ts";
import { answerConfidence } from "./confidence.ts";
import { retrieve } from "./retrieve.ts";
import { HashEmbedder, ModelEmbedder } from "./embed.ts";
import { SectionIndex, buildIndex } from "./index-db.ts";
import { groundedMessages, type PromptSource } from "./prompt.ts";
import { TINY_HANDBOOK, writeTinyDataset, tinyTokenizer } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-answer-"));
const emb = new HashEmbedder(128);
buildIndex({ dataset: writeTinyDataset(join(dir, "ds")), out: join(dir, "t.index"), embedder: emb });
const index = SectionIndex.open(join(dir, "t.index"));
let tok: Tokenizer;
let model: CausalLM;
after(() => {
  index.close();
  rmSync(dir, { recursive: true, force: true });
});
before(async () => {
  tok = await tinyTokenizer(320);
  model = createModel(presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 320 }), 3);
});

test("extractive baseline: the matching sentence, cited with path and heading", async () => {
  const r = await answer("How many days of annual leave do full-time staff earn?", { index, embedder: emb });
  assert.equal(r.method, "extractive");
  assert.equal(r.notFound, false);
  assert.match(r.text, /25 days of annual leave.*\[1\]$/);
  assert.equal(r.citations.length, 1);
  assert.equal(r.citations[0]!.sourcePath, "hb/leave.md");
  assert.equal(r.citations[0]!.headingPath, "Leave › Annual leave");
  assert.equal(r.retrieval.mode, "bm25", "BM25 unless told otherwise, even with an embedder at hand");
  assert.ok(r.sources.length >= 1 && r.sources.length <= 3);
  const r2 = await answer("Where are payslips?", { index, embedder: emb });
  assert.match(r2.text, /Loomdesk/);
  assert.equal(r2.citations[0]!.sectionId, index.section(8).id);
});

test("low answer confidence gives 'not found in the documents' without citations", async () => {
  const r = await answer("What is the sabbatical policy for engineers?", { index, embedder: emb });
  assert.equal(r.notFound, true);
  assert.match(r.text, /not found in the documents/i);
  assert.deepEqual(r.citations, []);
  // No word of it is in the handbook: BM25 finds nothing, so even at threshold 0 it is not found;
  // hybrid retrieval (the vectors always return sections) at threshold 0 answers it.
  const bm = await answer("What is the sabbatical policy for engineers?", { index, minConfidence: 0 });
  assert.deepEqual([bm.notFound, bm.retrieval.hits.length], [true, 0]);
  const forced = await answer("What is the sabbatical policy for engineers?", { index, embedder: emb, mode: "hybrid", minConfidence: 0 });
  assert.equal(forced.notFound, false);
});

test("the gate is the answer confidence; the word coverage is reported beside it", async () => {
  const q = "How many days of annual leave do full-time staff earn?";
  const r = retrieve(index, q);
  const c = answerConfidence(index, q, r).confidence;
  const a = await answer(q, { index });
  assert.equal(a.retrieval.confidence, c);
  assert.equal(a.retrieval.coverage, r.confidence);
  // Word coverage is complete, yet a threshold just above the answer confidence refuses.
  assert.equal(r.confidence, 1);
  assert.equal((await answer(q, { index, minConfidence: c + 0.005 })).notFound, true);
  assert.equal((await answer(q, { index, minConfidence: c - 0.005 })).notFound, false);
});

test("model answers come from greedy generation on the reported grounded prompt, within the context", async () => {
  const q = "How much is the meal allowance in Oslo?";
  const r = await answer(q, { index, embedder: emb, model, tokenizer: tok, maxTokens: 12, minConfidence: 0 });
  assert.equal(r.method, "model");
  assert.ok(r.usage && r.usage.promptTokens + 12 <= 320, `prompt ${r.usage?.promptTokens}`);
  assert.ok(r.sources.length >= 1);
  for (const c of r.citations) assert.ok(r.sources.some((s) => s.n === c.n && s.sectionId === c.sectionId));
  // Rebuild the prompt from the reported sources: the same greedy tokens decode to the same text.
  const src: PromptSource[] = r.sources.map((s) => ({ n: s.n, sourcePath: s.sourcePath, headingPath: s.headingPath, sectionId: s.sectionId, text: s.snippet }));
  const ids = tok.applyChatTemplate(groundedMessages(q, src), { addGenerationPrompt: true }).ids;
  assert.equal(ids.length, r.usage!.promptTokens);
  const [g] = await generate(model, [ids], { maxTokens: 12, sampling: { temperature: 0 } });
  assert.equal(r.text, tok.decode(g!.ids, { skipSpecialTokens: true }).trim());
});

test("answer rejects empty questions, a model without tokenizer and a budget that leaves no prompt room", async () => {
  await assert.rejects(answer("  ", { index }), ConfigError);
  await assert.rejects(answer("leave?", { index, model }), /tokenizer/);
  await assert.rejects(answer("annual leave days?", { index, model, tokenizer: tok, maxTokens: 310, minConfidence: 0 }), /context/);
});

test("ModelEmbedder: unit vectors of the model width, deterministic, long texts pooled over windows", () => {
  const e = new ModelEmbedder(model, tok, "mem", 16);
  assert.deepEqual(e.spec, { kind: "model", dim: 32, model: "mem" });
  const long = TINY_HANDBOOK.map((s) => s.text).join(" ");
  const [a, b, c] = e.embed(["annual leave", "annual leave", long]);
  assert.equal(a!.length, 32);
  assert.ok(Math.abs(a!.reduce((s, x) => s + x * x, 0) - 1) < 1e-4);
  assert.deepEqual(a, b);
  assert.ok(Math.abs(c!.reduce((s, x) => s + x * x, 0) - 1) < 1e-4);
  assert.notDeepEqual(a, c);
});

/** Oracle for copyDecode: full recompute (no cache) at every step, the best allowed token by the last row's logits. */
function oracleCopy(m: CausalLM, prompt: readonly number[], cands: readonly (readonly number[])[], stops: readonly number[]): number {
  const V = m.config.vocabSize;
  let alive = cands.map((_, i) => i);
  const seq = [...prompt];
  for (let pos = 0; ; pos++) {
    const tape = new Tape({ grad: false });
    const logits = m.forward(tape, Int32Array.from(seq), 1, seq.length).data.subarray((seq.length - 1) * V, seq.length * V);
    const going = alive.filter((i) => cands[i]!.length > pos),
      ended = alive.filter((i) => cands[i]!.length === pos);
    if (going.length === 0) return ended[0]!;
    const best = going.map((i) => cands[i]![pos]!).reduce((a, b) => (logits[b]! > logits[a]! ? b : a));
    if (ended.length > 0 && Math.max(...stops.map((t) => logits[t]!)) > logits[best]!) return ended[0]!;
    alive = going.filter((i) => cands[i]![pos] === best);
    if (alive.length === 1) return alive[0]!;
    seq.push(best);
  }
}

test("copy decoding picks the candidate a cache-free trie walk picks, and answers with it verbatim", async () => {
  const prompt = tok.encode("Annual leave\nFull-time staff earn 25 days.", { addSpecialTokens: false });
  const texts = [
    "Full-time staff earn 25 days. [1]",
    "Full-time staff earn 30 days. [2]",
    "Full-time work. [1]",
    "Payslips are in Loomdesk. [3]",
    "not found in the documents.",
  ];
  const cands = texts.map((t) => tok.encode(t, { addSpecialTokens: false }));
  for (const seed of [1, 2, 3, 4, 5]) {
    const m = createModel(
      presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 320 }),
      seed,
    );
    const got = copyDecode(m, prompt, cands, [0, 1], undefined);
    assert.equal(got.choice, oracleCopy(m, prompt, cands, [0, 1]), `seed ${seed}`);
  }
  const q = "How much is the meal allowance in Oslo?";
  const r = await answer(q, { index, embedder: emb, model, tokenizer: tok, maxTokens: 12, minConfidence: 0, decode: "copy" });
  const allowed = copyCandidates(
    r.sources.map((s) => ({ n: s.n, sourcePath: s.sourcePath, headingPath: s.headingPath, sectionId: s.sectionId, text: s.snippet })),
  );
  assert.ok(allowed.includes(r.text), r.text);
  assert.equal(allowed.at(-1), "not found in the documents.");
  if (!r.notFound) assert.equal(r.citations.length, 1);
});
