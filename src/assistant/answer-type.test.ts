import assert from "node:assert/strict";
import { test } from "node:test";

import { Rng } from "../util/rng.ts";
import { findSpans, firstSpan, isTimeUnit, numberUnit, questionKinds, type SpanKind } from "./answer-type.ts";
import { typedQuestion } from "./synth.ts";

const spansOf = (text: string, kind: SpanKind) => findSpans(text, [kind]).map((s) => text.slice(s.start, s.end));

test("findSpans: durations, amounts, shares, addresses, times, days, places and teams", () => {
  assert.deepEqual(spansOf("Submit your voucher within 5 business days, or two weeks at most.", "duration"), ["5 business days", "two weeks"]);
  assert.deepEqual(spansOf("The deposit is $5 and the fee is 20%; 40 dollars for a card.", "money"), ["$5", "40 dollars"]);
  assert.deepEqual(spansOf("The deposit is $5 and the fee is 20%.", "percent"), ["20%"]);
  assert.deepEqual(spansOf("Bill 32 hours, up to 9 people, 3.5 days.", "number"), ["32 hours", "9 people", "3.5 days"]);
  assert.deepEqual(spansOf("Write to tts-travel@gsa.gov today.", "email"), ["tts-travel@gsa.gov"]);
  assert.deepEqual(spansOf("See https://example.org/leave for the form.", "url"), ["https://example.org/leave"]);
  assert.deepEqual(spansOf("Call in by 9:30am, or by noon at the latest.", "clock"), ["9:30am", "noon"]);
  assert.deepEqual(spansOf("Pay day is the 25th of each month; timesheets are due on Fridays.", "day"), ["the 25th of each month", "on Fridays"]);
  assert.deepEqual(spansOf("Book it in Concur via the Travel > Trips page.", "place"), ["in Concur", "via the Travel > Trips"]);
  assert.deepEqual(spansOf("Ask your manager or the Travel and Events team.", "who"), ["your manager", "the Travel and Events team"]);
  assert.deepEqual(spansOf("Answer at least twice a week, 3 times per year, every afternoon, each other month, or monthly.", "frequency"), [
    "twice a week",
    "3 times per year",
    "every afternoon",
    "each other month",
    "monthly",
  ]);
  assert.deepEqual(spansOf("We recommend KeePassXC. Principals report to our CTO; tickets go through Help Scout or 1Password and OPM Form 630.", "name"), [
    "KeePassXC",
    "CTO",
    "Help Scout",
    "1Password",
    "OPM Form 630",
  ]);
  assert.deepEqual(spansOf("Managers approve leave. Staff use the shared drive.", "name"), [], "a capitalised first word is not a name");
  // Not spans: a word that merely contains digits, an ordinal (a day, not a number), an address's digits.
  assert.deepEqual(spansOf("Use form SF50 on the 3rd, or mail a1@b2.org.", "number"), []);
  assert.equal(firstSpan("No numbers here.", "number"), null);
});

test("numberUnit and isTimeUnit read the unit after a number", () => {
  assert.equal(numberUnit("5 business days"), "business days");
  assert.equal(numberUnit("twenty-five people"), "people");
  assert.equal(numberUnit("$40"), "");
  assert.ok(isTimeUnit("business days") && isTimeUnit("weeks") && isTimeUnit("pay periods"));
  assert.ok(!isTimeUnit("people") && !isTimeUnit(""));
});

test("questionKinds: what kind of answer a question asks for", () => {
  const kinds = (q: string) => [...questionKinds(q)].sort();
  assert.deepEqual(kinds("How long is the probation period?"), ["duration", "number"]);
  assert.deepEqual(kinds("How many days of annual leave do I get?"), ["duration", "number"]);
  assert.deepEqual(kinds("How many participants can I survey?"), ["number"]);
  assert.deepEqual(kinds("How much is the wellbeing allowance?"), ["money", "number", "percent"]);
  assert.deepEqual(kinds("What share of my time is billable?"), ["number", "percent"]);
  assert.deepEqual(kinds("By what time must I call in sick?"), ["clock"]);
  assert.deepEqual(kinds("When is pay day?"), ["clock", "day", "duration"]);
  assert.deepEqual(kinds("Where should I email my access request?"), ["email", "place", "url"]);
  assert.deepEqual(kinds("Who do I report a lost laptop to?"), ["name", "who"]);
  assert.deepEqual(kinds("How often must I redo the training?"), ["duration", "frequency", "number"]);
  assert.deepEqual(kinds("Which password manager do we recommend?"), ["name"]);
  assert.deepEqual(kinds("What tool do we use for dashboards?"), ["name"]);
  assert.deepEqual(kinds("What is the deadline for expense claims?"), ["clock", "day", "duration"]);
  // A bound asks for a quantity; "the most important" does not.
  assert.deepEqual(kinds("What's the longest pregnancy disability leave I can take?"), ["number"]);
  assert.deepEqual(kinds("What's the biggest team allowed on one project?"), ["number"]);
  assert.deepEqual(kinds("What's the maximum value of a gift I may accept?"), ["number"]);
  assert.deepEqual(kinds("What is the most important security rule?"), []);
  // Questions that ask how or whether: no particular kind.
  assert.deepEqual(kinds("How do I apply for leave?"), []);
  assert.deepEqual(kinds("Can I paste client designs into a chatbot?"), []);
});

test("a typed synthetic question asks for the kind of the span it was made from", () => {
  // The reader learns the answer-type feature from synthetic questions, so every wh-phrase they
  // use must be read back as asking for its span's kind.
  const cases: { sentence: string; kind: SpanKind }[] = [
    { sentence: "Managers approve leave requests within 5 business days of submission.", kind: "duration" },
    { sentence: "Up to 9 people can take part in one research study without further approval.", kind: "number" },
    { sentence: "The refundable deposit on a new transit card is $5 at any station machine.", kind: "money" },
    { sentence: "Individual contributors spend at least 80% of their time on billable project work.", kind: "percent" },
    { sentence: "Send expense receipts to expenses@northwind.example after every trip abroad.", kind: "email" },
    { sentence: "Report sickness to the office before 9:30am on your first day away.", kind: "clock" },
    { sentence: "Salaries are paid into your bank account on the 25th of each month.", kind: "day" },
    { sentence: "Request hardware and software licences in ServiceDesk using the approved form.", kind: "place" },
    { sentence: "Lost laptops and phones must be reported to the Security Operations team immediately.", kind: "who" },
    { sentence: "The application form for sabbaticals is at https://intranet.example/sabbatical online.", kind: "url" },
  ];
  for (const { sentence, kind } of cases) {
    assert.ok(firstSpan(sentence, kind), `${kind} span in "${sentence}"`);
    const seen = new Set<SpanKind>();
    for (let seed = 0; seed < 60; seed++) {
      const t = typedQuestion(sentence, "Handbook › Topic", new Rng(seed))!;
      seen.add(t.kind);
      assert.ok(!t.question.includes(t.span), `"${t.question}" gives away its answer "${t.span}"`);
      const k = questionKinds(t.question);
      assert.ok(k.has(t.kind), `"${t.question}" (from the ${t.kind} span "${t.span}") is read as asking for ${[...k].join(", ") || "nothing"}`);
    }
    assert.ok(seen.has(kind), `no question about the ${kind} span of "${sentence}" (${[...seen].join(", ")})`);
  }
});
