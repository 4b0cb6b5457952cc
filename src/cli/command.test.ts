// The CLI's number parsers: intFlag (an integer with a default and a lower
// bound) and numFlag (a number within a range, either end of which may be
// open), each with a usage error that names the flag, the range and the value.
import assert from "node:assert/strict";
import { test } from "node:test";

import { UsageError } from "../errors.ts";
import { intFlag, numFlag } from "./command.ts";

test("intFlag: the default when absent, the value when an integer at or above the bound", () => {
  assert.equal(intFlag("k", undefined, 3), 3);
  assert.equal(intFlag("k", "5", 3), 5);
  assert.equal(intFlag("seed", "0", 1, 0), 0);
  assert.throws(
    () => intFlag("k", "0", 3),
    (e) => e instanceof UsageError && e.message === '--k must be an integer >= 1, got "0"',
  );
  assert.throws(() => intFlag("k", "2.5", 3), /--k must be an integer >= 1, got "2.5"/);
});

test("numFlag: closed and open bounds, blank and non-finite values refused", () => {
  assert.equal(numFlag("x", undefined, 0, 1), undefined);
  assert.equal(numFlag("x", "0", 0, 1), 0);
  assert.equal(numFlag("x", "1", 0, 1), 1);
  assert.equal(numFlag("x", "-3.5"), -3.5);
  const cases: [string, number, number, "min" | "max" | undefined, string][] = [
    ["1.5", 0, 1, undefined, '--x must be a number in [0, 1], got "1.5"'],
    ["1", 0, 1, "max", '--x must be a number in [0, 1), got "1"'],
    ["0", 0, 1, "min", '--x must be a number in (0, 1], got "0"'],
    ["0", 0, Infinity, "min", '--x must be a number > 0, got "0"'],
    ["-1", 0, Infinity, undefined, '--x must be a number >= 0, got "-1"'],
    ["5", -Infinity, 5, "max", '--x must be a number < 5, got "5"'],
    ["", 0, 1, undefined, '--x must be a number in [0, 1], got ""'],
    ["abc", -Infinity, Infinity, undefined, '--x must be a number, got "abc"'],
    ["Infinity", -Infinity, Infinity, undefined, '--x must be a number, got "Infinity"'],
  ];
  for (const [v, min, max, open, message] of cases)
    assert.throws(
      () => numFlag("x", v, min, max, open),
      (e) => e instanceof UsageError && e.message === message,
      `${v} in ${min}..${max} ${open ?? "closed"}`,
    );
  assert.equal(numFlag("x", "0.999", 0, 1, "max"), 0.999);
  assert.equal(numFlag("x", "1e-9", 0, Infinity, "min"), 1e-9);
});
