import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { FormatError } from "../errors.ts";
import { CONFIDENCE_FEATURES, CONFIDENCE_MODEL, DEFAULT_MIN_CONFIDENCE } from "./confidence.ts";
import { PICKER_FEATURES, PICKER_WEIGHTS } from "./extractive.ts";
import { FITTED_PATH, fittedConfidence, fittedPickerWeights, readFitted, writeFittedSection } from "./fitted.ts";

const root = mkdtempSync(join(tmpdir(), "slm-fitted-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** A copy of the shipped file with `edit` applied to its parsed JSON. */
function variant(name: string, edit: (j: any) => void): string {
  const j = JSON.parse(readFileSync(FITTED_PATH, "utf8"));
  edit(j);
  const p = join(root, name);
  writeFileSync(p, JSON.stringify(j));
  return p;
}

test("the shipped file holds exactly the features the code reads, and the modules use its numbers", () => {
  const raw = JSON.parse(readFileSync(FITTED_PATH, "utf8"));
  assert.deepEqual(Object.keys(raw.picker.weights).sort(), [...PICKER_FEATURES].sort());
  assert.deepEqual(Object.keys(raw.confidence.features).sort(), [...CONFIDENCE_FEATURES].sort());
  for (const k of PICKER_FEATURES) assert.equal(PICKER_WEIGHTS[k], raw.picker.weights[k]);
  CONFIDENCE_FEATURES.forEach((k, i) => {
    assert.equal(CONFIDENCE_MODEL.weights[i], raw.confidence.features[k].weight);
    assert.equal(CONFIDENCE_MODEL.sd[i], raw.confidence.features[k].sd);
  });
  assert.equal(CONFIDENCE_MODEL.bias, raw.confidence.bias);
  assert.equal(DEFAULT_MIN_CONFIDENCE, raw.confidence.threshold);
});

test("a corrupt file is a FormatError naming the file", () => {
  const p = join(root, "torn.json");
  writeFileSync(p, readFileSync(FITTED_PATH, "utf8").slice(0, 200));
  assert.throws(
    () => readFitted(p),
    (e: unknown) => e instanceof FormatError && e.message.includes(p) && /not valid JSON/.test(e.message),
  );
  assert.throws(
    () => readFitted(join(root, "absent.json")),
    (e: unknown) => e instanceof FormatError && /missing/.test(e.message),
  );
});

test("wrong envelope, version, types and feature names are refused with what is wrong", () => {
  const cases: [string, (j: any) => void, RegExp][] = [
    ["format", (j) => (j.format = "x"), /not an slmkit fitted-parameters file/],
    ["version", (j) => (j.version = 99), /version 99 is not supported/],
    ["nan", (j) => (j.picker.weights.share = "2"), /picker\.weights\.share must be a finite number/],
    ["sd", (j) => (j.confidence.features.terms.sd = 0), /confidence\.features\.terms\.sd must be positive/],
    ["threshold", (j) => (j.confidence.threshold = 1.5), /threshold must be a number in \[0, 1\]/],
  ];
  for (const [name, edit, re] of cases)
    assert.throws(
      () => readFitted(variant(`${name}.json`, edit)),
      (e: unknown) => e instanceof FormatError && re.test(e.message),
      name,
    );
  const stale = variant("stale.json", (j) => {
    delete j.picker.weights.rel;
    j.picker.weights.glove = 1;
  });
  assert.throws(() => fittedPickerWeights(PICKER_FEATURES, stale), /picker\.weights do not match.*missing rel; unknown glove/);
  const fewer = variant("fewer.json", (j) => delete j.confidence.features.typed);
  assert.throws(() => fittedConfidence(CONFIDENCE_FEATURES, fewer), /confidence\.features do not match.*missing typed/);
});

test("writeFittedSection replaces one section and keeps the other", () => {
  const p = join(root, "rw.json");
  copyFileSync(FITTED_PATH, p);
  const before = readFitted(p);
  const weights = Object.fromEntries(PICKER_FEATURES.map((k, i) => [k, i / 10]));
  writeFittedSection(p, { picker: { fittedAt: "2026-12-07", fittedBy: "test", note: "n", weights } });
  assert.deepEqual(fittedPickerWeights(PICKER_FEATURES, p), weights);
  assert.deepEqual(readFitted(p).confidence, before.confidence);
  assert.throws(() => writeFittedSection(p, { picker: { fittedAt: "x", fittedBy: "t", note: "n", weights: { share: Number.NaN } } }), FormatError);
  assert.deepEqual(fittedPickerWeights(PICKER_FEATURES, p), weights);
});
