// The one-call decode step (decode-step.ts): on every backend, a quantized model's logits and
// KV cache after each call are bitwise those of the step-by-step forward, for Llama (no
// biases), Qwen2 (q/k/v biases) and Qwen3 (per-head q/k norms) shapes: single tokens, a
// verification of several tokens, two slots stepping together, a prompt above 8 rows (which
// takes the step-by-step path), over f32, f16 and q8_0 caches, with weights held quantized or as
// plain float32 (a model trained here) or a mix; with an adapter the step-by-step path runs.
import assert from "node:assert/strict";
import { test } from "node:test";

import { quantize, type GgmlTypeName } from "../formats/quant.ts";
import { qweight, type QType } from "../native/ops/qgemm.ts";
import { forEachBackend, randn, rng, using } from "../native/testing.ts";
import { Tape } from "../tensor/index.ts";
import { decodePlanFor, useDecodePlans } from "./decode-step.ts";
import { attachLora, createModel, KvCache, presetConfig, type CausalLM, type ModelConfig } from "./index.ts";
import type { LlamaModel } from "./llama.ts";

const V = 67;
const shapes: [string, Partial<ModelConfig>][] = [
  ["llama", { modelType: "llama" }],
  ["qwen2 (q/k/v biases)", { modelType: "qwen2", qkvBias: true }],
  ["qwen3 (q/k norms)", { modelType: "qwen3" }],
];

/**
 * A random model of the type with random biases and norms and every layer matrix quantized (the
 * types alternate), or with `keepFloat` those whose index is a multiple of keepFloat kept as plain
 * float32 (keepFloat 1: all of them, a model as trained here).
 */
function quantizedModel(over: Partial<ModelConfig>, keepFloat = 0): { model: CausalLM; config: ModelConfig } {
  const config = presetConfig("nano", V, { dModel: 64, nLayers: 3, nHeads: 4, nKvHeads: 2, headDim: 16, ffnDim: 96, maxSeqLen: 32, ...over });
  const model = createModel(config, 3);
  const r = rng(11);
  const types: QType[] = ["Q8_0", "Q4_0", "F16"];
  let i = 0;
  for (const [name, p] of model.namedParameters()) {
    if (p.ndim === 2 && name.includes("layers.")) {
      if (keepFloat > 0 && i++ % keepFloat === 0) continue;
      const type = types[i++ % types.length]!;
      p.setQuantized(qweight(type, quantize(type as GgmlTypeName, p.data), p.shape[0]!, p.shape[1]!));
    } else if (p.ndim === 1) {
      p.data.set(randn(r, p.size, 0.1).map((v) => v + (name.includes("norm") ? 1 : 0)));
    }
  }
  return { model, config };
}

/** Logits and the cache after decoding `ids` one token at a time (the first at position 0). */
function decode(model: CausalLM, config: ModelConfig, ids: number[], plans: boolean, cache = new KvCache(config, 1, 16)) {
  return calls(
    model,
    ids.map((id, p) => [1, [id], [p]]),
    plans,
    cache,
  );
}

/** Logits and layer 1's cache after each call [sequences, ids (sequence-major), starts]. */
function calls(model: CausalLM, steps: [number, number[], number[]][], plans: boolean, cache: KvCache) {
  const before = useDecodePlans();
  useDecodePlans(plans);
  try {
    const logits = steps.map(([b, ids, starts]) =>
      model.forwardCached(new Tape({ grad: false }), Int32Array.from(ids), b, ids.length / b, cache, Int32Array.from(starts)).data.slice(),
    );
    const stored = cache.stored(1);
    return { logits, keys: stored.keys.slice(), values: stored.values.slice() };
  } finally {
    useDecodePlans(before);
  }
}

const ids = [3, 17, 5, 60, 2, 9, 41];

forEachBackend("one-call decode step", (c) => {
  for (const [label, over] of shapes) {
    test(`${label}: logits and KV cache bitwise equal to the step-by-step forward over ${ids.length} tokens`, () =>
      using(c, () => {
        const { model, config } = quantizedModel(over);
        const layers = (model as LlamaModel).model.layers.items;
        assert.notEqual(decodePlanFor(config, layers, new KvCache(config, 1, 16), 16), null, "the plan applies to this model");
        const step = decode(model, config, ids, false),
          plan = decode(model, config, ids, true);
        plan.logits.forEach((l, t) => assert.deepEqual(l, step.logits[t], `logits of token ${t}`));
        assert.deepEqual(plan.keys, step.keys);
        assert.deepEqual(plan.values, step.values);
      }));
  }

  test("two slots: a 3-token prompt, steps of both, 9 tokens at once, a 4-token verification of each: logits and cache bitwise the step-by-step forward's", () =>
    using(c, () => {
      const { model, config } = quantizedModel({ modelType: "qwen2", qkvBias: true });
      // [sequences, ids (sequence-major), starts]: slot 0's 3-token prompt (plan); both slots one
      // token; 9 more tokens of slot 0 (9 rows: step by step); both slots verifying 4 tokens
      // (8 rows: plan); both slots one token.
      const steps: [number, number[], number[]][] = [
        [1, [5, 6, 7], [0]],
        [2, [8, 9], [3, 0]],
        [1, [11, 12, 13, 14, 15, 16, 17, 18, 19], [4]],
        [2, [20, 21, 22, 23, 24, 25, 26, 27], [13, 1]],
        [2, [28, 29], [17, 5]],
      ];
      const step = calls(model, steps, false, new KvCache(config, 2, 24)),
        plan = calls(model, steps, true, new KvCache(config, 2, 24));
      plan.logits.forEach((l, i) => assert.deepEqual(l, step.logits[i], `logits of call ${i}`));
      assert.deepEqual(plan.keys, step.keys);
      assert.deepEqual(plan.values, step.values);
    }));

  for (const dtype of ["f16", "q8_0"] as const)
    test(`${dtype} cache, two slots, 1 to 8 rows a call: logits and the encoded rows bitwise the step-by-step forward's`, () =>
      using(c, () => {
        const { model, config } = quantizedModel({ modelType: "qwen3", nHeads: 4, nKvHeads: 2, headDim: 32 }); // q8_0 rows: whole blocks of 32
        const steps: [number, number[], number[]][] = [
          [1, [5, 6, 7], [0]],
          [2, [8, 9], [3, 0]],
          [2, [20, 21, 22, 23, 24, 25, 26, 27], [4, 1]],
          [1, [28], [8]],
        ];
        const step = calls(model, steps, false, new KvCache(config, 2, 24, { dtype })),
          plan = calls(model, steps, true, new KvCache(config, 2, 24, { dtype }));
        plan.logits.forEach((l, i) => assert.deepEqual(l, step.logits[i], `logits of call ${i}`));
        assert.deepEqual(plan.keys, step.keys);
        assert.deepEqual(plan.values, step.values);
      }));

  for (const [label, keepFloat] of [
    ["plain float32 weights", 1],
    ["float32 and quantized weights mixed", 3],
  ] as const)
    test(`${label}, q/k/v biases: logits and KV cache bitwise the step-by-step forward's, 1 to 8 rows`, () =>
      using(c, () => {
        const { model, config } = quantizedModel({ modelType: "qwen2", qkvBias: true }, keepFloat);
        const steps: [number, number[], number[]][] = [
          [1, [5, 6, 7], [0]],
          [2, [8, 9], [3, 0]],
          [2, [20, 21, 22, 23, 24, 25, 26, 27], [4, 1]],
          [1, [28], [8]],
        ];
        const step = calls(model, steps, false, new KvCache(config, 2, 24)),
          plan = calls(model, steps, true, new KvCache(config, 2, 24));
        plan.logits.forEach((l, i) => assert.deepEqual(l, step.logits[i], `logits of call ${i}`));
        assert.deepEqual(plan.keys, step.keys);
      }));

  test("an adapter attached after the plan was made turns it off, and the model still decodes", () =>
    using(c, () => {
      const { model, config } = quantizedModel({});
      const layers = (model as LlamaModel).model.layers.items;
      const cache = new KvCache(config, 1, 16);
      assert.notEqual(decodePlanFor(config, layers, cache, 16), null);
      const lora = attachLora(model, { r: 2 }, 4);
      for (const a of lora.adapters.values()) rng(2).fillNormal(a.B.data, 0, 0.05);
      assert.equal(decodePlanFor(config, layers, cache, 16), null, "an adapter attached after the plan was made turns it off");
      const withAdapter = decode(model, config, ids, true);
      const stepwise = decode(model, config, ids, false);
      withAdapter.logits.forEach((l, t) => assert.deepEqual(l, stepwise.logits[t]));
    }));
});
