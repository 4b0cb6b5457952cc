// `slm ingest` through the CLI entry point: exit codes 0 / 1 / 2, the summary,
// --json, and the tokenizer flags refusing until src/tokenizer lands.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { main } from "./main.ts";

const root = mkdtempSync(join(tmpdir(), "slm-cli-ingest-"));
after(() => rmSync(root, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(["ingest", ...argv], { out: (s) => (out += s + "\n"), err: (s) => (err += s + "\n"), tty: false });
  return { code, out, err };
}

mkdirSync(join(root, "docs"));
writeFileSync(join(root, "docs", "a.md"), "# Alpha\n\nThe alpha page explains the first topic in enough words.\n");
writeFileSync(join(root, "docs", "b.txt"), "The beta notes describe the second topic with enough words too.\n");
writeFileSync(join(root, "docs", "empty.txt"), "");

test("ingest succeeds with a summary and warnings counted", async () => {
  const ds = join(root, "ds");
  const r = await run(join(root, "docs"), "--out", ds, "--no-cache", "--val-fraction", "0.5");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /files: 2 read \(2 parsed, 0 from cache\), 1 skipped/);
  assert.match(r.out, /1 × empty file/);
  assert.match(r.out, /documents: 2 kept of 2 \(1 train, 1 val\)/);
  assert.match(r.out, /tokens: none/);
  assert.match(r.out, /1 warning\(s\)/);
  const m = JSON.parse(readFileSync(join(ds, "manifest.json"), "utf8"));
  assert.equal(m.counts.documents, 2);
  assert.ok(existsSync(join(ds, "documents.jsonl")));
});

test("--json prints one JSON summary", async () => {
  const r = await run(join(root, "docs", "a.md"), "--out", join(root, "ds-json"), "--json", "--no-cache");
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.counts.documents, 1);
  assert.deepEqual(j.skipped, []);
});

test("nothing usable exits 1; usage errors exit 2", async () => {
  const none = await run(join(root, "docs", "empty.txt"), "--out", join(root, "ds-none"), "--no-cache");
  assert.equal(none.code, 1);
  assert.match(none.err, /nothing usable was read/);
  assert.equal((await run(join(root, "docs"))).code, 2, "--out missing");
  assert.equal((await run("--out", join(root, "x"))).code, 2, "no inputs");
  assert.equal((await run(join(root, "docs"), "--out", join(root, "x"), "--redact", "names")).code, 2);
  assert.equal((await run(join(root, "docs"), "--out", join(root, "x"), "--val-fraction", "2")).code, 2);
  const tok = await run(join(root, "docs"), "--out", join(root, "x"), "--vocab-size", "512");
  assert.equal(tok.code, 2);
  assert.match(tok.err, /tokenizer support lands with src\/tokenizer/);
  assert.equal((await run(join(root, "docs"), "--out", join(root, "x"), "--tokenizer", root)).code, 2);
  assert.ok(!existsSync(join(root, "x")), "a usage error writes nothing");
});
