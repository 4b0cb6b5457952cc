// Runs the example programs as a user would (a fresh node process, importing
// "slmkit" from the sources through the slmkit-source export condition) and
// checks what they print and write. The document examples use one folder of
// the shared 18F handbook (../shared/corpora, skipped with a message when
// absent); generate.ts runs on a tiny model made here.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

import { sharedDir } from "../src/data/testing.ts";
import { tinyByteLevel } from "../src/formats/testing.ts";
import { createModel, presetConfig, saveModelDir } from "../src/index.ts";

const here = dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(join(tmpdir(), "slm-examples-"));
after(() => rmSync(work, { recursive: true, force: true }));

const shared = sharedDir();
const docs = shared && join(shared, "corpora", "18f-handbook", "pages", "travel-and-leave");
const noDocs = docs && existsSync(docs) ? false : "../shared/corpora/18f-handbook is absent: the document examples are skipped";

function run(example: string, ...args: string[]): { out: string; err: string } {
  const r = spawnSync(process.execPath, ["--conditions=slmkit-source", "--import", "tsx", join(here, example), ...args], {
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, SLM_THREADS: "1" },
  });
  assert.equal(r.status, 0, `${example} exited with ${r.status}:\n${r.stderr}`);
  return { out: r.stdout, err: r.stderr };
}

test("generate.ts: loads a model directory and streams the generated text after the prompt", async () => {
  const dir = join(work, "tiny");
  const tok = await tinyByteLevel(400);
  saveModelDir(dir, createModel(presetConfig("nano", tok.vocabSize, { nLayers: 1, dModel: 32, nHeads: 2, nKvHeads: 2, headDim: 16, ffnDim: 64 }), 7), {
    tokenizer: tok,
  });
  const { out, err } = run("generate.ts", dir, "The handbook", "12");
  assert.ok(out.startsWith("The handbook"), out);
  assert.ok(out.length > "The handbook\n".length, "no text was generated");
  assert.match(err, /^\d+ tokens, finish reason: (length|stop)/m);
  const n = Number(/^(\d+) tokens/m.exec(err)![1]);
  assert.ok(n >= 1 && n <= 12, `${n} tokens for a budget of 12`);
});

test("train-chat.ts: ingests documents, trains, saves a model that loads, and answers a chat turn", { skip: noDocs }, () => {
  const out = join(work, "tc");
  const r = run("train-chat.ts", docs!, out, "20");
  assert.match(r.out, /^ingested \d+ documents, \d+ training tokens$/m);
  assert.match(r.out, /^trained 20 steps; saved /m);
  const loss = Number(/validation loss ([\d.]+)/.exec(r.out)?.[1]);
  // Better than uniform over the 1,024-token vocabulary (ln 1024 = 6.93): it learned something.
  assert.ok(loss > 0 && loss < Math.log(1024), `validation loss ${loss}`);
  for (const f of ["config.json", "model.safetensors", "tokenizer.json"]) assert.ok(existsSync(join(out, "model", f)), f);
  assert.match(r.out, /^assistant: /m);
});

test("ask.ts: answers from the documents with a citation, and says not found when they do not hold it", { skip: noDocs }, () => {
  const out = join(work, "ask");
  const r = run("ask.ts", docs!, out, "How far ahead should I submit a leave request?");
  assert.match(r.out, /^indexed \d+ sections of \d+ documents$/m);
  assert.match(r.out, /^A: .*three business days.*\[\d\]/m);
  assert.match(r.out, /^ {2}\[\d\] travel-and-leave\/going-out-of-office\.md › /m);
  const off = run("ask.ts", docs!, join(work, "ask2"), "What is the airspeed velocity of an unladen swallow?");
  assert.match(off.out, /^A: Not found in the documents\./m);
});
