// Model comparison: bits per byte checked against a model whose logits are all
// zero (loss is exactly ln V per token), validation texts from the manifest's
// split, and compareModels / `slm eval compare` rows on two tiny models.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { HashEmbedder } from "../assistant/embed.ts";
import { SectionIndex, buildIndex } from "../assistant/index-db.ts";
import { TINY_HANDBOOK, writeTinyDataset, tinyTokenizer } from "../assistant/testing.ts";
import { main } from "../cli/main.ts";
import { saveModelDir } from "../formats/hf-dir.ts";
import { countParameters, createModel, presetConfig } from "../models/index.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { compareModels, textBitsPerByte, validationTexts } from "./compare.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-compare-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const ds = writeTinyDataset(join(dir, "ds"));
const man = JSON.parse(readFileSync(join(ds, "manifest.json"), "utf8"));
writeFileSync(join(ds, "manifest.json"), JSON.stringify({ ...man, split: { valFraction: 0.25, val: ["d001", "d003"] } }));
let tok: Tokenizer;
const cfg = (v: number, d: number) => presetConfig("nano", v, { dModel: d, nLayers: 1, nHeads: 2, nKvHeads: 2, headDim: d / 2, ffnDim: 2 * d, maxSeqLen: 320 });
before(async () => {
  tok = await tinyTokenizer(300);
});

test("validationTexts joins the sections of the manifest's validation documents", () => {
  const t = validationTexts(ds);
  assert.equal(t.length, 2);
  assert.ok(t[0]!.startsWith("Travel") && t[0]!.includes("Per diems"));
  assert.ok(t[1]!.startsWith("Payroll"));
});

test("textBitsPerByte: all-zero logits give perplexity V and tokens·log2 V / bytes", () => {
  const m = createModel(cfg(tok.vocabSize, 16), 1);
  for (const [, p] of m.namedParameters()) p.data.fill(0);
  const texts = [TINY_HANDBOOK.map((s) => s.text).join("\n\n")];
  const r = textBitsPerByte(m, tok, texts, { seqLen: 16, maxTokens: 64 });
  assert.equal(r.tokens, 64);
  assert.ok(Math.abs(r.perplexity - tok.vocabSize) / tok.vocabSize < 1e-4, `${r.perplexity}`);
  const ids = tok.encode(texts[0]!, { addSpecialTokens: false });
  let bytes = 0;
  for (let s = 0; s < 64; s += 16) bytes += Buffer.byteLength(tok.decode(ids.slice(s + 1, s + 17)), "utf8");
  assert.ok(Math.abs(r.bitsPerByte - (64 * Math.log2(tok.vocabSize)) / bytes) < 1e-4);
  assert.throws(() => textBitsPerByte(m, tok, ["hi"], { seqLen: 16 }), /too short to score/);
});

test("compareModels: one row per model with its size, domain figures, QA summary and speed; the CLI writes the report", async () => {
  const a = createModel(cfg(tok.vocabSize, 16), 1),
    b = createModel(cfg(tok.vocabSize, 32), 2);
  const emb = new HashEmbedder(64);
  buildIndex({ dataset: ds, out: join(dir, "t.index"), embedder: emb });
  const index = SectionIndex.open(join(dir, "t.index"));
  try {
    const items = [{ id: "1", question: "When are salaries paid?", answer: "25th", aliases: [], sourcePath: "pay.md" }];
    const rows = await compareModels(
      [
        { name: "a", model: a, tokenizer: tok },
        { name: "b", model: b, tokenizer: tok },
      ],
      { items, unanswerable: [], options: { index, embedder: emb, maxTokens: 4, minConfidence: 0 } },
      { valTexts: validationTexts(ds), seqLen: 32, maxTokens: 64 },
    );
    assert.deepEqual(
      rows.map((r) => r.name),
      ["a", "b"],
    );
    assert.equal(rows[1]!.params, countParameters(b.config).total);
    assert.ok(rows[1]!.params > rows[0]!.params);
    assert.equal(rows[0]!.weightsMB, (rows[0]!.params * 4) / 1e6);
    for (const r of rows) {
      assert.ok(r.domain && r.domain.bitsPerByte > 0 && Number.isFinite(r.domain.bitsPerByte));
      assert.equal(r.qa.method, "model");
      assert.equal(r.qa.recall.hybrid!["@1"], 1);
      assert.ok(r.tokensPerSecond > 0);
    }
  } finally {
    index.close();
  }
  saveModelDir(join(dir, "ma"), a, { tokenizer: tok });
  const q = join(dir, "q.jsonl");
  writeFileSync(q, `${JSON.stringify({ question: "When are salaries paid?", answer: "25th", source_path: "pay.md" })}\n`);
  let out = "",
    err = "";
  const code = await main(
    [
      "eval",
      "compare",
      "--model",
      join(dir, "ma"),
      "--data",
      ds,
      "--index",
      join(dir, "t.index"),
      "--questions",
      q,
      "--max-tokens",
      "4",
      "--eval-tokens",
      "64",
      "--out",
      join(dir, "rep"),
      "--json",
    ],
    { out: (s) => (out += s), err: (s) => (err += s), tty: false },
  );
  assert.equal(code, 0, err);
  assert.equal(JSON.parse(out).length, 1);
  assert.match(readFileSync(join(dir, "rep", "report.html"), "utf8"), /<svg.*Domain bits per byte/s);
  let e2 = "";
  assert.equal(await main(["eval", "compare", "--questions", q], { out: () => {}, err: (s) => (e2 += s), tty: false }), 2);
  assert.match(e2, /at least one --model/);
});
