// Parity with js-tiktoken: our tokenizer, built from js-tiktoken's own rank
// files (gpt2, cl100k_base, o200k_base), must give identical ids on the mixed
// sample (and its invalid-UTF-8 variant decoded to text) and on edge strings.
import { test } from "node:test";
import assert from "node:assert/strict";
import { getEncoding } from "js-tiktoken";

import { EDGE_STRINGS, invalidUtf8, loadTiktoken, mixedSample } from "./loaders.ts";

for (const name of ["gpt2", "cl100k_base", "o200k_base"] as const) {
  test(`${name}: identical ids to js-tiktoken`, () => {
    const ours = loadTiktoken(name);
    const ref = getEncoding(name);
    const sample = mixedSample();
    const lossy = new TextDecoder().decode(invalidUtf8());
    for (const text of [sample, lossy, ...EDGE_STRINGS]) {
      assert.deepEqual(ours.encode(text, { allowedSpecial: "none" }), ref.encode(text, [], []), `text ${JSON.stringify(text.slice(0, 40))}`);
    }
    // Special tokens allowed: both map <|endoftext|> to its id.
    const withSpecial = "a<|endoftext|>b";
    assert.deepEqual(ours.encode(withSpecial), ref.encode(withSpecial, "all"));
    // Our decode inverts their ids.
    assert.equal(ours.decode(ref.encode(sample, [], [])), sample);
    // Bytes round-trip exactly, invalid UTF-8 included.
    const bytes = invalidUtf8();
    assert.deepEqual(ours.decodeBytes(ours.encodeBytes(bytes)), bytes);
  });
}
