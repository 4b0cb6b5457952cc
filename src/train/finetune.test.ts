import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfigError } from "../errors.ts";
import { createModel, presetConfig } from "../models/index.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { startRun, type FinetuneRunOptions } from "./finetune.ts";

const model = createModel(presetConfig("nano", 64, { dModel: 16, nLayers: 1, nHeads: 2, nKvHeads: 2, headDim: 8, ffnDim: 32, maxSeqLen: 32 }), 0);
const base: FinetuneRunOptions = { model, tokenizer: {} as Tokenizer, method: "lora", runDir: "unused" };
const examples = Array.from({ length: 40 }, (_, i) => i);

test("startRun (shared by SFT and preference runs): method and context checked, validation given or held out by seed", () => {
  assert.throws(
    () => startRun({ ...base, method: "dora" as "lora" }, examples, undefined),
    (e: unknown) => e instanceof ConfigError && /method must be "full" or "lora", got "dora"/.test(e.message),
  );
  assert.throws(
    () => startRun({ ...base, config: { seqLen: 33 } }, examples, undefined),
    (e: unknown) => e instanceof ConfigError && /context 33 is longer than the model's maximum \(32\)/.test(e.message),
  );
  const given = startRun(base, examples, [100, 101]);
  assert.deepEqual([given.trainEx, given.valEx, given.maxLen, given.seed], [examples, [100, 101], 32, 0]);
  const a = startRun({ ...base, valFraction: 0.25, config: { seed: 3 } }, examples, undefined);
  const b = startRun({ ...base, valFraction: 0.25, config: { seed: 3 } }, examples, undefined);
  assert.equal(a.valEx.length, 10);
  assert.deepEqual(
    [...a.trainEx, ...a.valEx].sort((x, y) => x - y),
    examples,
    "a split, nothing lost or repeated",
  );
  assert.deepEqual(a, b, "the same seed holds out the same examples");
});
