import { test } from "node:test";
import assert from "node:assert/strict";

import { Rng } from "../util/rng.ts";
import { Merger, PairTable } from "./bpe.ts";

/** Plain reference: repeatedly merge the leftmost lowest-rank pair. */
function naiveMerge(syms: number[], t: PairTable): number[] {
  const s = [...syms];
  for (;;) {
    let best = Infinity;
    let at = -1;
    for (let i = 0; i + 1 < s.length; i++) {
      const r = t.rank(s[i]!, s[i + 1]!);
      if (r !== 0x7fffffff && r < best) {
        best = r;
        at = i;
      }
    }
    if (at < 0) return s;
    s.splice(at, 2, t.resultAt(t.find(s[at]!, s[at + 1]!)));
  }
}

test("PairTable: set, find, grow, lower rank wins", () => {
  const t = new PairTable(4);
  for (let i = 0; i < 1000; i++) t.set(i, i * 7 + 1, i, 5000 + i);
  assert.equal(t.size, 1000);
  for (let i = 0; i < 1000; i++) assert.equal(t.resultAt(t.find(i, i * 7 + 1)), 5000 + i);
  assert.equal(t.find(3, 3), -1);
  t.set(1, 8, 0, 42); // (1, 8) had rank 1: rank 0 replaces it
  assert.equal(t.rank(1, 8), 0);
  assert.equal(t.resultAt(t.find(1, 8)), 42);
  t.set(1, 8, 9, 43); // higher rank: ignored
  assert.equal(t.resultAt(t.find(1, 8)), 42);
});

test("Merger: array scan and heap paths equal the naive merge on random sequences", () => {
  const rng = new Rng(7);
  // Alphabet 0..5, merges build ids from 6 upward with random ranks.
  const t = new PairTable();
  let next = 6;
  const ids = [0, 1, 2, 3, 4, 5];
  const ranks = rng.shuffle(Array.from({ length: 60 }, (_, i) => i));
  for (let k = 0; k < 60; k++) {
    const a = ids[rng.int(ids.length)]!;
    const b = ids[rng.int(ids.length)]!;
    if (t.find(a, b) >= 0) continue;
    t.set(a, b, ranks[k]!, next);
    ids.push(next++);
  }
  const m = new Merger(t);
  for (const len of [0, 1, 2, 5, 30, 64, 65, 200, 3000]) {
    for (let trial = 0; trial < 5; trial++) {
      const seq = Array.from({ length: len }, () => rng.int(6));
      const buf = Int32Array.from(seq);
      const n = m.merge(buf, len);
      assert.deepEqual(Array.from(buf.subarray(0, n)), naiveMerge(seq, t), `len ${len}`);
    }
  }
});

test("Merger: equal ranks merge leftmost first", () => {
  const t = new PairTable();
  t.set(0, 0, 0, 1); // a a -> A
  const m = new Merger(t);
  const buf = Int32Array.from([0, 0, 0]);
  assert.deepEqual(Array.from(buf.subarray(0, m.merge(buf, 3))), [1, 0]);
  const long = new Int32Array(101); // heap path: 101 a's -> 50 A's and one a at the end
  const n = m.merge(long, 101);
  assert.equal(n, 51);
  assert.equal(long[50], 0);
  assert.ok(Array.from(long.subarray(0, 50)).every((x) => x === 1));
});
