// Cleaning: PII redaction (with look-alikes that must survive), boilerplate
// line counting, the text-ratio filter.
import assert from "node:assert/strict";
import { test } from "node:test";

import { LineCounter, emptyPiiCounts, lineKey, redactPii, removeLines, textRatio, type PiiKind } from "./clean.ts";

const ALL = new Set<PiiKind>(["emails", "phones", "cards", "ibans"]);

test("PII of each kind is redacted and counted", () => {
  const c = emptyPiiCounts();
  const out = redactPii(
    "Mail a.b+c@mail.example.org, call +44 20 7946 0958 or (555) 123-4567 or 1-800-222-0364. Card 4111-1111-1111-1111, IBAN DE89 3704 0044 0532 0130 00.",
    ALL,
    c,
  );
  assert.equal(out, "Mail [EMAIL], call [PHONE] or [PHONE] or [PHONE]. Card [CARD], IBAN [IBAN].");
  assert.deepEqual(c, { emails: 1, phones: 3, cards: 1, ibans: 1 });
});

test("look-alikes are left alone", () => {
  const c = emptyPiiCounts();
  const text =
    "On 2024-01-15 see 5 C.F.R. 2635.204(b)(8), FTR §301-11.31, years 2014-2019, version 1.2.3, card 4111 1111 1111 1112 (bad Luhn), 1,000,000 people.";
  assert.equal(redactPii(text, ALL, c), text);
  assert.deepEqual(c, emptyPiiCounts());
});

test("an IBAN with a bad check sum is not an IBAN", () => {
  const c = emptyPiiCounts();
  const t = "GB00 WEST 1234 5698 7654 32 and GB82 WEST 1234 5698 7654 32";
  assert.equal(redactPii(t, new Set<PiiKind>(["ibans"]), c), "GB00 WEST 1234 5698 7654 32 and [IBAN]");
  assert.equal(c.ibans, 1);
});

test("only the chosen kinds are redacted", () => {
  const c = emptyPiiCounts();
  assert.equal(redactPii("x@y.com +1 (555) 123-4567", new Set<PiiKind>(["phones"]), c), "x@y.com [PHONE]");
  assert.deepEqual(c, { emails: 0, phones: 1, cards: 0, ibans: 0 });
});

test("lines in enough documents are boilerplate; headings of the section are kept", () => {
  const lc = new LineCounter();
  lc.addDocument(["Footer", "a", "Footer"]); // counted once per document
  lc.addDocument(["Footer", "b", "Shared"]);
  lc.addDocument(["Footer", "c", "Shared"]);
  lc.addDocument(["d"]);
  const bp = lc.boilerplate(3, 0);
  assert.deepEqual([...bp.hashes], [lineKey("Footer")]);
  assert.deepEqual([...bp.lengths], [6]);
  assert.deepEqual(removeLines("Footer\n\nbody\nFooter", bp, []), { text: "body", removed: 2 });
  assert.deepEqual(removeLines("Footer\n\nbody", bp, ["Footer"]), { text: "Footer\n\nbody", removed: 0 });
  const long = "x".repeat(301);
  const lc3 = new LineCounter();
  for (let i = 0; i < 4; i++) lc3.addDocument([long, "y".repeat(300)]);
  assert.deepEqual([...lc3.boilerplate(3, 0).lengths], [300], "lines over 300 characters are content, not boilerplate");
  const lc2 = new LineCounter();
  for (let i = 0; i < 100; i++) lc2.addDocument(i < 4 ? ["x", `u${i}`] : [`u${i}`]);
  assert.equal(lc2.boilerplate(3, 0.05).size, 0, "4 of 100 documents is below 5%");
});

test("text ratio separates prose from symbol soup", () => {
  assert.ok(textRatio("Plain prose, with punctuation. And Ünïcödé letters.") > 0.9);
  assert.ok(textRatio("#$%^&*()_+{}|:<>?~") < 0.1);
  assert.equal(textRatio(""), 0);
  assert.ok(textRatio("word ".repeat(2000) + "#$%&".repeat(1000)) < 0.9, "long texts are sampled across their length");
});
