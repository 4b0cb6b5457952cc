import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfigError, FormatError } from "../errors.ts";
import { gv, type GgufValue } from "./gguf.ts";
import { tokenizerFromGguf, tokenizerToGguf, TOKEN_TYPE } from "./gguf-tokenizer.ts";
import { SAMPLE_TEXT, tinyByteLevel, tinySentencePiece } from "./testing.ts";

const probe = `${SAMPLE_TEXT.join("\n")} unseen wörds ☃ <|im_start|>user\nhi<|im_end|>`;

test("byte-level BPE -> gpt2 tokenizer keys -> back encodes identically", async () => {
  for (const pattern of ["cl100k", "gpt2", "qwen"] as const) {
    const tok = await tinyByteLevel(400, pattern);
    const kv = new Map(tokenizerToGguf(tok));
    assert.equal((kv.get("tokenizer.ggml.model") as { value: string }).value, "gpt2");
    assert.equal((kv.get("tokenizer.ggml.pre") as { value: string }).value, { cl100k: "llama-bpe", gpt2: "gpt-2", qwen: "qwen2" }[pattern]);
    const types = (kv.get("tokenizer.ggml.token_type") as { value: Int32Array }).value;
    assert.equal(types.length, tok.vocabSize);
    for (const id of Object.values(tok.specialTokens)) assert.equal(types[id], TOKEN_TYPE.control);
    const back = tokenizerFromGguf(kv)!;
    assert.equal(back.vocabSize, tok.vocabSize);
    assert.deepEqual(back.encode(probe), tok.encode(probe), pattern);
    assert.equal(back.decode(back.encode(probe)), probe);
    assert.equal(back.spec.config.chat_template, tok.spec.config.chat_template);
    assert.ok(back.spec.config.chat_template, "the chat template travels");
  }
});

test("SentencePiece-style BPE -> llama tokenizer keys (scores, byte tokens) -> back encodes identically", () => {
  const tok = tinySentencePiece();
  const kv = new Map(tokenizerToGguf(tok));
  assert.equal((kv.get("tokenizer.ggml.model") as { value: string }).value, "llama");
  const types = (kv.get("tokenizer.ggml.token_type") as { value: Int32Array }).value;
  assert.equal(types[0], TOKEN_TYPE.unknown);
  assert.equal(types[1], TOKEN_TYPE.control);
  assert.equal(types[3 + 0x41], TOKEN_TYPE.byte);
  assert.equal((kv.get("tokenizer.ggml.add_bos_token") as { value: boolean }).value, true);
  const back = tokenizerFromGguf(kv)!;
  const ids = tok.encode(probe, { addSpecialTokens: true });
  assert.ok(
    ids.some((id) => id >= 3 && id < 259),
    "the probe exercises byte fallback",
  );
  assert.deepEqual(back.encode(probe, { addSpecialTokens: true }), ids);
  assert.equal(back.decode(ids, { skipSpecialTokens: true }), tok.decode(ids, { skipSpecialTokens: true }));
  // Without the merges (as a llama.cpp-converted file has none), scores alone give the same ids here.
  kv.delete("tokenizer.ggml.merges");
  assert.deepEqual(tokenizerFromGguf(kv)!.encode(probe, { addSpecialTokens: true }), ids);
});

test("bad tokenizer metadata is a FormatError; unexportable tokenizers a ConfigError", async () => {
  const base = new Map(tokenizerToGguf(await tinyByteLevel(300, "gpt2")));
  const bad = (mut: (kv: Map<string, GgufValue>) => void, re: RegExp) => {
    const kv = new Map(base);
    mut(kv);
    assert.throws(
      () => tokenizerFromGguf(kv),
      (e: unknown) => e instanceof FormatError && re.test(e.message),
    );
  };
  bad((kv) => kv.set("tokenizer.ggml.model", gv.str("bert")), /"bert" is not supported/);
  bad((kv) => kv.set("tokenizer.ggml.pre", gv.str("deepseek-coder")), /pre "deepseek-coder"/);
  bad((kv) => kv.delete("tokenizer.ggml.merges"), /merges is missing/);
  bad((kv) => kv.set("tokenizer.ggml.merges", gv.strings(["Ġ zzz"])), /merges\[0\]/);
  bad((kv) => kv.set("tokenizer.ggml.token_type", gv.i32s([1, 2])), /token_type has 2 entries/);
  bad((kv) => kv.set("tokenizer.ggml.eos_token_id", gv.u32(99999)), /outside the vocabulary/);
  bad((kv) => kv.set("tokenizer.ggml.tokens", gv.f32s([1])), /array of string/);
  assert.equal(tokenizerFromGguf(new Map()), undefined);
  const tok = await tinyByteLevel(300, "gpt2");
  (tok.spec.preTokenizer as { pattern: string }).pattern = "\\w+";
  assert.throws(() => tokenizerToGguf(tok), ConfigError);
});
