import { test } from "node:test";
import assert from "node:assert/strict";

import { FormatError } from "../errors.ts";
import { utf8Encoder } from "./bytes.ts";
import { Tokenizer } from "./tokenizer.ts";

/** A tiny byte-level tokenizer: 256 bytes plus a few merged tokens, tiktoken-style ranks. */
function tiny(): Tokenizer {
  const ranks: Uint8Array[] = [];
  for (let b = 0; b < 256; b++) ranks.push(Uint8Array.of(b));
  for (const t of ["th", "he", "the", " t", " the", "in", "ing", "é", "中文", "😀"]) ranks.push(utf8Encoder.encode(t));
  return Tokenizer.fromRanks({ ranks, pattern: "gpt2", specialTokens: { "<|endoftext|>": ranks.length, "<|im_start|>": ranks.length + 1 } });
}

test("encode/decode round-trips text, merges by rank, and caches consistently", () => {
  const t = tiny();
  const s = "the thing é 中文 😀\n\n  x";
  const ids = t.encode(s);
  assert.equal(t.decode(ids), s);
  assert.equal(ids[0], t.tokenToId("the"));
  // " thing": (t,h) has the lowest rank, then (i,n), then (in,g); " th" is not a token.
  assert.deepEqual(t.encode(" thing"), [t.tokenToId("Ġ")!, t.tokenToId("th")!, t.tokenToId("ing")!]);
  // Second call hits the cache and must give the same ids.
  assert.deepEqual(t.encode(s), ids);
  assert.deepEqual(t.encodeBatch([s, "the"]), [ids, [t.tokenToId("the")!]]);
});

test("special tokens: allowed by default, text with allowedSpecial none, skipped on decode", () => {
  const t = tiny();
  const eot = t.specialTokens["<|endoftext|>"]!;
  const a = t.encode("hi<|endoftext|>there");
  assert.ok(a.includes(eot));
  const b = t.encode("hi<|endoftext|>there", { allowedSpecial: "none" });
  assert.ok(!b.includes(eot));
  assert.equal(t.decode(b), "hi<|endoftext|>there");
  const c = t.encode("<|im_start|><|endoftext|>", { allowedSpecial: ["<|im_start|>"] });
  assert.equal(c[0], t.specialTokens["<|im_start|>"]);
  assert.ok(!c.includes(eot));
  assert.equal(t.decode(a, { skipSpecialTokens: true }), "hithere");
  assert.equal(t.isSpecial(eot), true);
});

test("encodeBytes/decodeBytes round-trip invalid UTF-8 exactly", () => {
  const t = tiny();
  const bytes = Uint8Array.from([0x74, 0x68, 0x65, 0x80, 0xc3, 0x20, 0xe4, 0xb8, 0xff, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xe4, 0xb8, 0xad]);
  assert.deepEqual(t.decodeBytes(t.encodeBytes(bytes)), bytes);
  assert.deepEqual(t.encodeBytes(new Uint8Array(0)), []);
  // Lone surrogates in a string become U+FFFD (what TextEncoder does).
  assert.equal(t.decode(t.encode("a\uD800b")), "a\uFFFDb");
});

test("stream decoder never emits half a UTF-8 character", () => {
  const t = tiny();
  const s = "é😀中文 the end";
  // Encode from bytes so multi-byte characters are split over several ids.
  const ids = t.encodeBytes(utf8Encoder.encode(s)).flatMap((id) => Array.from(t.decodeBytes([id]), (b) => t.encodeBytes(Uint8Array.of(b))[0] ?? id));
  const d = t.createStreamDecoder();
  let out = "";
  for (const id of ids) {
    const piece = d.push(id);
    assert.ok(!piece.includes("\uFFFD"), `half character emitted: ${JSON.stringify(piece)}`);
    out += piece;
  }
  out += d.flush();
  assert.equal(out, s);
  const d2 = t.createStreamDecoder();
  d2.push(ids[0]!); // first byte of é only
  assert.equal(d2.flush(), "\uFFFD");
});

test("unknown ids are a usage error; bad vocabularies a FormatError", () => {
  const t = tiny();
  assert.throws(() => t.decode([999999]), /outside the vocabulary/);
  assert.throws(() => Tokenizer.fromRanks({ ranks: [Uint8Array.of(1)], pattern: "gpt2" }), FormatError);
});

test("encodeWithOffsets gives the start of each token in the text", () => {
  const t = tiny();
  const s = "the 中文<|endoftext|> thing";
  const { ids, starts } = t.encodeWithOffsets(s);
  assert.equal(ids.length, starts.length);
  for (let i = 0; i < ids.length; i++) {
    const piece = t.decode([ids[i]!]);
    if (!piece.includes("\uFFFD")) assert.equal(s.slice(starts[i], starts[i]! + piece.length), piece, `token ${i}`);
  }
});
