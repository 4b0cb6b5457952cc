import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { FormatError } from "../errors.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { trainBpe } from "../tokenizer/index.ts";
import { loadModel, saveModelDir } from "./hf-dir.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-hfdir-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function logitsOf(model: ReturnType<typeof createModel>, ids: Int32Array): Float32Array {
  return model.forward(new Tape({ grad: false }), ids, 1, ids.length).data.slice();
}

for (const modelType of ["llama", "qwen2", "gpt2"] as const) {
  test(`${modelType}: model → HF directory → model gives bit-identical logits`, async () => {
    const config = presetConfig("nano", 300, {
      modelType,
      dModel: 32,
      nLayers: 2,
      nHeads: 4,
      nKvHeads: modelType === "gpt2" ? 4 : 2,
      headDim: 8,
      ffnDim: 48,
      maxSeqLen: 32,
      qkvBias: modelType !== "llama",
      oBias: modelType === "gpt2",
      mlpBias: modelType === "gpt2",
      tieEmbeddings: modelType !== "llama",
    });
    const model = createModel(config, 7);
    const texts = function* () {
      yield "the cat sat on the mat";
      yield "the dog sat on the log";
    };
    const tok = await trainBpe(texts(), { vocabSize: 280 });
    const out = join(dir, modelType);
    saveModelDir(out, model, { tokenizer: tok });
    assert.deepEqual(readdirSync(out).sort(), ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
    const loaded = loadModel(out);
    const ids = Int32Array.from([1, 5, 200, 17, 9, 33]);
    assert.deepEqual(logitsOf(loaded.model, ids), logitsOf(model, ids));
    assert.deepEqual(loaded.tokenizer!.encode("the cat"), tok.encode("the cat"));
    // saving again over an existing directory replaces it
    saveModelDir(out, loaded.model, { tokenizer: loaded.tokenizer, dtype: "F16" });
    assert.ok(readFileSync(join(out, "model.safetensors")).length < 2 * 4 * 20000);
  });
}

test("a missing or mis-shaped tensor, or a bad config, is a FormatError or ConfigError naming it", () => {
  const model = createModel(presetConfig("nano", 100, { dModel: 32, nHeads: 4, nKvHeads: 4, headDim: 8, ffnDim: 40, nLayers: 1 }), 1);
  const out = join(dir, "bad");
  saveModelDir(out, model);
  const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
  writeFileSync(join(out, "config.json"), JSON.stringify({ ...cfg, num_hidden_layers: 2 }));
  assert.throws(
    () => loadModel(out),
    (e: unknown) => e instanceof FormatError && /missing tensor "model.layers.1/.test(e.message),
  );
  writeFileSync(join(out, "config.json"), JSON.stringify({ ...cfg, intermediate_size: 41 }));
  assert.throws(() => loadModel(out), /has shape \[40,32\], the model expects \[41,32\]/);
  writeFileSync(join(out, "config.json"), "{ not json");
  assert.throws(() => loadModel(out), /not valid JSON/);
  assert.throws(() => loadModel(join(dir, "nope")), /model not found/);
  assert.ok(!existsSync(join(dir, "nope")));
});
