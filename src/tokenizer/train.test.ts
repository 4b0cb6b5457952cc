import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";

import { Rng } from "../util/rng.ts";
import { ChunkCounter, trainBpe } from "./train.ts";
import { Tokenizer } from "./tokenizer.ts";
import { PATTERNS } from "./pretokenize.ts";

const sample = readFileSync(new URL("../../test/fixtures/tokenizer/mixed-sample.txt", import.meta.url), "utf8");

function* corpus(seed: number, docs: number): Generator<string> {
  const rng = new Rng(seed);
  const words = ["the", "model", "token", "train", "data", "über", "straße", "数据", "模型", "function", "return", "value", "😀", "1234", "x_y"];
  for (let d = 0; d < docs; d++) {
    let s = "";
    for (let w = 0; w < 80; w++) s += (w % 13 === 0 ? "\n" : " ") + words[rng.int(words.length)];
    yield s + (d % 3 === 0 ? "<|endoftext|>" : "");
  }
  yield sample;
}

test("trainBpe: reaches the vocab size, round-trips, is deterministic, never merges across special tokens", async () => {
  const a = await trainBpe(corpus(1, 200), { vocabSize: 400 });
  const b = await trainBpe(corpus(1, 200), { vocabSize: 400 });
  assert.equal(a.vocabSize, 400);
  assert.deepEqual(a.toJSON(), b.toJSON());
  assert.equal(a.decode(a.encode(sample)), sample);
  assert.ok(a.encode(" straße").length <= 2, "frequent words become few tokens");
  for (let id = 0; id < a.vocabSize; id++) {
    const t = a.idToToken(id)!;
    if (!a.isSpecial(id)) assert.ok(!t.includes("<|endoftext|>") && !t.includes("|><"), `token ${JSON.stringify(t)} spans a special token`);
  }
  assert.equal(a.encode("<|im_start|>")[0], a.specialTokens["<|im_start|>"]);
  await assert.rejects(trainBpe(corpus(1, 1), { vocabSize: 100 }), /vocabSize/);
});

test("trainBpe: reads files and directories", async () => {
  const dir = mkdtempSync(join(tmpdir(), "slm-train-"));
  try {
    writeFileSync(join(dir, "a.txt"), [...corpus(2, 50)].join("\n"));
    writeFileSync(join(dir, "b.md"), sample);
    const tok = await trainBpe([dir], { vocabSize: 300, pattern: "gpt2" });
    assert.equal(tok.vocabSize, 300);
    assert.equal(tok.decode(tok.encode(sample)), sample);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("ChunkCounter: pruning keeps the table bounded and keeps frequent chunks exact", () => {
  const c = new ChunkCounter(PATTERNS.gpt2, [], 100);
  for (let i = 0; i < 2000; i++) c.addDocument(` common rare${i}`);
  assert.ok(c.counts.size <= 100);
  assert.equal(c.counts.get(" common"), 2000);
});

test("a saved tokenizer loads back and in @huggingface/tokenizers with identical ids", async () => {
  const tok = await trainBpe(corpus(3, 200), { vocabSize: 500 });
  const dir = mkdtempSync(join(tmpdir(), "slm-tok-"));
  try {
    tok.save(dir);
    const back = Tokenizer.fromFile(dir);
    const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
    const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
    assert.equal(typeof config.chat_template, "string");
    const hf = new HfTokenizer(json, config);
    const invalid = new TextDecoder().decode(Uint8Array.of(0x61, 0x80, 0xc3, 0x20, 0xff));
    for (const text of [sample, invalid, "", " ", "\n\n\n", "<|endoftext|> as text", "1234567890123"]) {
      const ids = tok.encode(text);
      assert.deepEqual(back.encode(text), ids);
      assert.deepEqual(hf.encode(text, { add_special_tokens: false }).ids, ids, `text ${JSON.stringify(text.slice(0, 30))}`);
    }
    assert.equal(hf.decode(tok.encode(sample)), sample);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
