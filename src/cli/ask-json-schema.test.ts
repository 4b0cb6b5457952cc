// `slm ask --json-schema FILE` (and answer()'s jsonSchema option) on the tiny
// handbook index and a tiny random model: the answer on stdout is JSON valid
// against the schema (the citations and status go to stderr), --json carries
// it as the result's text, "not found" exits 1 with no JSON, and a bad file,
// an unsupported keyword, or an answer no model writes (extractive baseline,
// copy decoding) is a usage error (exit 2) before the model loads; answer()
// refuses the same combinations with a ConfigError, and a budget too small
// for the schema with a UsageError.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { answer } from "../assistant/answer.ts";
import { HashEmbedder } from "../assistant/embed.ts";
import { SectionIndex, buildIndex } from "../assistant/index-db.ts";
import { writeTinyDataset, tinyTokenizer } from "../assistant/testing.ts";
import { ConfigError, UsageError } from "../errors.ts";
import { saveModelDir } from "../formats/hf-dir.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { runCli } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-cli-ask-json-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const modelDir = join(dir, "model"),
  index = join(dir, "t.index"),
  schemaPath = join(dir, "answer.schema.json");
const SCHEMA = {
  type: "object",
  properties: { answer: { enum: ["yes", "no", "unsure"] }, days: { type: "integer" }, source: { type: "string", maxLength: 12 } },
  required: ["answer", "source"],
  additionalProperties: false,
};
const QUESTION = "How many days of annual leave do full-time staff earn?";

before(async () => {
  buildIndex({ dataset: writeTinyDataset(join(dir, "ds")), out: index, embedder: new HashEmbedder(64) });
  const tok = await tinyTokenizer(320);
  const model = createModel(
    presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 1024 }),
    4,
  );
  // Scaled-up weights: a default-init random model only repeats its last token.
  for (const [name, p] of model.namedParameters()) if (!/norm/.test(name)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 20;
  saveModelDir(modelDir, model, { tokenizer: tok });
  writeFileSync(schemaPath, JSON.stringify(SCHEMA));
});

const run = (argv: string[]) => runCli(argv, { streamToOut: true });

/** Whether v is valid against SCHEMA (written out: the test does not trust the grammar it checks). */
function valid(v: unknown): boolean {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  if (!Object.keys(o).every((k) => ["answer", "days", "source"].includes(k))) return false;
  if (!["yes", "no", "unsure"].includes(o.answer as string)) return false;
  if (typeof o.source !== "string" || [...o.source].length > 12) return false;
  return o.days === undefined || Number.isInteger(o.days);
}

test("slm ask --json-schema: stdout is one JSON value valid against the schema; --json carries it as text", async () => {
  const base = ["ask", "--model", modelDir, "--index", index, "--min-confidence", "0", "--max-tokens", "96", "--json-schema", schemaPath];
  const r = await run([...base, QUESTION]);
  assert.equal(r.code, 0, r.err);
  const value = JSON.parse(r.out);
  assert.ok(valid(value), r.out);
  assert.match(r.err, /\(model, bm25 retrieval/);
  const j = await run([...base, "--json", QUESTION]);
  assert.equal(j.code, 0, j.err);
  const res = JSON.parse(j.out) as { text: string; method: string; notFound: boolean };
  assert.equal(res.method, "model");
  assert.deepEqual(JSON.parse(res.text), value, "the same greedy answer");
  // --kv-dtype reaches the model's KV cache: f16 still writes a valid value; q8_0 is refused for head_dim 8 (blocks of 32), which only a cache that is really made sees; a bad type is a usage error.
  const q = await run([...base, "--kv-dtype", "f16", QUESTION]);
  assert.equal(q.code, 0, q.err);
  assert.ok(valid(JSON.parse(q.out)), q.out);
  assert.match((await run([...base, "--kv-dtype", "q8_0", QUESTION])).err, /q8_0 cache stores blocks of 32 values; head_dim 8/);
  assert.equal((await run([...base, "--kv-dtype", "q3", QUESTION])).code, 2);
  // Not found: exit 1 and no JSON on stdout.
  const nf = await run(["ask", "--model", modelDir, "--index", index, "--min-confidence", "1", "--json-schema", schemaPath, QUESTION]);
  assert.equal(nf.code, 1);
  assert.equal(nf.out, "");
  assert.match(nf.err, /not found in the documents .*no answer to write as JSON/);
});

test("slm ask --json-schema: usage errors (exit 2) for a bad file, a bad schema, or an answer no model writes", async () => {
  const write = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
  const cases: [string[], RegExp][] = [
    [["--json-schema", schemaPath], /without --model the extractive baseline/],
    [["--model", modelDir, "--decode", "copy", "--json-schema", schemaPath], /--decode copy copies a sentence/],
    [["--model", modelDir, "--json-schema", join(dir, "missing.json")], /--json-schema: cannot read/],
    [["--model", modelDir, "--json-schema", write("bad.json", "{type: object")], /--json-schema: .* is not valid JSON/],
    [["--model", modelDir, "--json-schema", write("pattern.json", JSON.stringify({ type: "string", pattern: "^a" }))], /pattern/],
  ];
  for (const [flags, message] of cases) {
    const r = await run(["ask", "--index", index, ...flags, QUESTION]);
    assert.equal(r.code, 2, `${flags.join(" ")}: ${r.err}`);
    assert.match(r.err, message);
  }
});

test("answer({jsonSchema}): ConfigError without a writing model or with copy decoding; a budget below the shortest value is a UsageError", async () => {
  const idx = SectionIndex.open(index);
  try {
    await assert.rejects(
      answer(QUESTION, { index: idx, jsonSchema: SCHEMA, minConfidence: 0 }),
      (e: unknown) => e instanceof ConfigError && /extractive baseline/.test(e.message),
    );
    const { loadModel } = await import("../formats/hf-dir.ts");
    const m = loadModel(modelDir);
    const withModel = { index: idx, model: m.model, tokenizer: m.tokenizer!, minConfidence: 0, jsonSchema: SCHEMA };
    await assert.rejects(answer(QUESTION, { ...withModel, decode: "copy" }), (e: unknown) => e instanceof ConfigError && /free decoding/.test(e.message));
    // A budget below the schema's shortest value is refused up front (the mask keeps a value
    // finishable within the budget, so an admitted answer always completes).
    const long = { type: "object", properties: { text: { type: "string", minLength: 3 } }, required: ["text"] };
    await assert.rejects(
      answer(QUESTION, { ...withModel, jsonSchema: long, maxTokens: 3 }),
      (e: unknown) => e instanceof UsageError && /shortest output/.test(e.message),
    );
    const r = await answer(QUESTION, { ...withModel, jsonSchema: long, maxTokens: 24 });
    assert.ok([...(JSON.parse(r.text) as { text: string }).text].length >= 3, r.text);
  } finally {
    idx.close();
  }
});
