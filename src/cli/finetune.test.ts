// CLI tests of `slm finetune` (LoRA and full), `slm merge` and `--adapter` on
// `slm generate`: a tiny random model and a few chat lines in a temp
// directory; the adapted, merged and base models' greedy outputs are compared.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { saveModelDir } from "../formats/hf-dir.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { trainBpe } from "../tokenizer/index.ts";
import { main } from "./main.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-cli-ft-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const base = join(dir, "base");
const data = join(dir, "chat.jsonl");

before(async () => {
  const lines = ["the cat sat on the mat.", "the dog sat on the log.", "hello there, how are you?", "i am fine, thank you."];
  const tok = await trainBpe((function* () {
    for (let i = 0; i < 20; i++) yield* lines;
  })(), { vocabSize: 300 });
  const model = createModel(presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 64 }), 5);
  for (const [name, p] of model.namedParameters()) if (!/norm/.test(name)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 20;
  saveModelDir(base, model, { tokenizer: tok });
  const chats = Array.from({ length: 12 }, (_, i) => JSON.stringify({ messages: [{ role: "user", content: lines[i % 2]! }, { role: "assistant", content: lines[2 + (i % 2)]! }] }));
  writeFileSync(data, chats.join("\n") + "\n");
});

async function run(argv: string[]) {
  let out = "", err = "";
  const code = await main(argv, { out: (s) => (out += s + "\n"), err: (s) => (err += s + "\n"), write: (s) => (out += s), tty: false });
  return { code, out, err };
}

const gen = async (extra: string[]) => {
  const r = await run(["generate", ...extra, "--prompt", "the cat", "--max-tokens", "12", "--temperature", "0", "--json"]);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out).ids as number[];
};

test("slm finetune (lora) → --adapter matches slm merge; the base differs", async () => {
  const run1 = join(dir, "lora");
  const r = await run(["finetune", "--base", base, "--data", data, "--out", run1, "--max-steps", "8", "--batch", "4", "--rank", "4", "--lr", "1e-2", "--log-every", "4"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /adapter: .*adapter/);
  for (const f of ["adapter/adapter_config.json", "adapter/adapter_model.safetensors", "metrics.jsonl", "summary.json", "finetune-config.json"]) assert.ok(existsSync(join(run1, f)), f);
  const cfg = JSON.parse(readFileSync(join(run1, "adapter", "adapter_config.json"), "utf8"));
  assert.equal(cfg.r, 4);
  const merged = join(dir, "merged");
  const m = await run(["merge", "--base", base, "--adapter", join(run1, "adapter"), "--out", merged]);
  assert.equal(m.code, 0, m.err);
  const withAdapter = await gen(["--model", base, "--adapter", join(run1, "adapter")]);
  assert.deepEqual(await gen(["--model", merged]), withAdapter);
  assert.notDeepEqual(await gen(["--model", base]), withAdapter);
});

test("slm finetune --method full writes a model; bad input gives clear errors", async () => {
  const run2 = join(dir, "full");
  const r = await run(["finetune", "--base", base, "--data", data, "--out", run2, "--method", "full", "--max-steps", "3", "--batch", "4", "--json"]);
  assert.equal(r.code, 0, r.err);
  assert.ok(existsSync(join(run2, "model", "model.safetensors")));
  const summary = JSON.parse(r.out.trim().split("\n").pop()!);
  assert.equal(summary.type, "summary");
  assert.equal(summary.trainableParams, summary.params);
  const bad = join(dir, "bad.jsonl");
  writeFileSync(bad, `${readFileSync(data, "utf8").split("\n")[0]}\n{"messages": [{"role": "user", "content": "x"}]}\n`);
  const e = await run(["finetune", "--base", base, "--data", bad, "--out", join(dir, "bad")]);
  assert.equal(e.code, 1);
  assert.match(e.err, /bad\.jsonl:2: no assistant message/);
  assert.equal((await run(["finetune", "--base", base, "--data", data, "--out", join(dir, "x"), "--method", "full", "--rank", "4"])).code, 2);
  assert.equal((await run(["finetune", "--base", base, "--data", data, "--out", join(dir, "x"), "--method", "qlora"])).code, 2);
  assert.equal((await run(["merge", "--base", base, "--adapter", join(dir, "nope"), "--out", join(dir, "y")])).code, 1);
});
