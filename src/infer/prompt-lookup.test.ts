// Tests of prompt-lookup drafting: the longest matching suffix wins, the most
// recent occurrence is used, an overlapping match repeats its pattern, k tokens at most.
import assert from "node:assert/strict";
import { test } from "node:test";

import { promptLookup } from "./prompt-lookup.ts";

test("prompt lookup copies what followed the last occurrence of the longest matching suffix", () => {
  // Suffix [2, 3, 4] occurs at 1; what followed it there: 9, 8, 7, ...
  const h = [1, 2, 3, 4, 9, 8, 7, 6, 5, 2, 3, 4];
  assert.deepEqual(promptLookup(h, 3), [9, 8, 7]);
  assert.deepEqual(promptLookup(h, 1), [9]);
  assert.deepEqual(promptLookup(h, 0), []);
  // The most recent earlier occurrence wins.
  assert.deepEqual(promptLookup([7, 8, 1, 7, 8, 2, 7, 8], 2), [2, 7]);
  // A 3-gram match is preferred to a more recent 2-gram one.
  assert.deepEqual(promptLookup([5, 6, 7, 1, 0, 6, 7, 2, 5, 6, 7], 1), [1]);
  // A match overlapping the suffix continues into the draft: the pattern repeats.
  assert.deepEqual(promptLookup([4, 4, 4, 4], 5), [4, 4, 4, 4, 4]);
  assert.deepEqual(promptLookup([9, 1, 2, 1, 2], 5), [1, 2, 1, 2, 1]);
});

test("prompt lookup proposes nothing without a match of at least minNgram tokens", () => {
  assert.deepEqual(promptLookup([1, 2, 3, 4, 5], 4), []);
  // Only a one-token match: off by default, on with minNgram 1.
  assert.deepEqual(promptLookup([3, 9, 1, 3], 4), []);
  assert.deepEqual(promptLookup([3, 9, 1, 3], 2, { minNgram: 1 }), [9, 1]);
  assert.deepEqual(promptLookup([3], 2, { minNgram: 1 }), []);
  // maxNgram 1 ignores the longer match.
  assert.deepEqual(promptLookup([1, 2, 5, 0, 2, 6, 1, 2], 1, { maxNgram: 1, minNgram: 1 }), [6]);
});
