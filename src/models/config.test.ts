import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfigError } from "../errors.ts";
import { PRESETS, countParameters, fromHfConfig, presetConfig, toHfConfig } from "./config.ts";
import { llama3FreqFactors, llama3FromFreqFactors, scaledInverseFrequencies } from "./rope-scaling.ts";

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
    model_type: "llama",
    vocab_size: 49152,
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    max_position_embeddings: 2048,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
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
    assert.deepEqual(
      { ...back, ropeTheta: modelType === "gpt2" ? 0 : back.ropeTheta },
      { ...c, ropeTheta: modelType === "gpt2" ? 0 : c.ropeTheta, bosTokenId: undefined },
    );
  }
});

test("unsupported or inconsistent configs name the field", () => {
  assert.throws(() => fromHfConfig({ model_type: "bert" }), /model_type "bert" is not supported/);
  assert.throws(() => fromHfConfig({ model_type: "llama", hidden_size: 64 }), /missing field "num_attention_heads"/);
  const base = { model_type: "llama", vocab_size: 100, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4 };
  assert.throws(() => fromHfConfig({ ...base, rope_scaling: { type: "dynamic", factor: 2 } }), /rope_scaling type "dynamic" is not supported/);
  assert.throws(() => fromHfConfig({ ...base, num_key_value_heads: 3 }), /multiple of num_key_value_heads/);
  assert.throws(() => fromHfConfig({ ...base, hidden_act: "gelu" }), ConfigError);
  assert.throws(() => presetConfig("huge", 100), /unknown preset "huge"/);
});

// Published shapes (config.json of Qwen/Qwen3-0.6B, google/gemma-3-270m, meta-llama/Llama-3.2-1B).
const QWEN3_0_6B = {
  architectures: ["Qwen3ForCausalLM"],
  model_type: "qwen3",
  vocab_size: 151936,
  hidden_size: 1024,
  intermediate_size: 3072,
  num_hidden_layers: 28,
  num_attention_heads: 16,
  num_key_value_heads: 8,
  head_dim: 128,
  max_position_embeddings: 40960,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  rope_scaling: null,
  tie_word_embeddings: true,
  attention_bias: false,
  use_sliding_window: false,
  sliding_window: null,
  max_window_layers: 28,
  hidden_act: "silu",
  bos_token_id: 151643,
  eos_token_id: 151645,
};
const GEMMA3_270M = {
  architectures: ["Gemma3ForCausalLM"],
  model_type: "gemma3_text",
  vocab_size: 262144,
  hidden_size: 640,
  intermediate_size: 2048,
  num_hidden_layers: 18,
  num_attention_heads: 4,
  num_key_value_heads: 1,
  head_dim: 256,
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  rope_local_base_freq: 10000,
  rope_scaling: null,
  sliding_window: 512,
  _sliding_window_pattern: 6,
  query_pre_attn_scalar: 256,
  hidden_activation: "gelu_pytorch_tanh",
  final_logit_softcapping: null,
  attn_logit_softcapping: null,
  attention_bias: false,
  use_bidirectional_attention: false,
  bos_token_id: 2,
  eos_token_id: 1,
};
const LLAMA32_1B_ROPE = { rope_type: "llama3", factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };

test("Qwen3-0.6B and Gemma-3-270M shapes: parameter counts, layer types, rope", () => {
  const q = fromHfConfig(QWEN3_0_6B);
  assert.equal(q.headDim, 128);
  assert.equal(q.tieEmbeddings, true);
  assert.equal((countParameters(q).nonEmbedding / 1e9).toFixed(2), "0.44"); // published: 0.44B non-embedding
  const g = fromHfConfig(GEMMA3_270M);
  assert.equal(countParameters(g).total, 268098176); // published: 268,098,176
  assert.deepEqual(
    g.layerTypes!.map((t, i) => (t === "full_attention" ? i : -1)).filter((i) => i >= 0),
    [5, 11, 17],
  );
  assert.equal(g.ropeLocalTheta, 10000);
  assert.equal(g.queryPreAttnScalar, 256);
  // transformers 5.x spelling of the same rope settings
  const g5 = fromHfConfig({
    ...GEMMA3_270M,
    rope_theta: undefined,
    rope_local_base_freq: undefined,
    rope_scaling: undefined,
    rope_parameters: { full_attention: { rope_type: "default", rope_theta: 1e6 }, sliding_attention: { rope_type: "default", rope_theta: 1e4 } },
  });
  assert.deepEqual(g5, g);
});

test("HF config round trip for qwen3, gemma3_text and each rope_scaling type", () => {
  const cases = [
    fromHfConfig(QWEN3_0_6B),
    fromHfConfig({ ...GEMMA3_270M, rope_scaling: { rope_type: "linear", factor: 8 } }),
    fromHfConfig({
      model_type: "llama",
      vocab_size: 128256,
      hidden_size: 2048,
      intermediate_size: 8192,
      num_hidden_layers: 16,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      max_position_embeddings: 131072,
      rope_theta: 500000,
      rope_scaling: LLAMA32_1B_ROPE,
      tie_word_embeddings: true,
    }),
    fromHfConfig({
      model_type: "qwen2",
      vocab_size: 100,
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      max_position_embeddings: 131072,
      rope_scaling: { type: "yarn", factor: 4, original_max_position_embeddings: 32768 },
    }),
  ];
  for (const c of cases) assert.deepEqual(fromHfConfig(JSON.parse(JSON.stringify(toHfConfig(c)))), c, c.modelType);
});

test("refused config fields name the field and say why", () => {
  assert.throws(() => fromHfConfig({ ...GEMMA3_270M, final_logit_softcapping: 30 }), /final_logit_softcapping 30 is not supported/);
  assert.throws(() => fromHfConfig({ ...GEMMA3_270M, attn_logit_softcapping: 50 }), /attn_logit_softcapping/);
  assert.throws(() => fromHfConfig({ ...GEMMA3_270M, hidden_activation: "gelu" }), /hidden_activation "gelu"/);
  assert.throws(() => fromHfConfig({ ...GEMMA3_270M, use_bidirectional_attention: true }), /use_bidirectional_attention/);
  assert.throws(
    () => fromHfConfig({ ...GEMMA3_270M, model_type: "gemma3" }),
    (e: ConfigError) => /text_config/.test(e.hint ?? ""),
  );
  assert.throws(() => fromHfConfig({ ...QWEN3_0_6B, use_sliding_window: true }), /use_sliding_window/);
  assert.throws(() => fromHfConfig({ ...QWEN3_0_6B, layer_types: ["sliding_attention"] }), /layer_types/);
  assert.throws(() => fromHfConfig({ ...QWEN3_0_6B, rope_scaling: { rope_type: "longrope", short_factor: [], long_factor: [] } }), /longrope/);
  assert.throws(() => fromHfConfig({ ...QWEN3_0_6B, rope_scaling: { rope_type: "llama3", factor: 8 } }), /needs "low_freq_factor"/);
  assert.throws(() => fromHfConfig({ ...QWEN3_0_6B, rope_scaling: { rope_type: "linear", factor: 0.5 } }), /factor must be >= 1/);
});

test("rope scaling frequencies: llama3's three bands, yarn's ramp and attention factor, llama.cpp's factors round trip", () => {
  const s = { type: "llama3" as const, factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 };
  const base = scaledInverseFrequencies(64, 500000, undefined).invFreq;
  const scaled = scaledInverseFrequencies(64, 500000, s).invFreq;
  assert.equal(scaled[0], base[0]); // short wavelength: unchanged
  assert.ok(Math.abs(scaled[31]! - base[31]! / 32) < 1e-18); // long wavelength: divided by factor
  const factors = llama3FreqFactors(64, 500000, s);
  assert.ok(
    factors.some((f) => f > 1.01 && f < 31.9),
    "some frequency lies in the smooth band",
  );
  assert.deepEqual(llama3FromFreqFactors(64, 500000, factors), s);
  const y = scaledInverseFrequencies(64, 10000, {
    type: "yarn",
    factor: 4,
    originalMaxPositions: 4096,
    betaFast: 32,
    betaSlow: 1,
    attentionFactor: 0.1 * Math.log(4) + 1,
    truncate: true,
  });
  const b10k = scaledInverseFrequencies(64, 10000, undefined).invFreq;
  assert.equal(y.invFreq[0], b10k[0]);
  assert.ok(Math.abs(y.invFreq[31]! - b10k[31]! / 4) < 1e-18);
  assert.ok(Math.abs(y.attentionFactor - 1.1386294361) < 1e-9);
});
