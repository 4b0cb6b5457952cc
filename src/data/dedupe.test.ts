// MinHash (one-permutation hashing) estimates Jaccard similarity of word
// 5-shingles; the LSH index finds near duplicates and ignores unrelated text.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Rng } from "../util/rng.ts";
import { NearDupIndex, jaccardEstimate, minhash } from "./dedupe.ts";

function words(rng: Rng, n: number): string[] {
  return Array.from({ length: n }, () => `w${rng.int(5000)}`);
}

function shingles(ws: string[]): Set<string> {
  const s = new Set<string>();
  for (let i = 0; i + 5 <= ws.length; i++) s.add(ws.slice(i, i + 5).join(" "));
  return s;
}

function trueJaccard(a: string[], b: string[]): number {
  const sa = shingles(a.map((w) => w.toLowerCase()));
  const sb = shingles(b.map((w) => w.toLowerCase()));
  let inter = 0;
  for (const x of sa) if (sb.has(x)) inter++;
  return inter / (sa.size + sb.size - inter);
}

test("the estimate tracks the true shingle Jaccard", () => {
  const rng = new Rng(1);
  for (const edits of [0, 5, 20, 60, 150]) {
    const a = words(rng, 600);
    const b = a.slice();
    for (let e = 0; e < edits; e++) b[rng.int(b.length)] = `x${rng.int(1e6)}`;
    const est = jaccardEstimate(minhash(a.join(" "), 9)!, minhash(b.join(" ").toUpperCase(), 9)!);
    const truth = trueJaccard(a, b);
    assert.ok(Math.abs(est - truth) < 0.12, `edits ${edits}: estimate ${est} vs true ${truth}`);
  }
});

test("short texts and empty texts", () => {
  assert.equal(minhash("  ...  ", 1), null);
  const s = minhash("two words", 1)!;
  assert.equal(jaccardEstimate(s, minhash("Two, WORDS!", 1)!), 1);
  assert.ok(jaccardEstimate(s, minhash("other words", 1)!) < 0.5);
});

test("the index finds near duplicates and keeps unrelated documents", () => {
  const rng = new Rng(2);
  const idx = new NearDupIndex<string>(0.8);
  const docs = Array.from({ length: 50 }, () => words(rng, 300));
  for (const [i, d] of docs.entries()) {
    const sig = minhash(d.join(" "), 0)!;
    assert.equal(idx.query(sig), null, `unrelated document ${i} matched`);
    idx.add(`doc${i}`, sig);
  }
  const near = docs[17].slice();
  near[100] = "changed";
  near[200] = "edited";
  const hit = idx.query(minhash(near.join(" "), 0)!);
  assert.equal(hit?.of, "doc17");
  assert.ok(hit!.jaccard >= 0.8);
  const half = docs[3].slice(0, 150).concat(words(rng, 150));
  assert.equal(idx.query(minhash(half.join(" "), 0)!), null, "a half-shared document is not a near duplicate at 0.8");
});
