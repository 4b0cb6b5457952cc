import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { runCli } from "./testing.ts";

const run = (argv: string[]) => runCli(argv);

test("slm tokenizer train / encode / decode / info", async () => {
  const dir = mkdtempSync(join(tmpdir(), "slm-cli-tok-"));
  try {
    const corpus = join(dir, "corpus");
    writeFileSync(join(dir, "corpus.txt"), `${"hello world, hello tokenizer. ".repeat(200)}Größe 中文 😀\n`);
    const out = join(dir, "tok");
    let r = await run(["tokenizer", "train", "--input", join(dir, "corpus.txt"), "--vocab-size", "270", "--out", out, "--pattern", "gpt2"]);
    assert.equal(r.code, 0, r.err);
    assert.ok(existsSync(join(out, "tokenizer.json")) && existsSync(join(out, "tokenizer_config.json")));
    assert.match(r.out, /vocab 270/);
    r = await run(["tokenizer", "encode", "--tokenizer", out, "--json", "hello world 😀"]);
    assert.equal(r.code, 0, r.err);
    const ids = JSON.parse(r.out).ids as number[];
    assert.ok(ids.length > 0 && ids.length < "hello world 😀".length);
    r = await run(["tokenizer", "decode", "--tokenizer", out, ...ids.map(String)]);
    assert.equal(r.out, "hello world 😀\n");
    r = await run(["tokenizer", "info", "--tokenizer", out, "--json"]);
    const info = JSON.parse(r.out);
    assert.equal(info.vocabSize, 270);
    assert.equal(info.chatTemplate, true);
    // Errors: usage (2) and bad files (1).
    assert.equal((await run(["tokenizer", "train", "--input", corpus, "--out", out])).code, 2);
    assert.equal((await run(["tokenizer", "train", "--input", join(dir, "corpus.txt"), "--vocab-size", "300", "--out", out, "--pattern", "nope"])).code, 2);
    writeFileSync(join(dir, "bad.json"), "{ not json");
    r = await run(["tokenizer", "info", "--tokenizer", join(dir, "bad.json")]);
    assert.equal(r.code, 1);
    assert.match(r.err, /not valid JSON/);
    assert.equal((await run(["tokenizer", "decode", "--tokenizer", out, "x1"])).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
