// The extractive baseline's sentence choice: the candidates and their features
// (question IDF held, the kind of answer asked for, heading, previous sentence,
// list lead-in, table header), and the fitted linear score over them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { PICKER_FEATURES, PICKER_WEIGHTS, extractiveAnswer, pickerCandidates, pickerScore, type PickerFeatures } from "./extractive.ts";
import type { PromptSource } from "./prompt.ts";

const src = (n: number, text: string, headingPath = "Expenses"): PromptSource => ({ n, sourcePath: `hb/${n}.md`, headingPath, sectionId: `hb/${n}#0`, text });
const near = (a: number, b: number) => Math.abs(a - b) < 1e-12;

test("extractive baseline: a sentence holding the kind of answer asked for beats one sharing as many words without it", () => {
  const idf = () => 1;
  // The first sentence shares three words with the question ("claim", "expenses", "Tally"), the
  // second two, but only the second holds a duration.
  const sources = [src(1, "Expenses\nClaim expenses in Tally with receipts attached. You have 30 days to claim expenses after a trip.")];
  const typed = extractiveAnswer("How long do I have to claim expenses in Tally?", sources, idf);
  assert.match(typed!.sentence, /30 days/);
  // A question asking for no kind in particular keeps the sentence sharing the most.
  const untyped = extractiveAnswer("Can I claim expenses in Tally?", sources, idf);
  assert.match(untyped!.sentence, /^Claim expenses in Tally/);
  // The preference is a weight, not a filter: a sentence sharing far more words still wins.
  const many = [src(1, "Expenses\nClaim travel expenses for hotel, rail and taxi in Tally with receipts."), src(2, "Expenses\nReceipts are kept for 6 years.")];
  assert.match(extractiveAnswer("How long until hotel rail taxi travel expenses claims are paid?", many, idf)!.sentence, /^Claim travel/);
  assert.equal(extractiveAnswer("Anything?", [], idf), null);
});

test("pickerCandidates: every sentence but the heading line, with shares of the question's IDF", () => {
  const idf = (t: string) => (t === "park" ? 3 : 1); // question stems: issu (1), park (3), permit (1), desk (1)
  const q = "Who issues parking permits at the desk?";
  const c = pickerCandidates(q, [src(1, "Parking\nParking permits are issued by the front desk. Ask early."), src(2, "Only line about permits")], idf);
  assert.deepEqual(
    c.map((x) => [x.sentence, x.n, x.position]),
    [
      ["Parking permits are issued by the front desk.", 1, 0],
      ["Ask early.", 1, 1],
      ["Only line about permits", 2, 0], // a source of one line has no heading line to skip
    ],
  );
  const [a, b, d] = c.map((x) => x.features);
  assert.ok(near(a!.share, 1) && near(a!.rel, 1));
  assert.deepEqual([a!.rank, a!.short, a!.num, a!.head, a!.prev], [0, 0, 0, 0, 0]);
  // "Ask early." holds none of the question; its heading ("Expenses Parking") holds "park", the
  // sentence before it all of the question.
  assert.deepEqual([b!.share, b!.short, b!.rel], [0, 1, 0]);
  assert.ok(near(b!.head, 3 / 6) && near(b!.prev, 1));
  assert.ok(near(d!.share, 1 / 6) && near(d!.rel, 1 / 6) && d!.rank === 1);
  // "Who" asks for a person or team; neither sentence of source 1 names one as a span.
  for (const x of [a!, b!]) assert.equal(x.typeMiss + x.typeHit, 1);
});

test("pickerCandidates: a list item is credited with its lead-in line, a table row with the table's first row", () => {
  const idf = () => 1;
  const text =
    "Leave\nSabbatical leave grows with service:\n- Over 5 years: up to 12 months\n- Under 5 years: 3 months\n\n| Role | Sabbatical |\n| --- | --- |\n| Staff | 12 months |";
  const c = pickerCandidates("How much sabbatical leave after 5 years?", [src(1, text, "Leave")], idf);
  const by = (s: string) => c.find((x) => x.sentence.startsWith(s))!.features;
  // question stems: sabbatical, leave, 5, year (4). The item holds 5 and year; its lead-in adds sabbatical and leave.
  assert.ok(near(by("- Over 5 years").share, 2 / 4) && near(by("- Over 5 years").lead, 2 / 4));
  assert.equal(by("- Over 5 years").num, 1);
  // The table's rows (not its first) get the first row's "sabbatical"; the lead-in line itself has no context.
  assert.ok(near(by("| Staff").lead, 1 / 4));
  assert.equal(by("| Role").lead, 0);
  assert.equal(by("Sabbatical leave grows").lead, 0);
  // The heading path ("Leave") is credited to sentences that lack "leave".
  assert.ok(near(by("| Staff").head, 1 / 4));
});

test("pickerScore is the weighted sum of the features; extractiveAnswer takes the best, earlier on ties", () => {
  const f = Object.fromEntries(PICKER_FEATURES.map((k, i) => [k, i + 1])) as PickerFeatures;
  assert.ok(
    near(
      pickerScore(f),
      PICKER_FEATURES.reduce((a, k, i) => a + PICKER_WEIGHTS[k] * (i + 1), 0),
    ),
  );
  const unit = Object.fromEntries(PICKER_FEATURES.map((k) => [k, k === "share" ? 1 : 0])) as PickerFeatures;
  assert.equal(pickerScore(f, unit), 1);
  // The fitted weights: more of the question is better, the asked kind missing or a later source worse.
  assert.ok(PICKER_WEIGHTS.share > 0 && PICKER_WEIGHTS.rel > 0 && PICKER_WEIGHTS.typeMiss < 0 && PICKER_WEIGHTS.rank < 0);
  const idf = () => 1;
  const twice = [src(1, "Expenses\nClaim expenses monthly."), src(2, "Expenses\nClaim expenses monthly.")];
  const best = extractiveAnswer("How do I claim expenses?", twice, idf)!;
  assert.equal(best.n, 1);
  assert.ok(near(best.score, pickerScore(pickerCandidates("How do I claim expenses?", twice, idf)[0]!.features)));
});
