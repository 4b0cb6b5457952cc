import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { FormatError, NotFoundError } from "../errors.ts";
import { parseJsonl, readJsonl } from "./jsonl.ts";

const root = mkdtempSync(join(tmpdir(), "slm-jsonl-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("readJsonl returns one record a line, skips blank lines and CRLF endings, and passes file:line", () => {
  const p = join(root, "ok.jsonl");
  writeFileSync(p, '{"a":1}\r\n\n  \n{"a":2}\n');
  const got = readJsonl(p, (v, at) => ({ a: (v as { a: number }).a, at: at.at, line: at.line }));
  assert.deepEqual(got, [
    { a: 1, at: `${p}:1`, line: 1 },
    { a: 2, at: `${p}:4`, line: 4 },
  ]);
});

test("a line that is not JSON is a FormatError naming file:line", () => {
  const p = join(root, "bad.jsonl");
  writeFileSync(p, '{"a":1}\n{"a":2}\n{"a":\n');
  assert.throws(
    () => readJsonl(p, (v) => v, { hint: "one object a line" }),
    (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:3: not valid JSON`));
      assert.equal(e.hint, "one object a line");
      return true;
    },
  );
});

test("invalid: skip ignores lines that are not JSON, reporting each to onInvalid", () => {
  const skipped: string[] = [];
  assert.deepEqual(
    parseJsonl('1\n{"torn\n3\nnope\n', "metrics.jsonl", (v) => v as number, { invalid: "skip", onInvalid: (p) => skipped.push(p.at) }),
    [1, 3],
  );
  assert.deepEqual(skipped, ["metrics.jsonl:2", "metrics.jsonl:4"]);
});

test("the record function's own errors and undefined results pass through", () => {
  assert.deepEqual(
    parseJsonl("1\n2\n3\n", "n", (v) => ((v as number) % 2 ? (v as number) : undefined)),
    [1, 3],
  );
  assert.throws(
    () =>
      parseJsonl('{"q":1}\n{"x":2}', "qa.jsonl", (v, at) => {
        if (!(v as { q?: unknown }).q) throw new FormatError(`${at.at}: "q" missing`);
        return v;
      }),
    /^FormatError: qa\.jsonl:2: "q" missing/,
  );
});

test("a missing file is a NotFoundError naming it", () => {
  const p = join(root, "nope.jsonl");
  assert.throws(
    () => readJsonl(p, (v) => v),
    (e: unknown) => e instanceof NotFoundError && e.message.includes(p),
  );
});
