import assert from "node:assert/strict";
import { test } from "node:test";

import {
  NOT_FOUND_TEXT,
  fitSources,
  fitSourcesAsync,
  groundedExample,
  groundedPromptText,
  parseCitations,
  saysNotFound,
  selectSnippet,
  type PromptSource,
} from "./prompt.ts";

const SECTION = {
  id: "d#1",
  source: "hb/travel.md",
  headingPath: "Travel › Per diems",
  text: "Per diems\n\nHotels are booked by the travel desk. The daily meal allowance is 45 euros in Lisbon. Receipts are not needed for meals. Taxis need a receipt.",
};

test("selectSnippet keeps the heading and the best-matching sentences in order", () => {
  assert.equal(selectSnippet(SECTION.text, "anything", 10_000), SECTION.text);
  const s = selectSnippet(SECTION.text, "What is the meal allowance in Lisbon?", 80);
  assert.ok(s.startsWith("Per diems"));
  assert.ok(s.includes("The daily meal allowance is 45 euros in Lisbon."));
  assert.ok(s.length <= 80);
});

test("selectSnippet keeps each list item on its own line, so a list is not one long sentence", () => {
  const text =
    "Benefits\n\nThe perks of working here are many and varied, and they change over time. These currently include:\n- Healthcare and dental\n- A paid sabbatical every 5 years\n- 12 weeks of parental leave\n\nAsk HR about anything else you need to know about the benefits.";
  const s = selectSnippet(text, "How often is the paid sabbatical? What about parental leave and healthcare?", 120);
  assert.ok(s.length <= 120);
  assert.match(s, /\n- A paid sabbatical every 5 years\n- 12 weeks of parental leave/);
  // Sentences of one paragraph stay on one line.
  const p = selectSnippet(
    "Per diems\n\nThe allowance is 45 euros. It is paid monthly. Receipts are not needed for meals at all, ever.",
    "allowance paid monthly",
    60,
  );
  assert.equal(p, "Per diems\nThe allowance is 45 euros. It is paid monthly.");
});

test("the grounded prompt numbers sources with path and heading and ends with the question", () => {
  const src = fitSources("meal allowance?", [SECTION, { ...SECTION, id: "d#2", headingPath: "Other" }]);
  assert.deepEqual(
    src.map((s) => s.n),
    [1, 2],
  );
  const p = groundedPromptText("What is the meal allowance?", src);
  assert.ok(p.includes("[1] hb/travel.md — Travel › Per diems\nPer diems"));
  assert.ok(p.includes("[2] hb/travel.md — Other"));
  assert.ok(p.includes(NOT_FOUND_TEXT));
  assert.ok(p.endsWith("Question: What is the meal allowance?\nAnswer:"));
  const ex = groundedExample("q?", src, "45 euros [1]");
  assert.deepEqual(
    ex.map((m) => m.role),
    ["user", "assistant"],
  );
});

test("fitSources shrinks snippets, then drops sources, to fit a token budget", () => {
  const many = Array.from({ length: 4 }, (_, i) => ({ ...SECTION, id: `d#${i}` }));
  const count = (s: readonly { text: string }[]) => s.reduce((a, x) => a + x.text.length, 0); // 1 "token" per char
  const fit = fitSources("meal allowance Lisbon", many, { countTokens: count, maxTokens: 300, minSnippetChars: 60 });
  assert.ok(fit.length >= 1 && count(fit) <= 300);
  assert.deepEqual(fitSources("x", many, { countTokens: () => 1e9, maxTokens: 10 }), []);
});

test("parseCitations: [n], [1, 2], [1][2]; out-of-range and repeats ignored", () => {
  assert.deepEqual(parseCitations("A [2] and B [1, 3][2] and [7] and [0].", 3), [2, 1, 3]);
  assert.deepEqual(parseCitations("none here", 3), []);
  assert.ok(saysNotFound("Sorry: Not found in the  documents."));
  assert.ok(!saysNotFound("It was found in the documents [1]."));
});

test("fitSourcesAsync shrinks and drops exactly as fitSources does", async () => {
  const sections = [0, 1, 2].map((i) => ({ ...SECTION, id: `d#${i}`, text: SECTION.text.repeat(6) }));
  const q = "What is the meal allowance in Lisbon?";
  const count = (s: readonly PromptSource[]) => groundedPromptText(q, s).length;
  for (const maxTokens of [5000, 1200, 700, 420, 100]) {
    const sync = fitSources(q, sections, { maxTokens, countTokens: count });
    let calls = 0;
    const async_ = await fitSourcesAsync(q, sections, { maxTokens, countTokens: async (s) => (calls++, count(s)) });
    assert.deepEqual(async_, sync, `budget ${maxTokens}`);
    assert.ok(calls > 0);
    if (sync.length > 0) assert.ok(count(sync) <= maxTokens);
  }
  assert.equal((await fitSourcesAsync(q, sections, { maxTokens: 100, countTokens: async (s) => count(s) })).length, 0, "nothing fits a tiny budget");
});
