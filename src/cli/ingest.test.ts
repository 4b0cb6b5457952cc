// `slm ingest` through the CLI entry point: exit codes 0 / 1 / 2, the summary,
// --json, and the tokenizer flags (a trained or an existing tokenizer).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { runCli } from "./testing.ts";

const root = mkdtempSync(join(tmpdir(), "slm-cli-ingest-"));
after(() => rmSync(root, { recursive: true, force: true }));

const run = (...argv: string[]) => runCli(["ingest", ...argv]);

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

test("--vocab-size trains a tokenizer and writes token shards; --tokenizer reuses it", async () => {
  const ds = join(root, "ds-tok");
  const r = await run(join(root, "docs"), "--out", ds, "--no-cache", "--vocab-size", "300", "--val-fraction", "0");
  assert.equal(r.code, 0, r.err);
  const m = JSON.parse(readFileSync(join(ds, "manifest.json"), "utf8"));
  assert.ok(m.tokenizer.vocabSize > 260 && m.tokenizer.vocabSize <= 300, `vocab ${m.tokenizer.vocabSize}`); // training stops early when pairs run out
  assert.equal(m.tokenizer.separator, "eos");
  assert.ok(m.tokens.train > 20, `${m.tokens.train} tokens`);
  assert.ok(existsSync(join(ds, "train-00000.bin")) && existsSync(join(ds, "tokenizer", "tokenizer.json")));
  const again = await run(join(root, "docs"), "--out", join(root, "ds-tok2"), "--no-cache", "--tokenizer", join(ds, "tokenizer"), "--val-fraction", "0");
  assert.equal(again.code, 0, again.err);
  assert.deepEqual(readFileSync(join(root, "ds-tok2", "train-00000.bin")), readFileSync(join(ds, "train-00000.bin")));
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
  assert.equal((await run(join(root, "docs"), "--out", join(root, "x"), "--tokenizer", root, "--vocab-size", "512")).code, 2, "both tokenizer flags");
  const notTok = await run(join(root, "docs"), "--out", join(root, "x"), "--tokenizer", root);
  assert.equal(notTok.code, 1, "a directory without tokenizer.json");
  assert.match(notTok.err, /tokenizer\.json/);
  assert.ok(!existsSync(join(root, "x")), "an error before reading writes nothing");
});
