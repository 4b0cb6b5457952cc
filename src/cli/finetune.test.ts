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
import { runCli } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-cli-ft-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const base = join(dir, "base");
const data = join(dir, "chat.jsonl");

before(async () => {
  const lines = ["the cat sat on the mat.", "the dog sat on the log.", "hello there, how are you?", "i am fine, thank you."];
  const tok = await trainBpe(
    (function* () {
      for (let i = 0; i < 20; i++) yield* lines;
    })(),
    { vocabSize: 300 },
  );
  const model = createModel(presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 64 }), 5);
  for (const [name, p] of model.namedParameters()) if (!/norm/.test(name)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 20;
  saveModelDir(base, model, { tokenizer: tok });
  const chats = Array.from({ length: 12 }, (_, i) =>
    JSON.stringify({
      messages: [
        { role: "user", content: lines[i % 2]! },
        { role: "assistant", content: lines[2 + (i % 2)]! },
      ],
    }),
  );
  writeFileSync(data, `${chats.join("\n")}\n`);
});

const run = (argv: string[]) => runCli(argv, { streamToOut: true });

const gen = async (extra: string[]) => {
  const r = await run(["generate", ...extra, "--prompt", "the cat", "--max-tokens", "12", "--temperature", "0", "--json"]);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out).ids as number[];
};

test("slm finetune (lora) → --adapter matches slm merge; the base differs", async () => {
  const run1 = join(dir, "lora");
  const r = await run([
    "finetune",
    "--base",
    base,
    "--data",
    data,
    "--out",
    run1,
    "--max-steps",
    "8",
    "--batch",
    "4",
    "--rank",
    "4",
    "--lr",
    "1e-2",
    "--log-every",
    "4",
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /adapter: .*adapter/);
  for (const f of ["adapter/adapter_config.json", "adapter/adapter_model.safetensors", "metrics.jsonl", "summary.json", "finetune-config.json"])
    assert.ok(existsSync(join(run1, f)), f);
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

test("slm finetune --base-dtype q4_0 trains adapters over a quantized base; slm merge folds them into f32 or a re-quantized GGUF", async () => {
  const run3 = join(dir, "q4");
  const r = await run([
    "finetune",
    "--base",
    base,
    "--data",
    data,
    "--out",
    run3,
    "--base-dtype",
    "q4_0",
    "--max-steps",
    "4",
    "--batch",
    "4",
    "--rank",
    "4",
    "--lr",
    "1e-2",
    "--checkpointing",
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /Q4_0\+Q8_0|Q8_0\+Q4_0/, "the summary names the base's storage");
  assert.match(r.err, /checkpointing on/);
  assert.match(r.err, /peak RSS \d+(\.\d+)? [MG]B \(estimated \d+(\.\d+)? [MG]B/);
  const cfg = JSON.parse(readFileSync(join(run3, "finetune-config.json"), "utf8"));
  assert.equal(cfg.checkpointing, true);
  const adapter = join(run3, "adapter");
  const f32 = join(dir, "q4-merged"),
    gguf = join(dir, "q4-merged.q8_0.gguf");
  assert.equal((await run(["merge", "--base", base, "--adapter", adapter, "--out", f32])).code, 0);
  const m = await run(["merge", "--base", base, "--adapter", adapter, "--out", gguf, "--dtype", "q8_0"]);
  assert.equal(m.code, 0, m.err);
  assert.match(m.err, /GGUF q8_0/);
  const float = await gen(["--model", f32]);
  assert.deepEqual(await gen(["--model", base, "--adapter", adapter]), float, "merged = unmerged on the float base");
  assert.equal((await gen(["--model", gguf])).length > 0, true);
  // A quantized GGUF as the base keeps its types (LoRA), and the adapter still merges into the float expansion.
  const run4 = join(dir, "q8gguf");
  const g = await run(["finetune", "--base", gguf, "--data", data, "--out", run4, "--max-steps", "2", "--batch", "4", "--rank", "4"]);
  assert.equal(g.code, 0, g.err);
  assert.match(g.err, /\(Q8_0/);
  assert.equal((await run(["finetune", "--base", base, "--data", data, "--out", join(dir, "x"), "--method", "full", "--base-dtype", "q4_0"])).code, 2);
  assert.equal((await run(["finetune", "--base", base, "--data", data, "--out", join(dir, "x"), "--base-dtype", "q3"])).code, 1);
  assert.equal((await run(["finetune", "--base", base, "--data", data, "--out", join(dir, "x"), "--checkpointing", "--dropout", "0.1"])).code, 1);
});
