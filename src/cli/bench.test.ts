// Tests for `slm bench kernels`: argument checking, JSON lines and the table
// layout. Times only a tiny case for a few milliseconds; asserts no speeds.
import assert from "node:assert/strict";
import { test } from "node:test";

import { formatTable } from "./bench.ts";
import { runCli } from "./testing.ts";

test("bench kernels --json prints one row per matching case with the required fields", async () => {
  const r = await runCli(["bench", "kernels", "--op", "matmul", "--shape", "1x384x384", "--seconds", "0.01", "--threads", "1", "--json"]);
  assert.equal(r.code, 0, r.err);
  const rows = r.out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(rows.length, 1);
  const row = rows[0]!;
  assert.equal(row.op, "matmul");
  assert.equal(row.shape, "1x384x384");
  assert.equal(row.threads, 1);
  for (const k of ["ms", "gflops"]) assert.ok(typeof row[k] === "number" && (row[k] as number) > 0, `${k} = ${row[k]}`);
  assert.equal(typeof row.isa, "string");
});

test("bench kernels rejects bad flags with usage errors (exit 2)", async () => {
  for (const argv of [["--isa", "sse9"], ["--threads", "0"], ["--seconds", "-1"], ["--op", "no-such-op"], ["--bogus"]]) {
    const r = await runCli(["bench", "kernels", ...argv]);
    assert.equal(r.code, 2, `${argv.join(" ")}: ${r.err}`);
    assert.match(r.err, /slm bench kernels: /);
  }
});

test("bench kernels --help shows usage and an example", async () => {
  const r = await runCli(["bench", "kernels", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /Usage: slm bench kernels/);
  assert.match(r.out, /Examples?:/);
});

test("formatTable aligns columns and leaves out empty rate columns", () => {
  const t = formatTable([
    { op: "matmul", shape: "4096x384x384", ms: 12.3456, gflops: 98.76, threads: 2, isa: "avx2" },
    { op: "matmul", shape: "1x384x384", ms: 0.01234, gflops: 23.9, threads: 2, isa: "avx2" },
  ]).split("\n");
  assert.equal(t.length, 3);
  assert.match(t[0]!, /^op\s+shape\s+ms\s+GFLOP\/s\s+threads\s+isa$/);
  assert.ok(!t[0]!.includes("GB/s"));
  // Right-aligned numbers end in the same column.
  const end = (line: string, s: string) => line.indexOf(s) + s.length;
  assert.equal(end(t[1]!, "12.35"), end(t[2]!, "0.0123"));
  assert.equal(end(t[1]!, "98.8"), end(t[2]!, "23.9"));
});
