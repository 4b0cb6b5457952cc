import { test } from "node:test";
import assert from "node:assert/strict";

import { FormatError } from "../errors.ts";
import { BYTE_TO_CHAR } from "./bytes.ts";
import { Tokenizer } from "./tokenizer.ts";

/** A minimal valid byte-level tokenizer.json. */
function base(): Record<string, any> {
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((c, b) => (vocab[c] = b));
  vocab.Ġt = 256;
  vocab.he = 257;
  vocab.Ġthe = 258;
  return {
    version: "1.0",
    added_tokens: [{ id: 259, content: "<|eot|>", special: true }],
    normalizer: { type: "NFC" },
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, use_regex: true },
    decoder: { type: "ByteLevel" },
    model: { type: "BPE", vocab, merges: ["Ġ t", ["h", "e"], "Ġt he"] },
  };
}

test("loads both merge forms, NFC normalizer and added tokens", () => {
  const t = Tokenizer.fromJSON(base());
  assert.deepEqual(t.encode(" the<|eot|>"), [258, 259]);
  assert.equal(t.decode(t.encode(" the cafe\u0301")), " the café"); // NFC composes e + U+0301
  assert.equal(t.vocabSize, 260);
});

function rejects(mut: (j: Record<string, any>) => void, field: RegExp) {
  const j = base();
  mut(j);
  assert.throws(
    () => Tokenizer.fromJSON(j),
    (e: unknown) => e instanceof FormatError && field.test(e.message) && (e.hint === undefined || /supported/.test(e.hint)),
  );
}

test("corrupt or unsupported tokenizer.json -> FormatError naming the field", () => {
  rejects((j) => (j.model.type = "Unigram"), /model\.type.*Unigram/);
  rejects((j) => (j.model.type = "WordPiece"), /model\.type/);
  rejects((j) => delete j.model, /model/);
  rejects((j) => (j.model.vocab = [1, 2]), /model\.vocab/);
  rejects((j) => (j.model.vocab.x = -1), /model\.vocab/);
  rejects((j) => (j.model.merges = "nope"), /model\.merges/);
  rejects((j) => j.model.merges.push(42), /model\.merges\[3\]/);
  rejects((j) => j.model.merges.push("Ġ zz"), /model\.merges\[3\].*zz/);
  rejects((j) => delete j.model.vocab.Ā, /model\.vocab.*256 byte tokens/);
  rejects((j) => (j.normalizer = { type: "BertNormalizer" }), /normalizer\.type.*BertNormalizer/);
  rejects((j) => (j.pre_tokenizer = { type: "Whitespace" }), /pre_tokenizer\.type.*Whitespace/);
  rejects((j) => (j.pre_tokenizer = { type: "Split", pattern: { Regex: "\\s+" }, behavior: "Removed" }), /pre_tokenizer\.behavior/);
  rejects(
    (j) =>
      (j.pre_tokenizer = {
        type: "Sequence",
        pretokenizers: [
          { type: "Split", pattern: { Regex: "(?x)a" }, behavior: "Isolated" },
          { type: "ByteLevel", use_regex: false },
        ],
      }),
    /pre_tokenizer\.pretokenizers\[0\]\.pattern/,
  );
  rejects(
    (j) =>
      (j.pre_tokenizer = {
        type: "Sequence",
        pretokenizers: [
          { type: "Split", pattern: { Regex: "[a-" }, behavior: "Isolated" },
          { type: "ByteLevel", use_regex: false },
        ],
      }),
    /pattern/,
  );
  rejects((j) => (j.decoder = { type: "WordPiece" }), /decoder\.type.*WordPiece/);
  rejects((j) => (j.post_processor = { type: "BertProcessing" }), /post_processor\.type/);
  rejects((j) => (j.added_tokens = [{ id: "x", content: "a" }]), /added_tokens\[0\]/);
  rejects((j) => (j.model.continuing_subword_prefix = "##"), /continuing_subword_prefix/);
  assert.throws(() => Tokenizer.fromJSON("not an object"), FormatError);
});

test("SentencePiece style: Metaspace + byte_fallback, TemplateProcessing BOS, save/load round trip", () => {
  const vocab: Record<string, number> = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`] = 3 + b;
  for (const p of ["▁", "h", "i", "▁h", "▁hi"]) vocab[p] = Object.keys(vocab).length;
  const json = {
    added_tokens: [0, 1, 2].map((id) => ({ id, content: ["<unk>", "<s>", "</s>"][id], special: true })),
    normalizer: null,
    pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false },
    post_processor: { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }] },
    decoder: { type: "Metaspace", replacement: "▁", prepend_scheme: "first" },
    model: { type: "BPE", vocab, merges: ["▁ h", "▁h i"], byte_fallback: true, unk_token: "<unk>" },
  };
  const t = Tokenizer.fromJSON(json);
  const ids = t.encode("hi hé", { addSpecialTokens: true });
  assert.equal(ids[0], 1);
  assert.equal(ids[1], vocab["▁hi"]);
  assert.ok(ids.includes(3 + 0xc3) && ids.includes(3 + 0xa9), "é falls back to its UTF-8 bytes");
  assert.equal(t.decode(ids, { skipSpecialTokens: true }), "hi hé");
  const back = Tokenizer.fromJSON(t.toJSON());
  assert.deepEqual(back.encode("hi hé hi", { addSpecialTokens: true }), t.encode("hi hé hi", { addSpecialTokens: true }));
  assert.equal(back.decode(ids, { skipSpecialTokens: true }), "hi hé");
});
