// The extractive baseline's sentence choice: shared IDF-weighted stems, and the
// answer-type preference (a factor, not a filter).
import assert from "node:assert/strict";
import { test } from "node:test";

import { TYPE_MISS_FACTOR, extractiveAnswer, extractiveScore } from "./extractive.ts";
import type { PromptSource } from "./prompt.ts";

test("extractive baseline: a sentence holding the kind of answer asked for beats one sharing as many words without it", () => {
  const src = (n: number, text: string): PromptSource => ({ n, sourcePath: `hb/${n}.md`, headingPath: "Expenses", sectionId: `hb/${n}#0`, text: `Expenses\n${text}` });
  const idf = () => 1;
  // The first sentence shares three words with the question ("claim", "expenses", "Tally"), the
  // second two, but only the second holds a duration.
  const sources = [src(1, "Claim expenses in Tally with receipts attached. You have 30 days to claim expenses after a trip.")];
  const typed = extractiveAnswer("How long do I have to claim expenses in Tally?", sources, idf);
  assert.match(typed!.sentence, /30 days/);
  // A question asking for no kind in particular keeps the first of the tied sentences.
  const untyped = extractiveAnswer("Can I claim expenses?", sources, idf);
  assert.match(untyped!.sentence, /^Claim expenses in Tally/);
  // The preference is a factor, not a filter: a sentence sharing far more words still wins.
  const many = [src(1, "Claim travel expenses for hotel, rail and taxi in Tally with receipts. Receipts are kept for 6 years.")];
  assert.match(extractiveAnswer("How long until hotel rail taxi travel expenses claims are paid?", many, idf)!.sentence, /^Claim travel/);
  assert.ok(TYPE_MISS_FACTOR > 0 && TYPE_MISS_FACTOR < 1);
});

test("extractiveScore: shared stems by IDF, short sentences halved, later sources a little lower", () => {
  const idf = (t: string) => (t === "park" ? 3 : 1); // stems: "parking" -> "park"
  const q = new Set(["park", "permit"]);
  const none = new Set<never>();
  assert.equal(extractiveScore(q, none, "Parking permits are issued by the front desk.", 1, idf), 4);
  assert.equal(extractiveScore(q, none, "Parking permits are issued by the front desk.", 3, idf), 3);
  assert.equal(extractiveScore(q, none, "Parking permits.", 1, idf), 2);
});
