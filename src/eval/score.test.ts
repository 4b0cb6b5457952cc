import assert from "node:assert/strict";
import { test } from "node:test";

import { answerMatches, normalizeAnswer, sameSource } from "./score.ts";

test("normalizeAnswer: case, punctuation, articles, apostrophes, percent, numbers", () => {
  assert.equal(normalizeAnswer("The HR-Links portal!"), "hr links portal");
  assert.equal(normalizeAnswer("Employee's  manager"), "employees manager");
  assert.equal(normalizeAnswer("50%"), "50 percent");
  assert.equal(normalizeAnswer("$1,500.00"), "1500 00");
  assert.equal(normalizeAnswer("Three business days"), "3 business days");
  assert.equal(normalizeAnswer("an apple a day"), "apple day");
});

test("answerMatches: whole-word substring of gold or alias, numbers as words or digits", () => {
  assert.ok(answerMatches("You earn four hours per pay period [1].", "4 hours"));
  assert.ok(answerMatches("Use HRLinks.", "HR Links", ["HRLinks"]));
  assert.ok(!answerMatches("Use HR Linkspace.", "HR Links"));
  assert.ok(!answerMatches("You earn 14 hours.", "4 hours"));
  assert.ok(!answerMatches("anything", ""));
  assert.ok(answerMatches("within 3 working days", "three working days"));
});

test("sameSource: suffix match on path components only", () => {
  assert.ok(sameSource("handbook/leave/annual.md", "leave/annual.md"));
  assert.ok(sameSource("pages/a.md", "pages/a.md"));
  assert.ok(!sameSource("handbook/leave/biannual.md", "annual.md"));
});
