// Tests of the prompt cache on its own (no model: an entry's "KV" is bytes
// derived from its tokens, so a test can tell which entry it got back): the
// longest prefix wins and is capped by the limit, entries that extend others
// replace them, LRU eviction keeps the bytes within the bound, and oversized
// entries are refused. The engine's use of it is tested in engine-prompt-cache.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";

import { UsageError } from "../errors.ts";
import { Rng } from "../util/rng.ts";
import { PromptCache } from "./prompt-cache.ts";

const PER_TOKEN = 8;

/** KV bytes as a function of the tokens: byte j of position p is (token p + j) & 255. */
function fillFor(tokens: readonly number[], n: number) {
  return (kv: Uint8Array) => {
    assert.equal(kv.byteLength, n * PER_TOKEN);
    for (let p = 0; p < n; p++) for (let j = 0; j < PER_TOKEN; j++) kv[p * PER_TOKEN + j] = (tokens[p]! + j) & 255;
  };
}

test("lookup: the longest shared prefix of any entry, capped by the limit; misses and hits are counted", () => {
  const c = new PromptCache(1 << 20, PER_TOKEN);
  assert.equal(c.lookup([1, 2, 3]), null, "empty cache");
  const a = [1, 2, 3, 4, 5, 6],
    b = [1, 2, 9, 9];
  assert.ok(c.insert(a, a.length, fillFor(a, a.length)));
  assert.ok(c.insert(b, b.length, fillFor(b, b.length)));
  let r = c.lookup([1, 2, 3, 4, 7]);
  assert.deepEqual(Array.from(r!.entry.tokens), a);
  assert.equal(r!.length, 4);
  assert.equal(r!.entry.kv[3 * PER_TOKEN], 4, "the KV bytes that were filled for the entry");
  r = c.lookup([1, 2, 9, 9, 9, 9]);
  assert.deepEqual(Array.from(r!.entry.tokens), b);
  assert.equal(r!.length, 4, "a prompt extending an entry reuses all of it");
  assert.equal(c.lookup(a, a.length - 1)!.length, a.length - 1, "a prompt equal to an entry: capped by the limit");
  assert.equal(c.lookup([7, 1, 2]), null, "no shared first token");
  const s = c.stats();
  assert.equal(s.lookups, 5);
  assert.equal(s.hits, 3);
  assert.equal(s.cachedTokens, 4 + 4 + 5);
});

test("insert: a sequence that extends an entry replaces it; a prefix of an entry adds nothing", () => {
  const c = new PromptCache(1 << 20, PER_TOKEN);
  const turn1 = [1, 2, 3],
    turn2 = [1, 2, 3, 4, 5],
    turn3 = [1, 2, 3, 4, 5, 6, 7];
  c.insert(turn1, 3, fillFor(turn1, 3));
  c.insert(turn2, 5, fillFor(turn2, 5));
  c.insert(turn3, 7, fillFor(turn3, 7));
  assert.equal(c.stats().entries, 1, "one entry for the growing chat");
  assert.equal(c.bytes, c.entryBytes(7));
  let filled = false;
  assert.equal(
    c.insert(turn2, 5, () => (filled = true)),
    false,
  );
  assert.equal(
    c.insert(turn3, 4, () => (filled = true)),
    false,
    "the first 4 tokens of an entry",
  );
  assert.equal(filled, false, "nothing copied for an already cached sequence");
  // A sequence diverging from the entry is kept beside it.
  const other = [1, 2, 8];
  assert.ok(c.insert(other, 3, fillFor(other, 3)));
  assert.equal(c.stats().entries, 2);
  assert.equal(c.bytes, c.entryBytes(7) + c.entryBytes(3));
});

test("eviction: least recently used first, bytes never above the bound over many random sequences", () => {
  const bound = 40 * (PER_TOKEN + 4);
  const c = new PromptCache(bound, PER_TOKEN);
  const x = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
    y = [20, 21, 22, 23, 24, 25, 26, 27, 28, 29];
  const z = [30, 31, 32, 33, 34, 35, 36, 37, 38, 39],
    w = [40, 41, 42, 43, 44, 45, 46, 47, 48, 49];
  for (const t of [x, y, z, w]) c.insert(t, 10, fillFor(t, 10));
  assert.equal(c.bytes, bound, "exactly full");
  c.lookup([10, 11]); // x is now the most recently used
  const v = [50, 51, 52, 53, 54];
  c.insert(v, 5, fillFor(v, 5));
  assert.equal(c.lookup([20]), null, "y, the least recently used, was evicted");
  assert.ok(c.lookup([10]) && c.lookup([30]) && c.lookup([40]) && c.lookup([50]));
  assert.equal(c.stats().evictions, 1);

  const rng = new Rng(5);
  let peak = 0;
  for (let i = 0; i < 500; i++) {
    const n = 1 + Math.floor(rng.uniform() * 30);
    const t = Array.from({ length: n }, () => Math.floor(rng.uniform() * 4));
    c.lookup(t);
    c.insert(t, n, fillFor(t, n));
    peak = Math.max(peak, c.bytes);
    assert.ok(c.bytes <= bound, `${c.bytes} bytes held, bound ${bound}`);
  }
  assert.equal(c.stats().peakBytes, Math.max(peak, bound));
  assert.ok(c.stats().hits > 100, "random sequences over 4 token ids share prefixes");
});

test("an entry bigger than the whole bound is not kept; size 0 keeps nothing; bad sizes are UsageErrors", () => {
  const c = new PromptCache(10 * (PER_TOKEN + 4), PER_TOKEN);
  const long = Array.from({ length: 11 }, (_, i) => i);
  assert.equal(
    c.insert(long, 11, () => assert.fail("not filled")),
    false,
  );
  assert.ok(c.insert(long, 10, fillFor(long, 10)), "its first 10 tokens fit");
  const off = new PromptCache(0, PER_TOKEN);
  assert.equal(
    off.insert([1], 1, () => assert.fail("not filled")),
    false,
  );
  assert.throws(() => new PromptCache(-1, PER_TOKEN), UsageError);
  assert.throws(() => new PromptCache(1.5, PER_TOKEN), UsageError);
  assert.throws(() => c.insert([1, 2], 3, () => {}), UsageError);
});
