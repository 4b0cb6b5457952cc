import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfigError } from "../errors.ts";
import { PRESETS, countParameters, fromHfConfig, presetConfig, toHfConfig } from "./config.ts";

test("presets have the documented sizes at an 8192-token vocabulary", () => {
  const want: Record<string, [number, number]> = { nano: [1.0, 1.5], micro: [5.5, 7.5], mini: [16, 21], small: [40, 55], base: [110, 130] };
  for (const name of Object.keys(PRESETS)) {
    const m = countParameters(presetConfig(name, 8192)).total / 1e6;
    const [lo, hi] = want[name]!;
    assert.ok(m >= lo && m <= hi, `${name}: ${m.toFixed(2)}M not in [${lo}, ${hi}]`);
  }
  const mini = presetConfig("mini", 8192);
  assert.deepEqual([mini.dModel, mini.nLayers, mini.nHeads, mini.maxSeqLen], [384, 6, 6, 256]);
});

test("parameter count of a known configuration (SmolLM-135M shape)", () => {
  const c = fromHfConfig({
    model_type: "llama", vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30,
    num_attention_heads: 9, num_key_value_heads: 3, max_position_embeddings: 2048, rms_norm_eps: 1e-5, tie_word_embeddings: true,
  });
  // Published: 134,515,008 parameters.
  assert.equal(countParameters(c).total, 134515008);
});

test("HF config round trip for each model type", () => {
  for (const modelType of ["llama", "mistral", "qwen2", "gpt2"] as const) {
    const c = presetConfig("nano", 1000, {
      modelType,
      qkvBias: modelType === "qwen2" || modelType === "gpt2",
      oBias: modelType === "gpt2",
      mlpBias: modelType === "gpt2",
      eosTokenId: 2,
    });
    const back = fromHfConfig(JSON.parse(JSON.stringify(toHfConfig(c))));
    assert.deepEqual({ ...back, ropeTheta: modelType === "gpt2" ? 0 : back.ropeTheta }, { ...c, ropeTheta: modelType === "gpt2" ? 0 : c.ropeTheta, bosTokenId: undefined });
  }
});

test("unsupported or inconsistent configs name the field", () => {
  assert.throws(() => fromHfConfig({ model_type: "bert" }), /model_type "bert" is not supported/);
  assert.throws(() => fromHfConfig({ model_type: "llama", hidden_size: 64 }), /missing field "num_attention_heads"/);
  const base = { model_type: "llama", vocab_size: 100, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4 };
  assert.throws(() => fromHfConfig({ ...base, rope_scaling: { type: "linear", factor: 2 } }), /rope_scaling/);
  assert.throws(() => fromHfConfig({ ...base, num_key_value_heads: 3 }), /multiple of num_key_value_heads/);
  assert.throws(() => fromHfConfig({ ...base, hidden_act: "gelu" }), ConfigError);
  assert.throws(() => presetConfig("huge", 100), /unknown preset "huge"/);
});
