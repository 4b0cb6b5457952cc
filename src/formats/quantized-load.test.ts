// Models held quantized in memory: a GGUF file's matrices kept in their stored
// types (loadModel's keepQuantized) and float models quantized at load (dtype),
// compared with the same weights expanded to float32.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { ShapeError } from "../errors.ts";
import { validateConfig, weightStorage, type CausalLM, type ModelConfig } from "../models/index.ts";
import { Tape, crossEntropy } from "../tensor/index.ts";
import { writeLlamaGguf, type GgufExportDtype } from "./gguf-llama.ts";
import { loadModel, saveModelDir } from "./hf-dir.ts";
import { toHfTensors } from "./hf-weights.ts";
import { randomModel, tinyByteLevel } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-qload-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Rows of 256 values, so the K-quants apply without fallback. */
function config(over: Partial<ModelConfig> = {}): ModelConfig {
  return validateConfig({
    modelType: "llama",
    vocabSize: 400,
    dModel: 256,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 64,
    ffnDim: 512,
    maxSeqLen: 64,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieEmbeddings: true,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    ...over,
  });
}

const IDS = Int32Array.from({ length: 12 }, (_, i) => (i * 37 + 5) % 400);

function logits(m: CausalLM): Float32Array {
  return m.forward(new Tape({ grad: false }), IDS, 1, IDS.length).data.slice();
}

/** max |a − b| / (max(b) − min(b)): the error in units of the logits' spread. */
function relError(a: Float32Array, b: Float32Array): number {
  let worst = 0,
    lo = Infinity,
    hi = -Infinity;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    lo = Math.min(lo, b[i]!);
    hi = Math.max(hi, b[i]!);
  }
  return worst / (hi - lo);
}

/**
 * Logit error of the quantized kernels against the same (dequantized) weights in float32, in
 * units of the logits' spread: the activations are rounded to 8 bits per block of 32 (or 256)
 * values on the way in, which costs about 1/254 of a block's largest value per product term.
 */
const KERNEL_BUDGET = 0.02;

for (const [modelType, over] of [
  ["llama", {}],
  ["qwen2", { modelType: "qwen2", qkvBias: true }],
] as const) {
  for (const dtype of ["f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"] as GgufExportDtype[]) {
    test(`${modelType} ${dtype} GGUF kept quantized: same logits as the float32 expansion, in a fraction of the memory`, async () => {
      const tok = await tinyByteLevel(400, modelType === "qwen2" ? "qwen" : "cl100k");
      const c = config({ ...over, vocabSize: tok.vocabSize });
      const p = join(dir, `${modelType}-${dtype}.gguf`);
      writeLlamaGguf(p, randomModel(c, 11), { dtype, tokenizer: tok });
      const float = loadModel(p);
      const quant = loadModel(p, { keepQuantized: true });
      const err = relError(logits(quant.model), logits(float.model));
      assert.ok(err < KERNEL_BUDGET, `max |Δ logit| is ${err.toFixed(5)} of the spread (budget ${KERNEL_BUDGET})`);
      const fs = weightStorage(float.model),
        qs = weightStorage(quant.model);
      assert.equal(fs.label, "F32");
      assert.notEqual(qs.label, "F32");
      assert.ok(qs.bytes < fs.bytes * (dtype === "f16" || dtype === "bf16" ? 0.6 : 0.4), `${qs.label}: ${qs.bytes} bytes vs ${fs.bytes} as float32`);
      // Export reads the quantized weights back exactly as the float32 load expanded them.
      const back = new Map(toHfTensors(quant.model).map((t) => [t.name, t.data]));
      for (const t of toHfTensors(float.model)) assert.deepEqual(back.get(t.name), t.data, t.name);
    });
  }
}

test("a float model quantized at load (dtype) answers close to the float one and holds less", () => {
  const c = config();
  const w = randomModel(c, 5);
  const src = loadModel(
    (() => {
      const p = join(dir, "f32.gguf");
      writeLlamaGguf(p, w, { dtype: "f32" });
      return p;
    })(),
  );
  const hf = join(dir, "hf");
  saveModelDir(hf, src.model);
  const ref = logits(loadModel(hf).model);
  for (const [dtype, budget] of [
    ["q8_0", 0.03],
    ["q6_k", 0.05],
    ["q4_k_m", 0.25],
  ] as const) {
    const m = loadModel(hf, { dtype });
    const err = relError(logits(m.model), ref);
    assert.ok(err < budget, `${dtype}: ${err.toFixed(4)} of the spread (budget ${budget})`);
    assert.ok(weightStorage(m.model).bytes < weightStorage(src.model).bytes / 3);
  }
});

test("gradients flow through a quantized weight to the float parameters below it, never into it", async () => {
  const c = config();
  const p = join(dir, "train.gguf");
  writeLlamaGguf(p, randomModel(c, 6), { dtype: "q8_0" });
  const grads = (m: CausalLM) => {
    const g = new Tape();
    g.backward(
      crossEntropy(
        g,
        m.forward(g, IDS, 1, IDS.length),
        Int32Array.from(IDS, (t) => (t + 1) % c.vocabSize),
      ),
    );
    return m
      .namedParameters()
      .find(([n]) => n === "model.layers.0.input_layernorm.weight")![1]
      .grad.slice();
  };
  const quant = loadModel(p, { keepQuantized: true }).model;
  const float = loadModel(p).model;
  const gq = grads(quant),
    gf = grads(float);
  assert.ok(relError(gq, gf) < 0.05, `layer 0 norm gradient: ${relError(gq, gf).toFixed(4)} of its spread`);
  assert.ok(
    gf.some((x) => x !== 0),
    "the float gradient is not all zero",
  );
  const q = quant.namedParameters().find(([n]) => n.endsWith("q_proj.weight"))![1];
  assert.equal(q.requiresGrad, false, "a quantized weight is frozen");
  assert.throws(() => q.set(new Float32Array(q.size)), ShapeError);
});
