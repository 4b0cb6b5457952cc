// Writes the export fixtures in test/fixtures/export/<name>/: a tiny seeded
// model of ours (llama with GQA and an untied head, qwen2 with q/k/v biases and
// a tied head, gpt2) saved by saveModelDir as an HF directory (F32), the token
// ids (inputs.json) and our logits for them (logits.safetensors, "logits"
// (B·T, V)). Then check_hf_export.py loads each directory into the plain
// PyTorch models, checks it reproduces our logits and writes
// torch-logits.safetensors, which test/parity/export.test.ts compares against.
//
//   node --import tsx tools/reference/export_fixtures.ts [name…]
//   /usr/bin/python3 tools/reference/check_hf_export.py --write test/fixtures/export/*
//
// Deterministic (fixed seeds). Run by hand; CI never runs it.
import { mkdirSync } from "node:fs";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { saveModelDir } from "../../src/formats/hf-dir.ts";
import { writeSafetensors } from "../../src/formats/safetensors.ts";
import { createModel, validateConfig, type ModelConfig } from "../../src/models/index.ts";
import { Tape } from "../../src/tensor/index.ts";
import { Rng } from "../../src/util/rng.ts";

const root = join(import.meta.dirname, "..", "..", "test", "fixtures", "export");

const base = { normEps: 1e-5, ropeTheta: 10000, qkvBias: false, oBias: false, mlpBias: false, maxSeqLen: 32 };
const CONFIGS: Record<string, ModelConfig> = {
  "llama-gqa": { ...base, modelType: "llama", vocabSize: 71, dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 48, tieEmbeddings: false },
  "qwen2-tied": {
    ...base,
    modelType: "qwen2",
    vocabSize: 67,
    dModel: 48,
    nLayers: 2,
    nHeads: 6,
    nKvHeads: 2,
    headDim: 8,
    ffnDim: 40,
    normEps: 1e-6,
    ropeTheta: 1e6,
    tieEmbeddings: true,
    qkvBias: true,
  },
  gpt2: {
    ...base,
    modelType: "gpt2",
    vocabSize: 59,
    dModel: 32,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 4,
    headDim: 8,
    ffnDim: 128,
    tieEmbeddings: true,
    qkvBias: true,
    oBias: true,
    mlpBias: true,
  },
  qwen3: {
    ...base,
    modelType: "qwen3",
    vocabSize: 73,
    dModel: 32,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 16,
    ffnDim: 48,
    normEps: 1e-6,
    ropeTheta: 1e6,
    tieEmbeddings: true,
  },
  // Window 4 < T = 11, global layer with linear scaling; query_pre_attn_scalar = head_dim so the GGUF export applies.
  gemma3: {
    ...base,
    modelType: "gemma3_text",
    vocabSize: 61,
    dModel: 32,
    nLayers: 3,
    nHeads: 4,
    nKvHeads: 1,
    headDim: 16,
    ffnDim: 48,
    normEps: 1e-6,
    ropeTheta: 1e6,
    tieEmbeddings: true,
    ropeLocalTheta: 1e4,
    slidingWindow: 4,
    queryPreAttnScalar: 16,
    layerTypes: ["sliding_attention", "sliding_attention", "full_attention"],
    ropeScaling: { type: "linear", factor: 2 },
  },
  "llama-rope-llama3": {
    ...base,
    modelType: "llama",
    vocabSize: 71,
    dModel: 32,
    nLayers: 2,
    nHeads: 2,
    nKvHeads: 1,
    headDim: 16,
    ffnDim: 48,
    ropeTheta: 500000,
    tieEmbeddings: true,
    ropeScaling: { type: "llama3", factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16 },
  },
  "llama-rope-yarn": {
    ...base,
    modelType: "llama",
    vocabSize: 71,
    dModel: 32,
    nLayers: 2,
    nHeads: 2,
    nKvHeads: 2,
    headDim: 16,
    ffnDim: 48,
    tieEmbeddings: false,
    ropeScaling: { type: "yarn", factor: 4, originalMaxPositions: 16, betaFast: 32, betaSlow: 1, attentionFactor: 0.1 * Math.log(4) + 1, truncate: true },
  },
};
// Re-running rewrites only these (the older fixtures' PyTorch logits came from another torch build).
const ONLY = process.argv.slice(2);

let i = 0;
for (const [name, c] of Object.entries(CONFIGS)) {
  if (ONLY.length > 0 && !ONLY.includes(name)) {
    i++;
    continue;
  }
  const config = validateConfig(c);
  const model = createModel(config, 300 + i);
  // Larger weights than our init (std 0.02) so the logits have a spread worth comparing.
  const rng = new Rng(400 + i);
  for (const [pname, p] of model.namedParameters()) {
    if (p.shape.length === 1 && /norm|ln_/.test(pname) && pname.endsWith("weight"))
      rng.fillNormal(p.data, config.modelType === "gemma3_text" ? 0 : 1, 0.1); // Gemma stores w of 1 + w
    else if (p.shape.length === 1) rng.fillNormal(p.data, 0, 0.1);
    else rng.fillNormal(p.data, 0, 0.25);
  }
  const B = 2,
    T = 11;
  const ids = Int32Array.from({ length: B * T }, () => rng.int(config.vocabSize));
  const logits = model.forward(new Tape({ grad: false }), ids, B, T);
  const dir = join(root, name);
  mkdirSync(root, { recursive: true });
  saveModelDir(dir, model);
  writeFileSync(join(dir, "inputs.json"), `${JSON.stringify({ ids: [Array.from(ids.subarray(0, T)), Array.from(ids.subarray(T))] })}\n`);
  writeSafetensors(join(dir, "logits.safetensors"), [{ name: "logits", shape: [B * T, config.vocabSize], data: logits.data }]);
  console.log(`${name}: ${model.parameters().reduce((a, p) => a + p.data.length, 0)} params → ${dir}`);
  i++;
}
