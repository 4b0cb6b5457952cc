import assert from "node:assert/strict";
import { test } from "node:test";

import { contentTerms, ftsQuery, sentences, stem, words } from "./terms.ts";

test("words: lower case, apostrophes dropped, split on punctuation", () => {
  assert.deepEqual(words("Don't e-mail the HR-team's ‘Boss’!"), ["dont", "e", "mail", "the", "hr", "teams", "boss"]);
});

test("stem joins plurals and verb forms without going below three letters", () => {
  assert.equal(stem("policies"), stem("policy"));
  assert.equal(stem("submitting"), "submit");
  assert.equal(stem("reported"), stem("reports"));
  assert.equal(stem("install"), "install");
  assert.equal(stem("bus"), "bus");
  assert.equal(stem("2024s"), "2024s");
});

test("contentTerms drops stop and question words; ftsQuery quotes each word", () => {
  assert.deepEqual(contentTerms("How long is the annual leave carry-over?"), ["annual", "leav", "carry"]);
  assert.equal(ftsQuery('What is "annual" leave?'), '"annual" OR "leave"');
  assert.equal(ftsQuery("what is it"), null);
});

test("sentences split lines and sentence ends, not abbreviations before lower case", () => {
  assert.deepEqual(sentences("Title\n\nOne here. Two there! See e.g. three stays. 4 starts"), [
    "Title",
    "One here.",
    "Two there!",
    "See e.g. three stays.",
    "4 starts",
  ]);

  // A numbered list item keeps its number (it was split off as a sentence "1." of its own).
  assert.deepEqual(sentences("Steps\n1. Remind your team. Then go.\n12. Done"), ["Steps", "1. Remind your team.", "Then go.", "12. Done"]);
});
