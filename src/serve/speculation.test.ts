// Speculative decoding in the served backend (local backend, as the worker
// runs it): a draft model path (--draft) and prompt lookup give the same text
// as serving without them, greedy and seeded sampling, with structured output
// too; a draft with another vocabulary is refused at start-up.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { ConfigError } from "../errors.ts";
import { saveModelDir } from "../formats/hf-dir.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { trainBpe } from "../tokenizer/index.ts";
import type { GenerationRequest } from "./backend.ts";
import { createLocalBackend } from "./local-backend.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-serve-spec-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const target = join(dir, "target"),
  draft = join(dir, "draft"),
  alien = join(dir, "alien");

before(async () => {
  const text = ["the cat sat on the mat.", "the dog sat on the log.", "a bird sang in the tree.", "name: Ann, age: 7."];
  const tok = await trainBpe(
    (function* () {
      for (let i = 0; i < 20; i++) yield* text;
    })(),
    { vocabSize: 300 },
  );
  const config = presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 128 });
  const scaled = (seed: number) => {
    const m = createModel(config, seed);
    for (const [name, p] of m.namedParameters()) if (!/norm/.test(name)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 20;
    return m;
  };
  saveModelDir(target, scaled(1), { tokenizer: tok });
  saveModelDir(draft, scaled(2), { tokenizer: tok });
  saveModelDir(alien, createModel({ ...config, vocabSize: 200 }, 3));
});

test("served output is the same with a draft model and prompt lookup as without; another vocabulary is refused", async () => {
  const reqs: GenerationRequest[] = [
    { input: { kind: "text", prompt: "the cat sat on the mat. the cat sat on" }, maxTokens: 30, sampling: { temperature: 0 } },
    {
      input: { kind: "chat", messages: [{ role: "user", content: "the dog sat on the log. the dog" }] },
      maxTokens: 30,
      sampling: { temperature: 0.9, seed: 4 },
    },
    {
      input: { kind: "chat", messages: [{ role: "user", content: "a person" }] },
      maxTokens: 40,
      sampling: { temperature: 0 },
      responseFormat: { type: "json_object" },
    },
  ];
  const texts = async (opts: Parameters<typeof createLocalBackend>[1]) => {
    const b = await createLocalBackend(target, opts);
    try {
      return await Promise.all(reqs.map(async (r) => (await b.generate(r)).text));
    } finally {
      await b.close();
    }
  };
  const plain = await texts({ promptLookup: false });
  assert.deepEqual(await texts({ draft }), plain);
  assert.deepEqual(await texts({ draft: target, maxConcurrency: 1 }), plain);
  assert.deepEqual(await texts({}), plain);
  await assert.rejects(createLocalBackend(target, { draft: alien }), (e: unknown) => e instanceof ConfigError && /vocabulary of 200 tokens/.test(e.message));
});
