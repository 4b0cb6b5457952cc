// The 2025-26 architectures end to end on tiny models: qwen3, gemma3_text
// (with a sliding window that cuts during decode) and llama with each
// rope_scaling type. A KV-cache decode gives the full forward's logits token
// by token; an HF directory round trip gives identical logits; full
// fine-tuning and LoRA (on every projection, q_norm / k_norm frozen) lower the
// loss; a merged adapter equals the attached one; sharded BF16 directories load.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { loadModel, saveModelDir } from "./hf-dir.ts";
import { SafetensorsFile, writeSafetensors } from "./safetensors.ts";
import { AdamW, Tape, crossEntropy } from "../tensor/index.ts";
import { validateConfig, type ModelConfig } from "../models/config.ts";
import { GemmaModel, KvCache, attachLora, createModel, type CausalLM } from "../models/index.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-arch-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const V = 53;
const base = {
  vocabSize: V,
  dModel: 32,
  nLayers: 3,
  nHeads: 4,
  nKvHeads: 2,
  headDim: 8,
  ffnDim: 48,
  maxSeqLen: 32,
  normEps: 1e-6,
  ropeTheta: 10000,
  tieEmbeddings: true,
  qkvBias: false,
  oBias: false,
  mlpBias: false,
};
const CONFIGS: Record<string, ModelConfig> = {
  qwen3: validateConfig({ ...base, modelType: "qwen3", headDim: 16 }),
  gemma3: validateConfig({
    ...base,
    modelType: "gemma3_text",
    nKvHeads: 1,
    headDim: 16,
    ropeTheta: 1e6,
    ropeLocalTheta: 1e4,
    slidingWindow: 4,
    queryPreAttnScalar: 12,
    layerTypes: ["sliding_attention", "sliding_attention", "full_attention"],
    ropeScaling: { type: "linear", factor: 2 },
  }),
  "llama llama3": validateConfig({
    ...base,
    modelType: "llama",
    ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16 },
  }),
  "llama yarn": validateConfig({
    ...base,
    modelType: "llama",
    ropeScaling: { type: "yarn", factor: 4, originalMaxPositions: 8, betaFast: 32, betaSlow: 1, attentionFactor: 1.2, truncate: true },
  }),
};
const T = 12;
const ids = Int32Array.from({ length: 2 * T }, (_, i) => (i * 11 + 5) % V);
const targets = Int32Array.from({ length: 2 * T }, (_, i) => (i * 7 + 1) % V);

function maxDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}
const logits = (m: CausalLM) => m.forward(new Tape({ grad: false }), ids, 2, T).data.slice();

function lossStep(m: CausalLM, opt: AdamW): number {
  const g = new Tape();
  const loss = crossEntropy(g, m.forward(g, ids, 2, T), targets);
  g.backward(loss);
  opt.step();
  m.zeroGrad();
  return loss.data[0]!;
}

for (const [name, config] of Object.entries(CONFIGS)) {
  test(`${name}: KV-cache decode (prefill 6, past Gemma's window of 4, then one token at a time) equals the full forward`, () => {
    const m = createModel(config, 3);
    if (config.modelType === "gemma3_text") assert.ok(m instanceof GemmaModel);
    const full = logits(m);
    const cache = new KvCache(config, 2, T);
    const g = new Tape({ grad: false });
    const got = new Float32Array(2 * T * V);
    const P = 6;
    const prefill = Int32Array.from([...ids.subarray(0, P), ...ids.subarray(T, T + P)]);
    const out = m.forwardCached(g, prefill, 2, P, cache, Int32Array.from([0, 0])).data;
    for (let b = 0; b < 2; b++) got.set(out.subarray(b * P * V, (b + 1) * P * V), b * T * V);
    for (let t = P; t < T; t++) {
      g.reset();
      const step = m.forwardCached(g, Int32Array.from([ids[t]!, ids[T + t]!]), 2, 1, cache, Int32Array.from([t, t])).data;
      for (let b = 0; b < 2; b++) got.set(step.subarray(b * V, (b + 1) * V), (b * T + t) * V);
    }
    assert.ok(maxDiff(got, full) < 2e-5, `decode vs forward ${maxDiff(got, full)}`);
  });

  test(`${name}: HF directory round trip, full fine-tuning and LoRA lower the loss`, () => {
    const m = createModel(config, 4);
    saveModelDir(join(dir, name), m);
    const back = loadModel(join(dir, name));
    assert.deepEqual(back.config, { ...config, bosTokenId: undefined, eosTokenId: undefined });
    assert.deepEqual(logits(back.model), logits(m));

    const opt = new AdamW(m.namedParameters(), { lr: 3e-3, weightDecay: 0 });
    const first = lossStep(m, opt);
    let last = first;
    for (let i = 0; i < 5; i++) last = lossStep(m, opt);
    assert.ok(last < first - 0.01, `full fine-tuning: ${first} -> ${last}`);

    const lm = back.model;
    const lora = attachLora(lm, { r: 2, alpha: 4 });
    assert.equal(lora.adapters.size, 7 * config.nLayers);
    const frozen = lm.namedParameters().filter(([n]) => /[qk]_norm/.test(n));
    assert.equal(frozen.length > 0, config.modelType !== "llama");
    const lopt = new AdamW(lora.namedParameters(), { lr: 1e-2, weightDecay: 0 });
    const l0 = lossStep(lm, lopt);
    let l1 = l0;
    for (let i = 0; i < 5; i++) l1 = lossStep(lm, lopt);
    assert.ok(l1 < l0 - 0.01, `LoRA: ${l0} -> ${l1}`);
    assert.ok(frozen.every(([, p]) => !p.requiresGrad));
    const attached = logits(lm);
    lora.merge();
    assert.ok(maxDiff(logits(lm), attached) < 1e-5);
  });
}

test("gemma3: a decode batch with one sequence inside the window and one past it matches each alone", () => {
  const m = createModel(CONFIGS.gemma3!, 5);
  const cache = new KvCache(CONFIGS.gemma3!, 2, T);
  const g = new Tape({ grad: false });
  const lens = [2, 9]; // window 4: sequence 0 still inside it, sequence 1 past it
  lens.forEach((n, b) => m.forwardCached(g, ids.subarray(b * T, b * T + n), 1, n, cache.view(b), Int32Array.of(0)));
  g.reset();
  const step = m.forwardCached(g, Int32Array.from([ids[lens[0]!]!, ids[T + lens[1]!]!]), 2, 1, cache, Int32Array.from(lens)).data;
  for (let b = 0; b < 2; b++) {
    const n = lens[b]! + 1;
    const alone = m.forward(new Tape({ grad: false }), ids.subarray(b * T, b * T + n), 1, n).data.subarray((n - 1) * V, n * V);
    assert.ok(maxDiff(step.subarray(b * V, (b + 1) * V), alone) < 2e-5, `sequence ${b}`);
  }
});

test("gemma3 and qwen3: a sharded HF directory (model.safetensors.index.json, BF16 shards) loads", () => {
  for (const name of ["gemma3", "qwen3"]) {
    const m = createModel(CONFIGS[name]!, 6);
    const ref = join(dir, `unsharded-${name}`),
      d = join(dir, `sharded-${name}`);
    saveModelDir(ref, m, { dtype: "BF16" });
    saveModelDir(d, m, { dtype: "BF16" });
    // Split model.safetensors into two shards with an index, as transformers saves large models.
    const f = SafetensorsFile.open(join(d, "model.safetensors"));
    const tensors = [...f.names].map((n) => ({ name: n, ...f.readFloat32(n), dtype: "BF16" as const }));
    f.close();
    rmSync(join(d, "model.safetensors"));
    const weightMap: Record<string, string> = {};
    const half = Math.ceil(tensors.length / 2);
    [tensors.slice(0, half), tensors.slice(half)].forEach((ts, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(join(d, file), ts, { format: "pt" });
      for (const t of ts) weightMap[t.name] = file;
    });
    writeFileSync(join(d, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const back = loadModel(d);
    assert.equal(back.config.modelType, name === "gemma3" ? "gemma3_text" : "qwen3");
    assert.deepEqual(logits(back.model), logits(loadModel(ref).model));
  }
});
