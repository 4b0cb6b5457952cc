import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfigError } from "../errors.ts";
import { Rng } from "../util/rng.ts";
import { Sampler, argmax, sortCandidates } from "./sampler.ts";

const logits = new Float32Array([1, 3, 2, 0.5, 2.9]);

function histogram(s: Sampler, n: number, history?: number[]): number[] {
  const h = new Array(logits.length).fill(0);
  for (let i = 0; i < n; i++) h[s.sample(logits, history)]++;
  return h;
}

test("temperature 0 is argmax, and ties go to the lowest id", () => {
  const s = new Sampler(5, { temperature: 0 });
  assert.equal(s.sample(logits), 1);
  assert.equal(argmax(new Float32Array([2, 5, 5])), 1);
});

test("sampling follows softmax(logits / T)", () => {
  const s = new Sampler(5, { temperature: 1 }, new Rng(1));
  const n = 20000;
  const h = histogram(s, n);
  const z = Array.from(logits, (l) => Math.exp(l));
  const total = z.reduce((a, b) => a + b, 0);
  for (let i = 0; i < 5; i++) {
    const want = z[i]! / total;
    assert.ok(Math.abs(h[i]! / n - want) < 0.015, `token ${i}: ${h[i]! / n} vs ${want}`);
  }
});

test("top-k keeps only the k best tokens", () => {
  const h = histogram(new Sampler(5, { topK: 2 }, new Rng(2)), 3000);
  assert.deepEqual(
    h.map((c) => c > 0),
    [false, true, false, false, true],
  );
});

test("top-p keeps the smallest nucleus reaching p", () => {
  // probabilities ≈ [.07 .37 .13 .03 .33]; p = 0.6 needs ids 1 and 4.
  const h = histogram(new Sampler(5, { topP: 0.6 }, new Rng(3)), 3000);
  assert.deepEqual(
    h.map((c) => c > 0),
    [false, true, false, false, true],
  );
});

test("min-p drops tokens far below the top one", () => {
  // relative to top (e^3): id2 e^2/e^3 = .37, id0 .135, id3 .08 → min_p .3 keeps 1, 4, 2.
  const h = histogram(new Sampler(5, { minP: 0.3 }, new Rng(4)), 3000);
  assert.deepEqual(
    h.map((c) => c > 0),
    [false, true, true, false, true],
  );
});

test("repetition penalty lowers tokens in the history", () => {
  const s = new Sampler(5, { temperature: 0, repetitionPenalty: 2 });
  assert.equal(s.sample(logits, [1]), 4); // 3 / 2 = 1.5 < 2.9
  assert.equal(s.sample(logits, [1, 1, 1]), 4, "repeats in history do not compound");
});

test("the same seed gives the same sequence", () => {
  const a = new Sampler(5, { temperature: 0.8, topK: 4 }, new Rng(9));
  const b = new Sampler(5, { temperature: 0.8, topK: 4 }, new Rng(9));
  const sa = Array.from({ length: 50 }, () => a.sample(logits));
  const sb = Array.from({ length: 50 }, () => b.sample(logits));
  assert.deepEqual(sa, sb);
});

test("invalid options are ConfigErrors naming the option", () => {
  assert.throws(() => new Sampler(5, { temperature: -1 }), ConfigError);
  assert.throws(() => new Sampler(5, { topP: 0 }), /top_p/);
  assert.throws(() => new Sampler(5, { topK: 1.5 }), /top_k/);
  assert.throws(() => new Sampler(5, { minP: 1 }), /min_p/);
  assert.throws(() => new Sampler(5, { repetitionPenalty: 0 }), /repetition_penalty/);
  assert.throws(() => new Sampler(5).sample(new Float32Array(3)), /vocabulary is 5/);
});

test("sortCandidates orders ids by logit descending, ties by id, as a comparator sort does", () => {
  const rng = new Rng(9);
  for (const V of [5, 300, 8192]) {
    // Ties, zeros of both signs, negatives, large magnitudes.
    const pool = [0, -0, 1.5, -1.5, 3, 3, -100, 1e30, -1e30, 0.1];
    const x = Float32Array.from({ length: V }, (_, i) => (i % 3 === 0 ? pool[i % pool.length]! : (rng.uniform() - 0.5) * 20));
    const ids = Int32Array.from({ length: V }, (_, i) => i).filter((i) => i % 7 !== 3); // a subset, as after the floor filter
    const want = Array.from(ids).sort((a, b) => x[b]! - x[a]! || a - b);
    const got = ids.slice();
    sortCandidates(x, got);
    assert.deepEqual(Array.from(got), want, `V=${V}`);
  }
});
