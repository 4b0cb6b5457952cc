// TextStopper: output stops right before the first stop string, even when it
// arrives split across pieces; text that only looked like a stop is released.
import assert from "node:assert/strict";
import { test } from "node:test";

import { TextStopper } from "./text-stop.ts";

function feed(stops: string[], pieces: string[]): { shown: string[]; text: string; stopped: boolean } {
  const s = new TextStopper(stops);
  const shown = pieces.map((p) => s.push(p));
  if (!s.stopped) shown.push(s.flush());
  return { shown, text: s.text, stopped: s.stopped };
}

test("a stop string split across pieces cuts the text before it, and nothing after it is shown", () => {
  const r = feed(["\nUser:"], ["Hi", " there", "\nUs", "er: more", " text"]);
  assert.deepEqual(r.shown, ["Hi", " there", "", "", ""]);
  assert.equal(r.text, "Hi there");
  assert.ok(r.stopped);
});

test("held-back text that does not complete a stop is released, by the next piece or at flush", () => {
  const r = feed(["\nUser:"], ["a\nU", "nicode", "\nUse"]);
  assert.deepEqual(r.shown, ["a", "\nUnicode", "", "\nUse"]);
  assert.equal(r.text, "a\nUnicode\nUse");
  assert.ok(!r.stopped);
});

test("the earliest of several stop strings wins; empty stop strings are ignored", () => {
  const r = feed(["END", "", "x"], ["abc xEND"]);
  assert.equal(r.text, "abc ");
  const none = feed([], ["anything", " goes"]);
  assert.equal(none.text, "anything goes");
  assert.deepEqual(none.shown, ["anything", " goes", ""]);
});
