import assert from "node:assert/strict";
import { test } from "node:test";

import { FormatError } from "../errors.ts";
import { tinyByteLevel } from "../formats/testing.ts";
import { PreferenceSource, encodePreferences, fillPreferenceBatch, parsePreferenceJsonl } from "./preference-data.ts";
import { IGNORE_INDEX } from "./sft.ts";

const tok = await tinyByteLevel(400);
const line = (o: unknown) => JSON.stringify(o);

test("parsePreferenceJsonl: strings, message lists and an implicit prompt give the same pair", () => {
  const text = [
    line({ prompt: "Who wrote it?", chosen: "The fox did. [1]", rejected: "The fox did." }),
    "",
    line({
      prompt: [{ role: "user", content: "Who wrote it?" }],
      chosen: [{ role: "assistant", content: "The fox did. [1]" }],
      rejected: [{ role: "assistant", content: "The fox did." }],
    }),
    line({
      chosen: [
        { role: "user", content: "Who wrote it?" },
        { role: "assistant", content: "The fox did. [1]" },
      ],
      rejected: [
        { role: "user", content: "Who wrote it?" },
        { role: "assistant", content: "The fox did." },
      ],
    }),
  ].join("\n");
  const ex = parsePreferenceJsonl(text, "prefs.jsonl");
  assert.deepEqual(
    ex.map((e) => e.line),
    [1, 3, 4],
  );
  for (const e of ex) {
    assert.deepEqual(e.prompt, [{ role: "user", content: "Who wrote it?" }]);
    assert.deepEqual(e.chosen, [{ role: "assistant", content: "The fox did. [1]" }]);
    assert.deepEqual(e.rejected, [{ role: "assistant", content: "The fox did." }]);
  }
});

test("parsePreferenceJsonl: malformed records name the file, the line and the field", () => {
  const bad: [string, RegExp][] = [
    ["{not json", /prefs.jsonl:2: not valid JSON/],
    [line({ prompt: "q", chosen: "a" }), /prefs.jsonl:2: missing "rejected"/],
    [line({ prompt: "q", chosen: 3, rejected: "b" }), /prefs.jsonl:2: "chosen" must be a string or a list of messages, got number/],
    [line({ prompt: "q", chosen: [{ role: "user", content: "a" }], rejected: "b" }), /prefs.jsonl:2: chosen\[0\] is a user message/],
    [line({ prompt: [{ role: "robot", content: "q" }], chosen: "a", rejected: "b" }), /prefs.jsonl:2: prompt\[0\].role must be/],
    [line({ prompt: "q", chosen: "a", rejected: "a" }), /prefs.jsonl:2: "chosen" and "rejected" are the same/],
    [line({ prompt: "q", chosen: " ", rejected: "b" }), /prefs.jsonl:2: "chosen" has no content/],
    [line({ chosen: "a", rejected: "b" }), /prefs.jsonl:2: missing "prompt"/],
    [line([1, 2]), /prefs.jsonl:2: expected an object/],
  ];
  for (const [l, re] of bad) {
    assert.throws(
      () => parsePreferenceJsonl(`${line({ prompt: "q", chosen: "a", rejected: "b" })}\n${l}`, "prefs.jsonl"),
      (e) => e instanceof FormatError && re.test(e.message),
      l,
    );
  }
});

test("encodePreferences: targets are the completion's tokens only; both sides share the prompt's tokens", () => {
  const [ex] = parsePreferenceJsonl(
    line({
      prompt: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Who jumps over the dog?" },
        { role: "assistant", content: "The fox." },
        { role: "user", content: "And then?" },
      ],
      chosen: "It runs on. [1]",
      rejected: "It sleeps.",
    }),
  );
  const { pairs, stats } = encodePreferences(tok, [ex!], 200);
  const p = pairs[0]!;
  const completion = (t: Int32Array) => tok.decode([...t].filter((id) => id !== IGNORE_INDEX));
  assert.equal(completion(p.chosen.targets), "It runs on. [1]<|im_end|>", "the earlier assistant turn (The fox.) is prompt, not target");
  assert.equal(completion(p.rejected.targets), "It sleeps.<|im_end|>");
  assert.equal(p.chosenTokens, [...p.chosen.targets].filter((t) => t !== IGNORE_INDEX).length);
  const firstC = p.chosen.targets.findIndex((t) => t !== IGNORE_INDEX),
    firstR = p.rejected.targets.findIndex((t) => t !== IGNORE_INDEX);
  assert.equal(firstC, firstR);
  assert.deepEqual([...p.chosen.inputs.subarray(0, firstC + 1)], [...p.rejected.inputs.subarray(0, firstR + 1)]);
  assert.deepEqual(stats, { pairs: 1, truncated: 0, dropped: 0, targetTokens: p.chosenTokens + p.rejectedTokens });
  // Cut to a context that leaves no completion token: dropped.
  const short = encodePreferences(tok, [ex!], firstC - 1);
  assert.equal(short.pairs.length, 0);
  assert.equal(short.stats.dropped, 1);
});

test("PreferenceSource: 2·n rows, chosen then rejected, padded; seeded epochs; resume", () => {
  const raw = Array.from({ length: 5 }, (_, i) =>
    line({ prompt: `Question ${i}?`, chosen: `Answer ${"x".repeat(i)}. [1]`, rejected: `Answer ${"x".repeat(i)}.` }),
  ).join("\n");
  const { pairs } = encodePreferences(tok, parsePreferenceJsonl(raw), 200);
  const src = new PreferenceSource(pairs, 2, 3, 7);
  const b = src.next();
  assert.equal(b.batch, 4);
  const T = b.seqLen;
  for (let k = 0; k < 2; k++) {
    const p = pairs[b.pairIds[k]!]!;
    assert.deepEqual([...b.inputs.subarray(k * T, k * T + p.chosen.inputs.length)], [...p.chosen.inputs]);
    assert.deepEqual([...b.inputs.subarray((2 + k) * T, (2 + k) * T + p.rejected.inputs.length)], [...p.rejected.inputs]);
    assert.ok(
      b.inputs.subarray((2 + k) * T + p.rejected.inputs.length, (3 + k) * T).every((v) => v === 7),
      "padded with the pad id",
    );
  }
  const seen = [[...b.pairIds]];
  for (let i = 0; i < 4; i++) seen.push([...src.next().pairIds]);
  const epoch0 = seen.flat().slice(0, 5).sort();
  assert.deepEqual(epoch0, [0, 1, 2, 3, 4], "each pair once per epoch");
  const again = new PreferenceSource(pairs, 2, 3, 7);
  again.restore(src.state());
  const other = new PreferenceSource(pairs, 2, 3, 7);
  for (let i = 0; i < 5; i++) other.next();
  assert.deepEqual([...again.next().pairIds], [...other.next().pairIds]);
  const direct = fillPreferenceBatch(pairs, [1], 0);
  assert.equal(direct.batch, 2);
});
