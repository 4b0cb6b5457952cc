// Model configuration: one typed object for both families (Llama-style and
// GPT-2), read from and written to the Hugging Face config.json field set,
// plus the named presets. Knows nothing about weights or kernels.
import { ConfigError } from "../errors.ts";

export type ModelType = "llama" | "mistral" | "qwen2" | "gpt2";

export interface ModelConfig {
  /** HF model_type. llama, mistral and qwen2 share the Llama block; gpt2 is its own. */
  modelType: ModelType;
  vocabSize: number;
  /** Width of the residual stream (hidden_size / n_embd). */
  dModel: number;
  nLayers: number;
  /** Query heads. */
  nHeads: number;
  /** Key/value heads (grouped-query attention); equals nHeads for multi-head attention. */
  nKvHeads: number;
  /** Per-head width; usually dModel / nHeads. */
  headDim: number;
  /** MLP hidden width (intermediate_size / n_inner). */
  ffnDim: number;
  /** Longest sequence the model is trained or configured for (max_position_embeddings / n_positions). */
  maxSeqLen: number;
  /** Epsilon of RMSNorm (Llama) or LayerNorm (GPT-2). */
  normEps: number;
  /** RoPE base frequency (Llama family only). */
  ropeTheta: number;
  /** Output head shares the token embedding matrix. GPT-2 always ties. */
  tieEmbeddings: boolean;
  /** Biases on the q, k, v projections (Qwen2; Llama's attention_bias). */
  qkvBias: boolean;
  /** Bias on the attention output projection (Llama's attention_bias; GPT-2). */
  oBias: boolean;
  /** Biases in the MLP (GPT-2; Llama's mlp_bias). */
  mlpBias: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
}

/** A preset: everything but the vocabulary, which comes from the tokenizer. */
export type Preset = Omit<ModelConfig, "vocabSize" | "bosTokenId" | "eosTokenId">;

function llamaPreset(dModel: number, nLayers: number, nHeads: number, nKvHeads: number, ffnDim: number, maxSeqLen: number): Preset {
  return {
    modelType: "llama",
    dModel,
    nLayers,
    nHeads,
    nKvHeads,
    headDim: dModel / nHeads,
    ffnDim,
    maxSeqLen,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieEmbeddings: true,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
  };
}

/**
 * Named presets (Llama architecture, tied embeddings). Parameter counts in
 * docs/models.md are for an 8192-token vocabulary; `countParameters` gives the
 * exact figure for any vocabulary.
 */
export const PRESETS = {
  /** ~1.2M parameters: tests and smoke runs. */
  nano: llamaPreset(96, 4, 4, 4, 256, 256),
  /** ~6.6M: learns a handbook's style in minutes on 2 cores. */
  micro: llamaPreset(256, 6, 4, 4, 640, 256),
  /** ~17M (~20M with a 16k vocabulary): d_model 384, 6 layers, 6 heads, context 256. */
  mini: llamaPreset(384, 6, 6, 6, 1536, 256),
  /** ~45M: SmolLM's width, 10 layers. */
  small: llamaPreset(576, 10, 9, 9, 1536, 512),
  /** ~120M: GPT-2-small scale. */
  base: llamaPreset(768, 12, 12, 12, 3072, 1024),
} satisfies Record<string, Preset>;

export type PresetName = keyof typeof PRESETS;

export function presetConfig(name: string, vocabSize: number, overrides: Partial<ModelConfig> = {}): ModelConfig {
  const p = (PRESETS as Record<string, Preset>)[name];
  if (!p) throw new ConfigError(`unknown preset "${name}"`, { hint: `choose one of ${Object.keys(PRESETS).join(", ")}` });
  return validateConfig({ ...p, vocabSize, ...overrides });
}

/** Checks internal consistency; throws ConfigError naming the field. */
export function validateConfig(c: ModelConfig): ModelConfig {
  const posInt = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`${name} must be a positive integer, got ${v}`);
  };
  if (!["llama", "mistral", "qwen2", "gpt2"].includes(c.modelType)) {
    throw new ConfigError(`model_type "${c.modelType}" is not supported`, { hint: "supported: llama, mistral, qwen2, gpt2" });
  }
  posInt("vocab_size", c.vocabSize);
  posInt("hidden_size", c.dModel);
  posInt("num_hidden_layers", c.nLayers);
  posInt("num_attention_heads", c.nHeads);
  posInt("num_key_value_heads", c.nKvHeads);
  posInt("head_dim", c.headDim);
  posInt("intermediate_size", c.ffnDim);
  posInt("max_position_embeddings", c.maxSeqLen);
  if (c.nHeads % c.nKvHeads !== 0) throw new ConfigError(`num_attention_heads (${c.nHeads}) must be a multiple of num_key_value_heads (${c.nKvHeads})`);
  if (c.headDim % 2 !== 0 && c.modelType !== "gpt2") throw new ConfigError(`head_dim must be even for rotary embeddings, got ${c.headDim}`);
  if (!(c.normEps > 0)) throw new ConfigError(`rms_norm_eps / layer_norm_epsilon must be > 0, got ${c.normEps}`);
  if (c.modelType !== "gpt2" && !(c.ropeTheta > 0)) throw new ConfigError(`rope_theta must be > 0, got ${c.ropeTheta}`);
  if (c.modelType === "gpt2") {
    if (c.nKvHeads !== c.nHeads) throw new ConfigError("gpt2 has no grouped-query attention: num_key_value_heads must equal n_head");
    if (!c.tieEmbeddings) throw new ConfigError("gpt2 ties the output head to the token embedding");
  }
  for (const id of [c.bosTokenId, c.eosTokenId]) {
    if (id !== undefined && (!Number.isInteger(id) || id < 0 || id >= c.vocabSize)) {
      throw new ConfigError(`special token id ${id} is outside the vocabulary (0..${c.vocabSize - 1})`);
    }
  }
  return c;
}

/** Exact parameter count of a configuration (the embedding counted once when tied). */
export function countParameters(c: ModelConfig): { total: number; embedding: number; nonEmbedding: number } {
  const d = c.dModel, hd = c.headDim, f = c.ffnDim;
  const qDim = c.nHeads * hd, kvDim = c.nKvHeads * hd;
  let perLayer: number;
  let embedding = c.vocabSize * d;
  let extra = 0;
  if (c.modelType === "gpt2") {
    // ln1 (w,b) + qkv (w,b) + proj (w,b) + ln2 (w,b) + fc (w,b) + proj (w,b)
    perLayer = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * f + f) + (f * d + d);
    embedding += c.maxSeqLen * d; // learned positions
    extra = 2 * d; // final layer norm
  } else {
    perLayer =
      d + // attention norm
      d * qDim + d * kvDim * 2 + qDim * d +
      (c.qkvBias ? qDim + 2 * kvDim : 0) +
      (c.oBias ? d : 0) +
      d + // mlp norm
      3 * d * f +
      (c.mlpBias ? 2 * f + d : 0);
    extra = d; // final norm
  }
  const head = c.tieEmbeddings ? 0 : c.vocabSize * d;
  const nonEmbedding = perLayer * c.nLayers + extra;
  return { total: nonEmbedding + embedding + head, embedding: embedding + head, nonEmbedding };
}

// ---------------------------------------------------------------------------
// Hugging Face config.json

type Json = Record<string, unknown>;

function num(j: Json, key: string, fallback?: number): number {
  const v = j[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`config.json: missing field "${key}"`);
  }
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ConfigError(`config.json: field "${key}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function optId(j: Json, key: string): number | undefined {
  const v = j[key];
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return typeof v[0] === "number" ? v[0] : undefined; // several eos ids: keep the first
  if (typeof v !== "number") throw new ConfigError(`config.json: field "${key}" must be a token id, got ${JSON.stringify(v)}`);
  return v;
}

/** Reads a Hugging Face config.json object. Unsupported features are ConfigErrors naming the field. */
export function fromHfConfig(j: Json): ModelConfig {
  const mt = j.model_type;
  if (typeof mt !== "string") throw new ConfigError('config.json: missing field "model_type"', { hint: "supported: llama, mistral, qwen2, gpt2" });
  if (mt === "gpt2") {
    const act = j.activation_function ?? "gelu_new";
    if (act !== "gelu_new" && act !== "gelu_pytorch_tanh") throw new ConfigError(`config.json: activation_function "${String(act)}" is not supported`, { hint: "supported: gelu_new (tanh approximation)" });
    const d = num(j, "n_embd"), h = num(j, "n_head");
    return validateConfig({
      modelType: "gpt2",
      vocabSize: num(j, "vocab_size"),
      dModel: d,
      nLayers: num(j, "n_layer"),
      nHeads: h,
      nKvHeads: h,
      headDim: d / h,
      ffnDim: num(j, "n_inner", 4 * d),
      maxSeqLen: num(j, "n_positions", num(j, "n_ctx", 1024)),
      normEps: num(j, "layer_norm_epsilon", 1e-5),
      ropeTheta: 0,
      tieEmbeddings: true,
      qkvBias: true,
      oBias: true,
      mlpBias: true,
      bosTokenId: optId(j, "bos_token_id"),
      eosTokenId: optId(j, "eos_token_id"),
    });
  }
  if (mt !== "llama" && mt !== "mistral" && mt !== "qwen2") {
    throw new ConfigError(`config.json: model_type "${mt}" is not supported`, { hint: "supported: llama, mistral, qwen2, gpt2" });
  }
  const act = j.hidden_act ?? "silu";
  if (act !== "silu") throw new ConfigError(`config.json: hidden_act "${String(act)}" is not supported`, { hint: "supported: silu (SwiGLU)" });
  if (j.rope_scaling !== undefined && j.rope_scaling !== null) {
    throw new ConfigError("config.json: rope_scaling is not supported yet", { hint: "remove it to run at the base context length" });
  }
  const d = num(j, "hidden_size"), h = num(j, "num_attention_heads");
  const maxSeqLen = num(j, "max_position_embeddings", 2048);
  const sliding = j.sliding_window;
  const useSliding = j.use_sliding_window;
  if (typeof sliding === "number" && sliding < maxSeqLen && useSliding !== false && mt === "mistral") {
    throw new ConfigError(`config.json: sliding_window ${sliding} < max_position_embeddings ${maxSeqLen} is not supported`, { hint: "set sliding_window to null to use full attention" });
  }
  const attnBias = j.attention_bias === true;
  return validateConfig({
    modelType: mt,
    vocabSize: num(j, "vocab_size"),
    dModel: d,
    nLayers: num(j, "num_hidden_layers"),
    nHeads: h,
    nKvHeads: num(j, "num_key_value_heads", h),
    headDim: num(j, "head_dim", d / h),
    ffnDim: num(j, "intermediate_size"),
    maxSeqLen,
    normEps: num(j, "rms_norm_eps", 1e-6),
    ropeTheta: num(j, "rope_theta", 10000),
    tieEmbeddings: j.tie_word_embeddings === undefined ? mt !== "mistral" && mt !== "llama" ? true : false : j.tie_word_embeddings === true,
    qkvBias: mt === "qwen2" ? true : attnBias,
    oBias: mt === "qwen2" ? false : attnBias,
    mlpBias: j.mlp_bias === true,
    bosTokenId: optId(j, "bos_token_id"),
    eosTokenId: optId(j, "eos_token_id"),
  });
}

/** Writes the Hugging Face config.json object for a configuration. */
export function toHfConfig(c: ModelConfig): Json {
  if (c.modelType === "gpt2") {
    return {
      architectures: ["GPT2LMHeadModel"],
      model_type: "gpt2",
      vocab_size: c.vocabSize,
      n_embd: c.dModel,
      n_layer: c.nLayers,
      n_head: c.nHeads,
      n_inner: c.ffnDim,
      n_positions: c.maxSeqLen,
      n_ctx: c.maxSeqLen,
      layer_norm_epsilon: c.normEps,
      activation_function: "gelu_new",
      bos_token_id: c.bosTokenId ?? null,
      eos_token_id: c.eosTokenId ?? null,
      tie_word_embeddings: true,
      torch_dtype: "float32",
    };
  }
  const arch = { llama: "LlamaForCausalLM", mistral: "MistralForCausalLM", qwen2: "Qwen2ForCausalLM" }[c.modelType];
  const j: Json = {
    architectures: [arch],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.dModel,
    intermediate_size: c.ffnDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.headDim,
    max_position_embeddings: c.maxSeqLen,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    rope_scaling: null,
    hidden_act: "silu",
    tie_word_embeddings: c.tieEmbeddings,
    bos_token_id: c.bosTokenId ?? null,
    eos_token_id: c.eosTokenId ?? null,
    torch_dtype: "float32",
  };
  if (c.modelType === "llama") {
    if (c.qkvBias !== c.oBias) throw new ConfigError("llama config.json cannot express q/k/v bias without o bias (attention_bias covers both); use model_type qwen2");
    j.attention_bias = c.qkvBias;
    j.mlp_bias = c.mlpBias;
  } else if (c.modelType === "qwen2") {
    if (!c.qkvBias || c.oBias) throw new ConfigError("qwen2 has q/k/v biases and no o bias");
    j.use_sliding_window = false;
    j.sliding_window = null;
  } else {
    if (c.qkvBias || c.oBias || c.mlpBias) throw new ConfigError("mistral has no biases");
    j.sliding_window = null;
  }
  return j;
}
