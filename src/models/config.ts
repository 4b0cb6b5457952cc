// Model configuration: one typed object for both families (Llama-style and
// GPT-2), read from and written to the Hugging Face config.json field set,
// plus the named presets. Knows nothing about weights or kernels.
import { ConfigError } from "../errors.ts";
import { parseRopeScaling, ropeScalingToHf, type RopeScaling } from "./rope-scaling.ts";

export type ModelType = "llama" | "mistral" | "qwen2" | "qwen3" | "gemma3_text" | "gpt2";

/** Every model_type we read, in the order error hints list them. */
export const MODEL_TYPES: readonly ModelType[] = ["llama", "mistral", "qwen2", "qwen3", "gemma3_text", "gpt2"];

/** Attention kind of one layer (HF layer_types). */
export type LayerType = "full_attention" | "sliding_attention";

export interface ModelConfig {
  /**
   * HF model_type. llama, mistral, qwen2 and qwen3 (q/k RMSNorm) share the Llama block;
   * gemma3_text (src/models/gemma.ts) and gpt2 are their own.
   */
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
  /** RoPE scaling (HF rope_scaling); absent for plain RoPE. For gemma3_text it applies to full-attention layers only. */
  ropeScaling?: RopeScaling;
  /** gemma3_text: tokens a sliding-attention query sees, itself included (HF sliding_window). */
  slidingWindow?: number;
  /** gemma3_text: per layer, full or sliding-window attention (HF layer_types). */
  layerTypes?: LayerType[];
  /** gemma3_text: RoPE base of the sliding-attention layers (HF rope_local_base_freq). */
  ropeLocalTheta?: number;
  /** gemma3_text: the softmax scale is query_pre_attn_scalar^-1/2 instead of head_dim^-1/2. */
  queryPreAttnScalar?: number;
}

/** Per-head RMSNorm on queries and keys before RoPE (q_norm, k_norm): qwen3 and gemma3_text. */
export function hasQkNorm(c: Pick<ModelConfig, "modelType">): boolean {
  return c.modelType === "qwen3" || c.modelType === "gemma3_text";
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
  if (!MODEL_TYPES.includes(c.modelType)) {
    throw new ConfigError(`model_type "${c.modelType}" is not supported`, { hint: `supported: ${MODEL_TYPES.join(", ")}` });
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
  if (c.ropeScaling && c.modelType === "gpt2") throw new ConfigError("gpt2 has learned positions: rope_scaling does not apply");
  validateGemmaFields(c);
  for (const id of [c.bosTokenId, c.eosTokenId]) {
    if (id !== undefined && (!Number.isInteger(id) || id < 0 || id >= c.vocabSize)) {
      throw new ConfigError(`special token id ${id} is outside the vocabulary (0..${c.vocabSize - 1})`);
    }
  }
  return c;
}

/** Checks the gemma3_text-only fields: present and consistent for gemma3_text, absent otherwise. */
function validateGemmaFields(c: ModelConfig): void {
  const gemmaOnly = { slidingWindow: c.slidingWindow, layerTypes: c.layerTypes, ropeLocalTheta: c.ropeLocalTheta, queryPreAttnScalar: c.queryPreAttnScalar };
  if (c.modelType !== "gemma3_text") {
    for (const [k, v] of Object.entries(gemmaOnly))
      if (v !== undefined) throw new ConfigError(`${k} is a gemma3_text field; model_type ${c.modelType} does not use it`);
    return;
  }
  const w = c.slidingWindow,
    lt = c.layerTypes;
  if (w === undefined || !Number.isInteger(w) || w < 1) throw new ConfigError(`sliding_window must be a positive integer, got ${w}`);
  if (!lt || lt.length !== c.nLayers) throw new ConfigError(`layer_types must list ${c.nLayers} layers, got ${lt ? lt.length : "none"}`);
  lt.forEach((t, i) => {
    if (t !== "full_attention" && t !== "sliding_attention")
      throw new ConfigError(`layer_types[${i}] "${String(t)}" is not supported`, { hint: "full_attention or sliding_attention" });
  });
  if (!(c.ropeLocalTheta! > 0)) throw new ConfigError(`rope_local_base_freq must be > 0, got ${c.ropeLocalTheta}`);
  if (!(c.queryPreAttnScalar! > 0)) throw new ConfigError(`query_pre_attn_scalar must be > 0, got ${c.queryPreAttnScalar}`);
}

/** Exact parameter count of a configuration (the embedding counted once when tied). */
export function countParameters(c: ModelConfig): { total: number; embedding: number; nonEmbedding: number } {
  const d = c.dModel,
    hd = c.headDim,
    f = c.ffnDim;
  const qDim = c.nHeads * hd,
    kvDim = c.nKvHeads * hd;
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
      d * qDim +
      d * kvDim * 2 +
      qDim * d +
      (c.qkvBias ? qDim + 2 * kvDim : 0) +
      (c.oBias ? d : 0) +
      d + // mlp norm
      3 * d * f +
      (c.mlpBias ? 2 * f + d : 0) +
      (hasQkNorm(c) ? 2 * hd : 0) + // q_norm, k_norm
      (c.modelType === "gemma3_text" ? 2 * d : 0); // post-attention and post-MLP norms
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
    if (act !== "gelu_new" && act !== "gelu_pytorch_tanh")
      throw new ConfigError(`config.json: activation_function "${String(act)}" is not supported`, { hint: "supported: gelu_new (tanh approximation)" });
    const d = num(j, "n_embd"),
      h = num(j, "n_head");
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
  if (mt === "gemma3_text") return fromGemma3Config(j);
  if (mt !== "llama" && mt !== "mistral" && mt !== "qwen2" && mt !== "qwen3") {
    const hint =
      mt === "gemma3" ? "that is the multimodal Gemma 3 config; its text_config (model_type gemma3_text) is supported" : `supported: ${MODEL_TYPES.join(", ")}`;
    throw new ConfigError(`config.json: model_type "${mt}" is not supported`, { hint });
  }
  const act = j.hidden_act ?? "silu";
  if (act !== "silu") throw new ConfigError(`config.json: hidden_act "${String(act)}" is not supported`, { hint: "supported: silu (SwiGLU)" });
  const d = num(j, "hidden_size"),
    h = num(j, "num_attention_heads");
  const maxSeqLen = num(j, "max_position_embeddings", 2048);
  const rope = readRope(j, maxSeqLen, 10000);
  const sliding = j.sliding_window;
  const useSliding = j.use_sliding_window;
  if (typeof sliding === "number" && sliding < maxSeqLen && useSliding !== false && mt === "mistral") {
    throw new ConfigError(`config.json: sliding_window ${sliding} < max_position_embeddings ${maxSeqLen} is not supported`, {
      hint: "set sliding_window to null to use full attention",
    });
  }
  if (mt === "qwen3" && useSliding === true) {
    throw new ConfigError("config.json: use_sliding_window true is not supported for qwen3", {
      hint: "set use_sliding_window to false (the released Qwen3 models do)",
    });
  }
  onlyFullAttention(j);
  const attnBias = j.attention_bias === true;
  return validateConfig({
    modelType: mt,
    vocabSize: num(j, "vocab_size"),
    dModel: d,
    nLayers: num(j, "num_hidden_layers"),
    nHeads: h,
    nKvHeads: num(j, "num_key_value_heads", h),
    // Qwen3's config class defaults head_dim to 128, not hidden / heads.
    headDim: num(j, "head_dim", mt === "qwen3" ? 128 : d / h),
    ffnDim: num(j, "intermediate_size"),
    maxSeqLen,
    normEps: num(j, "rms_norm_eps", 1e-6),
    ropeTheta: rope.theta,
    tieEmbeddings: j.tie_word_embeddings === undefined ? mt === "qwen2" : j.tie_word_embeddings === true,
    qkvBias: mt === "qwen2" ? true : attnBias,
    oBias: mt === "qwen2" ? false : attnBias,
    mlpBias: j.mlp_bias === true,
    bosTokenId: optId(j, "bos_token_id"),
    eosTokenId: optId(j, "eos_token_id"),
    ...(rope.scaling ? { ropeScaling: rope.scaling } : {}),
  });
}

/**
 * RoPE base and scaling from either spelling: rope_theta + rope_scaling (transformers 4.x) or
 * rope_parameters { rope_type, rope_theta, ... } (5.x).
 */
function readRope(j: Json, maxSeqLen: number, defaultTheta: number): { theta: number; scaling?: RopeScaling } {
  const rp = j.rope_parameters;
  if (rp !== undefined && rp !== null && typeof rp === "object" && !Array.isArray(rp) && "rope_type" in rp) {
    const p = rp as Json;
    const theta = num(p, "rope_theta", num(j, "rope_theta", defaultTheta));
    return { theta, scaling: parseRopeScaling(p, maxSeqLen, "rope_parameters") };
  }
  return { theta: num(j, "rope_theta", defaultTheta), scaling: parseRopeScaling(j.rope_scaling, maxSeqLen) };
}

/** Newer Llama-family configs list layer_types; we run full attention on every layer only. */
function onlyFullAttention(j: Json): void {
  const lt = j.layer_types;
  if (lt === undefined || lt === null) return;
  if (!Array.isArray(lt) || lt.some((t) => t !== "full_attention")) {
    throw new ConfigError(`config.json: layer_types other than full_attention are not supported for model_type ${String(j.model_type)}`, {
      hint: "sliding-window layers are supported for gemma3_text only",
    });
  }
}

/** Gemma 3 text (Gemma3ForCausalLM). Defaults are those of HF's Gemma3TextConfig. */
function fromGemma3Config(j: Json): ModelConfig {
  const act = j.hidden_activation ?? j.hidden_act ?? "gelu_pytorch_tanh";
  if (act !== "gelu_pytorch_tanh" && act !== "gelu_new") {
    throw new ConfigError(`config.json: hidden_activation "${String(act)}" is not supported`, {
      hint: "supported: gelu_pytorch_tanh (GeGLU with the tanh approximation)",
    });
  }
  for (const key of ["final_logit_softcapping", "attn_logit_softcapping"]) {
    if (j[key] !== undefined && j[key] !== null) {
      throw new ConfigError(`config.json: ${key} ${JSON.stringify(j[key])} is not supported`, {
        hint: "Gemma 3 releases set it to null (soft-capping was Gemma 2's); set it to null",
      });
    }
  }
  if (j.use_bidirectional_attention === true)
    throw new ConfigError("config.json: use_bidirectional_attention true is not supported", { hint: "only causal (decoder) Gemma 3 models are supported" });
  const d = num(j, "hidden_size", 2304),
    h = num(j, "num_attention_heads", 8),
    n = num(j, "num_hidden_layers", 26);
  const maxSeqLen = num(j, "max_position_embeddings", 131072);
  // Rope: 4.x spells rope_theta / rope_local_base_freq / rope_scaling (global layers only);
  // 5.x spells rope_parameters { full_attention: {...}, sliding_attention: {...} }.
  let theta: number, localTheta: number, scaling: RopeScaling | undefined;
  const rp = j.rope_parameters;
  if (rp !== undefined && rp !== null && typeof rp === "object" && !Array.isArray(rp) && "full_attention" in rp) {
    const full = (rp as Json).full_attention as Json,
      local = ((rp as Json).sliding_attention ?? {}) as Json;
    theta = num(full, "rope_theta", 1e6);
    scaling = parseRopeScaling(full, maxSeqLen, "rope_parameters.full_attention");
    localTheta = num(local, "rope_theta", 10000);
    if (parseRopeScaling(local, maxSeqLen, "rope_parameters.sliding_attention")) {
      throw new ConfigError("config.json: RoPE scaling on sliding-attention layers is not supported", { hint: "Gemma 3 scales the global layers only" });
    }
  } else {
    theta = num(j, "rope_theta", 1e6);
    localTheta = num(j, "rope_local_base_freq", 10000);
    scaling = parseRopeScaling(j.rope_scaling, maxSeqLen);
  }
  let layerTypes: LayerType[];
  if (Array.isArray(j.layer_types)) layerTypes = j.layer_types as LayerType[];
  else {
    const pattern = num(j, "sliding_window_pattern", num(j, "_sliding_window_pattern", 6));
    layerTypes = Array.from({ length: n }, (_, i) => ((i + 1) % pattern === 0 ? "full_attention" : "sliding_attention"));
  }
  const attnBias = j.attention_bias === true;
  const headDim = num(j, "head_dim", 256);
  return validateConfig({
    modelType: "gemma3_text",
    vocabSize: num(j, "vocab_size", 262208),
    dModel: d,
    nLayers: n,
    nHeads: h,
    nKvHeads: num(j, "num_key_value_heads", 4),
    headDim,
    ffnDim: num(j, "intermediate_size", 9216),
    maxSeqLen,
    normEps: num(j, "rms_norm_eps", 1e-6),
    ropeTheta: theta,
    tieEmbeddings: j.tie_word_embeddings === undefined ? true : j.tie_word_embeddings === true,
    qkvBias: attnBias,
    oBias: attnBias,
    mlpBias: false,
    bosTokenId: optId(j, "bos_token_id"),
    eosTokenId: optId(j, "eos_token_id"),
    ...(scaling ? { ropeScaling: scaling } : {}),
    slidingWindow: num(j, "sliding_window", 4096),
    layerTypes,
    ropeLocalTheta: localTheta,
    queryPreAttnScalar: num(j, "query_pre_attn_scalar", 256),
  });
}

/** The config.json fields of the transformer's shape, written alike by the RMSNorm architectures (llama family and gemma3_text). */
function hfShapeFields(c: ModelConfig): Json {
  return {
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
  };
}

/** The closing config.json fields: tied embeddings, special token ids, stored dtype. */
function hfTokenFields(c: ModelConfig): Json {
  return {
    tie_word_embeddings: c.tieEmbeddings,
    bos_token_id: c.bosTokenId ?? null,
    eos_token_id: c.eosTokenId ?? null,
    torch_dtype: "float32",
  };
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
  if (c.modelType === "gemma3_text") return toGemma3Config(c);
  const arch = { llama: "LlamaForCausalLM", mistral: "MistralForCausalLM", qwen2: "Qwen2ForCausalLM", qwen3: "Qwen3ForCausalLM" }[c.modelType];
  const j: Json = {
    architectures: [arch],
    model_type: c.modelType,
    ...hfShapeFields(c),
    rope_scaling: ropeScalingToHf(c.ropeScaling),
    hidden_act: "silu",
    ...hfTokenFields(c),
  };
  if (c.modelType === "llama" || c.modelType === "qwen3") {
    if (c.qkvBias !== c.oBias)
      throw new ConfigError("llama config.json cannot express q/k/v bias without o bias (attention_bias covers both); use model_type qwen2");
    j.attention_bias = c.qkvBias;
    if (c.modelType === "llama") j.mlp_bias = c.mlpBias;
    else if (c.mlpBias) throw new ConfigError("qwen3 has no MLP biases");
    if (c.modelType === "qwen3") (j.use_sliding_window = false), (j.sliding_window = null);
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

function toGemma3Config(c: ModelConfig): Json {
  if (c.qkvBias !== c.oBias) throw new ConfigError("gemma3_text config.json cannot express q/k/v bias without o bias (attention_bias covers both)");
  if (c.mlpBias) throw new ConfigError("gemma3_text has no MLP biases");
  return {
    architectures: ["Gemma3ForCausalLM"],
    model_type: "gemma3_text",
    ...hfShapeFields(c),
    rope_local_base_freq: c.ropeLocalTheta,
    rope_scaling: ropeScalingToHf(c.ropeScaling),
    sliding_window: c.slidingWindow,
    layer_types: c.layerTypes,
    query_pre_attn_scalar: c.queryPreAttnScalar,
    hidden_activation: "gelu_pytorch_tanh",
    final_logit_softcapping: null,
    attn_logit_softcapping: null,
    attention_bias: c.qkvBias,
    ...hfTokenFields(c),
  };
}
