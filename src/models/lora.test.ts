import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfigError, UsageError } from "../errors.ts";
import { AdamW, Tape, crossEntropy, gradientBytes } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import { createModel, presetConfig, type CausalLM } from "./index.ts";
import { LORA_TARGETS, attachLora, matchesTarget, resolveLora } from "./lora.ts";

const V = 48;
function llama(seed = 0): CausalLM {
  return createModel(presetConfig("nano", V, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 48, maxSeqLen: 16 }), seed);
}
function gpt2(seed = 0): CausalLM {
  return createModel(
    {
      modelType: "gpt2",
      vocabSize: V,
      dModel: 32,
      nLayers: 2,
      nHeads: 4,
      nKvHeads: 4,
      headDim: 8,
      ffnDim: 64,
      maxSeqLen: 16,
      normEps: 1e-5,
      ropeTheta: 10000,
      tieEmbeddings: true,
      qkvBias: true,
      oBias: true,
      mlpBias: true,
    },
    seed,
  );
}
const ids = Int32Array.from({ length: 2 * 8 }, (_, i) => (i * 7 + 3) % V);
const logits = (m: CausalLM) => m.forward(new Tape({ grad: false }), ids, 2, 8).data.slice();
function randomizeB(lora: ReturnType<typeof attachLora>, seed: number): void {
  const r = new Rng(seed);
  for (const a of lora.adapters.values()) r.fillNormal(a.B.data, 0, 0.05);
}
function maxDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

test("attach: B = 0 leaves the output unchanged; A is uniform within ±1/√in; targets map to the projections", () => {
  const m = llama();
  const before = logits(m);
  const lora = attachLora(m, { r: 4, alpha: 8 });
  assert.deepEqual(maxDiff(logits(m), before), 0);
  assert.equal(lora.adapters.size, 2 * 7);
  assert.deepEqual(
    [...lora.adapters.keys()].slice(0, 7),
    ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"].map((n, i) => `model.layers.0.${i < 4 ? "self_attn" : "mlp"}.${n}`),
  );
  for (const a of lora.adapters.values()) {
    assert.deepEqual(a.A.shape, [4, a.base.inFeatures]);
    assert.deepEqual(a.B.shape, [a.base.outFeatures, 4]);
    const bound = 1 / Math.sqrt(a.base.inFeatures);
    assert.ok(a.A.data.every((v) => Math.abs(v) <= bound) && a.A.data.some((v) => v !== 0));
    assert.ok(a.B.data.every((v) => v === 0));
    assert.equal(a.scale, 2);
  }
  assert.equal(lora.namedParameters()[0]![0], "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  assert.equal(lora.namedParameters()[1]![0], "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight");
  // The base is frozen, with no gradient memory.
  assert.ok(m.parameters().every((p) => !p.requiresGrad && p.grad.length === 0));
  assert.throws(() => attachLora(m, { r: 4 }), UsageError, "a second attach is refused");
});

test("target resolution: short names, HF names, PEFT suffix and regex matching, GPT-2 mapping, errors", () => {
  const m = llama();
  assert.deepEqual(resolveLora(m, { targets: ["q", "v"] }).targetModules, ["q_proj", "v_proj"]);
  assert.equal(resolveLora(m, { r: 4, alpha: 16, useRslora: true }).scale, 8);
  const g = gpt2();
  assert.deepEqual(resolveLora(g, { targets: [...LORA_TARGETS] }).targetModules, ["c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]);
  assert.throws(() => resolveLora(g, { targets: ["gate"] }), ConfigError);
  const gl = attachLora(g, { targets: ["q", "o"] });
  assert.deepEqual(
    [...gl.adapters.keys()],
    ["transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj", "transformer.h.1.attn.c_attn", "transformer.h.1.attn.c_proj"],
  );
  assert.ok(matchesTarget("model.layers.3.self_attn.q_proj", ["q_proj"]));
  assert.ok(!matchesTarget("model.layers.3.self_attn.xq_proj", ["q_proj"]));
  assert.ok(matchesTarget("model.layers.3.self_attn.q_proj", String.raw`.*\.layers\.3\..*q_proj`));
  assert.ok(!matchesTarget("model.layers.2.self_attn.q_proj", String.raw`.*\.layers\.3\..*q_proj`));
  const only = attachLora(llama(), { targets: String.raw`.*layers\.1\.mlp\.down_proj` });
  assert.deepEqual([...only.adapters.keys()], ["model.layers.1.mlp.down_proj"]);
  assert.throws(() => attachLora(llama(), { targets: ["nothing_here"] }), ConfigError);
  assert.throws(() => resolveLora(m, { r: 0 }), ConfigError);
  assert.throws(() => resolveLora(m, { dropout: 1 }), ConfigError);
  assert.throws(() => attachLora(llama(), { r: 64 }), ConfigError, "rank above the layer's size");
});

for (const [name, make] of [
  ["llama", llama],
  ["gpt2", gpt2],
] as const) {
  test(`${name}: merged and unmerged outputs agree within 1e-5; unmerge and detach restore the base`, () => {
    const m = make(3);
    const base = logits(m);
    const w0 = m.parameters().map((p) => p.data.slice());
    const lora = attachLora(m, { r: 4, alpha: 8 }, 5);
    randomizeB(lora, 9);
    const unmerged = logits(m);
    assert.ok(maxDiff(unmerged, base) > 1e-3, "the adapter changes the output");
    lora.merge();
    const merged = logits(m);
    assert.ok(maxDiff(merged, unmerged) <= 1e-5, `merged vs unmerged differ by ${maxDiff(merged, unmerged)}`);
    lora.unmerge();
    assert.ok(maxDiff(logits(m), unmerged) <= 1e-5);
    lora.detach();
    assert.ok(maxDiff(logits(m), base) <= 1e-5);
    m.parameters().forEach((p, i) => assert.ok(maxDiff(p.data, w0[i]!) <= 1e-6));
    // mergeAndDetach: a plain model with the adapted weights.
    const m2 = make(3);
    const l2 = attachLora(m2, { r: 4, alpha: 8 }, 5);
    randomizeB(l2, 9);
    l2.mergeAndDetach();
    assert.ok(maxDiff(logits(m2), unmerged) <= 1e-5);
  });
}

test("backward: only A and B get gradients, matching finite differences of the loss", () => {
  const m = llama(1);
  const lora = attachLora(m, { r: 2, alpha: 4, targets: ["q", "down"] }, 2);
  randomizeB(lora, 3);
  const targets = Int32Array.from(ids, (t) => (t + 1) % V);
  const lossOf = () => {
    const g = new Tape({ grad: false });
    return crossEntropy(g, m.forward(g, ids, 2, 8), targets).data[0]!;
  };
  const tape = new Tape();
  tape.backward(crossEntropy(tape, m.forward(tape, ids, 2, 8), targets));
  for (const [n, p] of lora.namedParameters()) {
    for (const i of [0, Math.floor(p.size / 2), p.size - 1]) {
      const h = 1e-2,
        x = p.data[i]!;
      p.data[i] = x + h;
      const up = lossOf();
      p.data[i] = x - h;
      const down = lossOf();
      p.data[i] = x;
      const fd = (up - down) / (2 * h);
      assert.ok(Math.abs(fd - p.grad[i]!) <= 2e-3 + 0.05 * Math.abs(fd), `${n}[${i}]: analytic ${p.grad[i]} vs finite difference ${fd}`);
    }
  }
  assert.ok(m.parameters().every((p) => p.grad.length === 0));
});

test("memory: frozen base holds no gradients; AdamW over the adapters holds moments only for them", () => {
  const full = llama(0);
  const fullOpt = new AdamW(full.namedParameters());
  const fullBytes = gradientBytes(full.parameters()) + fullOpt.stateBytes();
  assert.equal(fullBytes, 3 * 4 * full.numParameters());
  const m = llama(0);
  const lora = attachLora(m, { r: 2 });
  const params = lora.namedParameters();
  const opt = new AdamW(params);
  const bytes = gradientBytes([...m.parameters(), ...params.map(([, p]) => p)]) + opt.stateBytes();
  assert.equal(bytes, 3 * 4 * lora.numParameters());
  assert.ok(bytes < 0.4 * fullBytes);
});

test("dropout applies only while training (grad tape), and is inverted (same expectation)", () => {
  const m = llama(0);
  const lora = attachLora(m, { r: 4, dropout: 0.5, targets: ["q"] }, 1);
  randomizeB(lora, 2);
  const a = logits(m),
    b = logits(m);
  assert.deepEqual(a, b, "inference is deterministic");
  const t1 = new Tape(),
    t2 = new Tape();
  const y1 = m.forward(t1, ids, 2, 8).data.slice(),
    y2 = m.forward(t2, ids, 2, 8).data.slice();
  assert.ok(maxDiff(y1, y2) > 0, "training forward draws masks");
});
