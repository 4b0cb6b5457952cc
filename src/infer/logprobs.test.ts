// Log-probabilities against a direct softmax: the log-sum-exp, the top-n order
// (ties by lower id) and values.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Rng } from "../util/rng.ts";
import { logSumExp, topLogprobs } from "./logprobs.ts";

test("logSumExp and topLogprobs match a direct softmax", () => {
  const V = 500;
  const row = new Rng(1).fillNormal(new Float32Array(V), 0, 4);
  row[7] = row[9] = 30; // a tie at the top
  const lse = logSumExp(row, V);
  const z = Array.from(row).reduce((a, x) => a + Math.exp(x), 0);
  assert.ok(Math.abs(lse - Math.log(z)) < 1e-9);
  const top = topLogprobs(row, V, 5, lse);
  const want = Array.from(row, (x, id) => ({ id, x }))
    .sort((a, b) => b.x - a.x || a.id - b.id)
    .slice(0, 5);
  assert.deepEqual(
    top.map((t) => t.id),
    want.map((w) => w.id),
  );
  for (const t of top) assert.ok(Math.abs(t.logprob - (row[t.id]! - Math.log(z))) < 1e-9);
  assert.deepEqual(topLogprobs(row, V, 0, lse), []);
  const probs = topLogprobs(row, V, V, lse).reduce((a, t) => a + Math.exp(t.logprob), 0);
  assert.ok(Math.abs(probs - 1) < 1e-9, "all of them sum to 1");
});
