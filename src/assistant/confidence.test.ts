// The answer confidence: its features on a tiny handbook, the logistic model's
// arithmetic, and that the fitted model answers a question the documents cover
// and refuses one they only touch.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import {
  answerConfidence,
  CONFIDENCE_FEATURES,
  CONFIDENCE_MODEL,
  confidenceFeatures,
  confidenceOf,
  DEFAULT_MIN_CONFIDENCE,
  type ConfidenceFeatures,
} from "./confidence.ts";
import { buildIndex, SectionIndex } from "./index-db.ts";
import type { PromptSource } from "./prompt.ts";
import { retrieve } from "./retrieve.ts";
import { writeTinyDataset } from "./testing.ts";
import { HashEmbedder } from "./embed.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-confidence-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const zero: ConfidenceFeatures = { coverage: 0, pickCoverage: 0, maxMissingIdf: 0, missing: 0, terms: 0, pickScore: 0, typed: 0, typeMissing: 0 };

test("confidenceOf is the logistic of the standardised, weighted features", () => {
  const model = { mean: [0.5, 0, 0, 0, 0, 0, 0, 0], sd: [0.25, 1, 1, 1, 1, 1, 1, 1], weights: [2, 0, 0, 0, 0, 0, 0, -1], bias: 0.5 };
  assert.equal(confidenceOf({ ...zero, coverage: 0.5 }, model), 1 / (1 + Math.exp(-0.5)));
  // coverage 1 is two sds above the mean (+4), typeMissing 1 adds -1.
  assert.ok(Math.abs(confidenceOf({ ...zero, coverage: 1, typeMissing: 1 }, model) - 1 / (1 + Math.exp(-(0.5 + 4 - 1)))) < 1e-12);
  assert.equal(CONFIDENCE_MODEL.weights.length, CONFIDENCE_FEATURES.length);
  assert.equal(CONFIDENCE_MODEL.mean.length, CONFIDENCE_FEATURES.length);
  // The fitted model: more of the question found means more confidence, a missing rare word less.
  const base = { ...zero, coverage: 0.6, pickCoverage: 0.5, maxMissingIdf: 3, missing: 1, terms: 5, pickScore: 2 };
  assert.ok(confidenceOf({ ...base, coverage: 0.9 }) > confidenceOf(base));
  assert.ok(confidenceOf({ ...base, maxMissingIdf: 8 }) < confidenceOf(base));
  assert.ok(confidenceOf({ ...base, typed: 1 }) > confidenceOf(base));
});

test("confidenceFeatures: coverage, the missing words and whether the picked sentence holds the kind asked for", () => {
  const ixPath = join(dir, "tiny.index");
  buildIndex({ dataset: writeTinyDataset(join(dir, "ds")), out: ixPath, embedder: new HashEmbedder(64) });
  const index = SectionIndex.open(ixPath);
  try {
    const src = (text: string): PromptSource[] => [{ n: 1, sourcePath: "hb/leave.md", headingPath: "Leave › Annual leave", sectionId: "x", text }];
    const q = "How many days of annual leave do full-time staff earn?";
    const r = retrieve(index, q);
    const f = confidenceFeatures(index, q, r, src("Annual leave\nFull-time staff earn 25 days of annual leave per year."));
    assert.equal(f.coverage, 1);
    assert.equal(f.missing, 0);
    assert.equal(f.maxMissingIdf, 0);
    assert.deepEqual([f.typed, f.typeMissing], [1, 0]);
    assert.equal(f.pickCoverage, 1);
    // The same question shown a sentence without a number: the kind asked for is missing.
    const g = confidenceFeatures(index, q, r, src("Annual leave\nFull-time staff earn annual leave."));
    assert.deepEqual([g.typed, g.typeMissing], [0, 1]);
    // A question with a word the handbook never uses: it is missing, with the highest IDF.
    const q2 = "How many days of sabbatical leave do staff earn?";
    const r2 = retrieve(index, q2);
    const h = confidenceFeatures(index, q2, r2, src("Annual leave\nFull-time staff earn 25 days of annual leave per year."));
    assert.equal(h.missing, 1);
    assert.equal(h.maxMissingIdf, index.idf("sabbatical"));
    assert.ok(h.coverage < 1);
    assert.equal(h.terms, r2.coverage.length);

    // End to end with the fitted model: a covered question passes the default threshold; one on a
    // word the documents never use does not; nothing retrieved is 0.
    assert.ok(answerConfidence(index, q, r).confidence >= DEFAULT_MIN_CONFIDENCE);
    const off = "What is the sabbatical policy for engineers?";
    assert.ok(answerConfidence(index, off, retrieve(index, off)).confidence < DEFAULT_MIN_CONFIDENCE);
    assert.equal(answerConfidence(index, "zzz qqq?", retrieve(index, "zzz qqq?")).confidence, 0);
  } finally {
    index.close();
  }
});
