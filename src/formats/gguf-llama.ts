// Llama-family and Gemma 3 models <-> llama.cpp GGUF files. Maps our
// in-memory model (ModelConfig + float32 tensors under Hugging Face names) to
// llama.cpp's "llama" architecture (llama, mistral), "qwen2" (q/k/v biases),
// "qwen3" (attn_q_norm / attn_k_norm) or "gemma3", with the {arch}.* metadata
// keys, llama.cpp tensor names, and the tokenizer keys (gguf-tokenizer.ts);
// and reads such a file back, dequantizing to float32.
// The "llama" architecture rotates interleaved RoPE pairs, so q/k rows (and q/k
// biases) are permuted from rotate-half on write and back on read; "qwen2",
// "qwen3" and "gemma3" rotate halves (NeoX style) and need no permutation.
// Gemma 3: HF stores RMSNorm weights as w of a (1 + w) scale, llama.cpp as the
// scale itself, so every *norm.weight gets +1 on write and -1 on read; the
// sliding window, its period and the local RoPE base are keys; llama.cpp scales
// queries by 1/√head_dim (1/√(hidden/heads) for its 62-layer 27B), so another
// query_pre_attn_scalar is refused.
// RoPE scaling: linear and yarn as rope.scaling.* keys; llama3 as llama.cpp's
// converter writes it, a rope_freqs.weight tensor of per-frequency divisors.
// Storage: norms and other 1-D tensors stay F32; 2-D weights take the type the
// chosen preset gives them (quant-preset.ts: f32, f16, bf16, q8_0, q4_0, and
// llama.cpp's K-quant mixes q4_k_m, q5_k_m, q6_k), with fallbacks for rows that
// are not whole blocks.
// Knows nothing about running the model; GPT-2 has no llama.cpp mapping here yet.
import { ConfigError, FormatError } from "../errors.ts";
import { hasQkNorm, validateConfig, type LayerType, type ModelConfig } from "../models/config.ts";
import { llama3FreqFactors, llama3FromFreqFactors, type RopeScaling } from "../models/rope-scaling.ts";
import { weightBuffer } from "../native/memory.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { GgufFile, gv, kvNumber, kvString, writeGguf, type GgufTensorToWrite, type GgufValue } from "./gguf.ts";
import { tokenizerFromGguf, tokenizerToGguf } from "./gguf-tokenizer.ts";
import type { GgmlTypeName } from "./quant.ts";
import { PRESET_FILE_TYPE, STORAGE_PRESETS, storageTypeFor, type StoragePreset } from "./quant-preset.ts";
import { halfToInterleaved, interleavedToHalf, interleavedToHalfBytes } from "./rope-permute.ts";

export type GgufExportDtype = StoragePreset;

export interface ModelWeights {
  config: ModelConfig;
  /** Tensors by Hugging Face name, float32, row-major. */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

export interface GgufModel extends ModelWeights {
  /**
   * Matrices kept in their stored type (readLlamaGguf's `keepTypes`), by HF name: rows of GGML
   * blocks, q/k rows already in rotate-half order. Absent from `tensors`.
   */
  stored: Map<string, { shape: number[]; type: GgmlTypeName; bytes: Uint8Array }>;
  /** Built from the tokenizer.ggml.* keys, when the file has them. */
  tokenizer?: Tokenizer;
  architecture: string;
  /** general.name, when present. */
  name?: string;
}

export interface GgufExportOptions {
  /** Storage of 2-D weight matrices. Default "f16". */
  dtype?: GgufExportDtype;
  tokenizer?: Tokenizer;
  /** general.name. Default "slmkit model". */
  name?: string;
}

export type GgufArch = "llama" | "qwen2" | "qwen3" | "gemma3";

/** Per-layer HF suffix -> GGUF suffix of the attention (q_norm / k_norm exist in qwen3 and gemma3 only). */
const ATTENTION_NAMES: [string, string][] = [
  ["input_layernorm.weight", "attn_norm.weight"],
  ["self_attn.q_proj.weight", "attn_q.weight"],
  ["self_attn.k_proj.weight", "attn_k.weight"],
  ["self_attn.v_proj.weight", "attn_v.weight"],
  ["self_attn.o_proj.weight", "attn_output.weight"],
  ["self_attn.q_proj.bias", "attn_q.bias"],
  ["self_attn.k_proj.bias", "attn_k.bias"],
  ["self_attn.v_proj.bias", "attn_v.bias"],
  ["self_attn.o_proj.bias", "attn_output.bias"],
  ["self_attn.q_norm.weight", "attn_q_norm.weight"],
  ["self_attn.k_norm.weight", "attn_k_norm.weight"],
];
const MLP_NAMES: [string, string][] = [
  ["mlp.gate_proj.weight", "ffn_gate.weight"],
  ["mlp.up_proj.weight", "ffn_up.weight"],
  ["mlp.down_proj.weight", "ffn_down.weight"],
];
/** Per-layer HF suffix -> GGUF suffix, for llama, qwen2 and qwen3, in llama.cpp's order. */
const LAYER_NAMES: [string, string][] = [...ATTENTION_NAMES, ["post_attention_layernorm.weight", "ffn_norm.weight"], ...MLP_NAMES];
/** Gemma 3: post_attention_layernorm is the attention output's norm; the MLP has a pre and a post norm. */
const GEMMA3_LAYER_NAMES: [string, string][] = [
  ...ATTENTION_NAMES,
  ["post_attention_layernorm.weight", "post_attention_norm.weight"],
  ["pre_feedforward_layernorm.weight", "ffn_norm.weight"],
  ...MLP_NAMES,
  ["post_feedforward_layernorm.weight", "post_ffw_norm.weight"],
];
const GLOBAL_NAMES: [string, string][] = [
  ["model.embed_tokens.weight", "token_embd.weight"],
  ["model.norm.weight", "output_norm.weight"],
  ["lm_head.weight", "output.weight"],
];

function layerNames(arch: GgufArch): [string, string][] {
  return arch === "gemma3" ? GEMMA3_LAYER_NAMES : LAYER_NAMES;
}

/** HF name -> GGUF name (undefined for names llama.cpp has no slot for). */
export function hfToGgufName(hf: string, arch: GgufArch = "llama"): string | undefined {
  for (const [a, b] of GLOBAL_NAMES) if (hf === a) return b;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  if (!m) return undefined;
  for (const [a, b] of layerNames(arch)) if (m[2] === a) return `blk.${m[1]}.${b}`;
  return undefined;
}

/** GGUF name -> HF name (undefined for names we do not map). */
export function ggufToHfName(g: string, arch: GgufArch = "llama"): string | undefined {
  for (const [a, b] of GLOBAL_NAMES) if (g === b) return a;
  const m = /^blk\.(\d+)\.(.+)$/.exec(g);
  if (!m) return undefined;
  for (const [a, b] of layerNames(arch)) if (m[2] === b) return `model.layers.${m[1]}.${a}`;
  return undefined;
}

/** The softmax scale llama.cpp's gemma3 uses: 1/√head_dim, or 1/√(hidden/heads) for its 62-layer (27B) models. */
function gemma3LlamaCppScalar(c: Pick<ModelConfig, "nLayers" | "dModel" | "nHeads" | "headDim">): number {
  return c.nLayers === 62 ? Math.floor(c.dModel / c.nHeads) : c.headDim;
}

/** The sliding-window period llama.cpp can express (every p-th layer full, the rest sliding), or undefined. */
function slidingPeriod(types: readonly string[]): number | undefined {
  for (let p = 1; p <= types.length + 1; p++) {
    if (types.every((t, i) => (t === "full_attention") === (i % p === p - 1))) return p;
  }
  return undefined;
}

function archOf(c: ModelConfig): GgufArch {
  if (c.modelType === "gpt2")
    throw new ConfigError("GGUF export of GPT-2 models is not supported yet", { hint: "export a Llama-family model, or use safetensors" });
  if (c.mlpBias) throw new ConfigError("GGUF export: MLP biases have no slot in llama.cpp's llama architecture");
  let arch: GgufArch;
  if (c.modelType === "qwen3" || c.modelType === "gemma3_text") {
    arch = c.modelType === "qwen3" ? "qwen3" : "gemma3";
    if (c.qkvBias || c.oBias)
      throw new ConfigError(`GGUF export: llama.cpp's ${arch} block has no attention biases`, { hint: "export as an HF directory (--format hf)" });
  } else if (c.modelType === "qwen2") {
    if (!c.qkvBias || c.oBias) throw new ConfigError("GGUF export: qwen2 needs q/k/v biases and no o bias");
    arch = "qwen2";
  } else if (c.qkvBias && c.oBias === false)
    arch = "qwen2"; // q/k/v biases only: llama.cpp's qwen2 block exactly
  else arch = "llama";
  const s = c.ropeScaling;
  if (s?.type === "llama3" && arch !== "llama")
    throw new ConfigError(`GGUF export: llama3 RoPE scaling (rope_freqs) is read by llama.cpp's llama architecture only, not ${arch}`);
  if (s?.type === "yarn") {
    if (arch === "gemma3")
      throw new ConfigError("GGUF export: yarn on Gemma 3's global layers has no llama.cpp equivalent (its yarn settings apply to every layer)");
    if (s.betaFast !== 32 || s.betaSlow !== 1 || !s.truncate) {
      throw new ConfigError(
        `GGUF export: llama.cpp reads no yarn beta_fast / beta_slow / truncate (it uses 32, 1, rounded); this model has ${s.betaFast}, ${s.betaSlow}, truncate ${s.truncate}`,
      );
    }
  }
  if (arch === "gemma3") {
    const want = gemma3LlamaCppScalar(c);
    if (c.queryPreAttnScalar !== want) {
      throw new ConfigError(`GGUF export: llama.cpp's gemma3 scales queries by 1/√${want}; this model's query_pre_attn_scalar is ${c.queryPreAttnScalar}`, {
        hint: "export as an HF directory (--format hf)",
      });
    }
    if (c.layerTypes!.some((t) => t === "sliding_attention") && slidingPeriod(c.layerTypes!) === undefined) {
      throw new ConfigError("GGUF export: llama.cpp's gemma3 needs layer_types to repeat with a period (sliding layers, then one full layer)", {
        hint: `this model has ${c.layerTypes!.join(", ")}`,
      });
    }
  }
  return arch;
}

/** The largest context_length a GGUF file may declare (2^20 positions: the RoPE tables are built for all of them). */
const MAX_CONTEXT_LENGTH = 1 << 20;

/** Expected row-major shape of every tensor of a configuration, by HF name. */
export function expectedShapes(c: ModelConfig): Map<string, number[]> {
  const d = c.dModel,
    q = c.nHeads * c.headDim,
    kv = c.nKvHeads * c.headDim,
    f = c.ffnDim;
  const s = new Map<string, number[]>([
    ["model.embed_tokens.weight", [c.vocabSize, d]],
    ["model.norm.weight", [d]],
  ]);
  if (!c.tieEmbeddings) s.set("lm_head.weight", [c.vocabSize, d]);
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}.`;
    s.set(`${p}input_layernorm.weight`, [d]);
    s.set(`${p}self_attn.q_proj.weight`, [q, d]);
    s.set(`${p}self_attn.k_proj.weight`, [kv, d]);
    s.set(`${p}self_attn.v_proj.weight`, [kv, d]);
    s.set(`${p}self_attn.o_proj.weight`, [d, q]);
    if (c.qkvBias) {
      s.set(`${p}self_attn.q_proj.bias`, [q]);
      s.set(`${p}self_attn.k_proj.bias`, [kv]);
      s.set(`${p}self_attn.v_proj.bias`, [kv]);
    }
    if (c.oBias) s.set(`${p}self_attn.o_proj.bias`, [d]);
    if (hasQkNorm(c)) {
      s.set(`${p}self_attn.q_norm.weight`, [c.headDim]);
      s.set(`${p}self_attn.k_norm.weight`, [c.headDim]);
    }
    s.set(`${p}post_attention_layernorm.weight`, [d]);
    if (c.modelType === "gemma3_text") {
      s.set(`${p}pre_feedforward_layernorm.weight`, [d]);
      s.set(`${p}post_feedforward_layernorm.weight`, [d]);
    }
    s.set(`${p}mlp.gate_proj.weight`, [f, d]);
    s.set(`${p}mlp.up_proj.weight`, [f, d]);
    s.set(`${p}mlp.down_proj.weight`, [d, f]);
  }
  return s;
}

/** What writeLlamaGguf stored, tensor by tensor. */
export interface GgufExportReport {
  architecture: string;
  tensors: { name: string; shape: number[]; type: GgmlTypeName }[];
}

/** Writes a Llama-family or Gemma 3 model (and optionally its tokenizer) as a llama.cpp GGUF file, atomically; what llama.cpp cannot express is a ConfigError before anything is written. */
export function writeLlamaGguf(path: string, model: ModelWeights, opts: GgufExportOptions = {}): GgufExportReport {
  const c = validateConfig(model.config);
  const arch = archOf(c);
  const dtype = opts.dtype ?? "f16";
  if (!(dtype in PRESET_FILE_TYPE))
    throw new ConfigError(`GGUF export: dtype "${dtype}" is not supported`, { hint: `choose one of ${STORAGE_PRESETS.join(", ")}` });
  const shapes = expectedShapes(c);
  for (const [name, shape] of shapes) {
    const t = model.tensors.get(name);
    if (!t) throw new ConfigError(`GGUF export: the model has no tensor "${name}"`);
    if (t.shape.join(",") !== shape.join(",") || t.data.length !== shape.reduce((a, b) => a * b, 1)) {
      throw new ConfigError(
        `GGUF export: tensor "${name}" has shape ${JSON.stringify(t.shape)} (${t.data.length} values), the config needs ${JSON.stringify(shape)}`,
      );
    }
  }
  for (const name of model.tensors.keys())
    if (!shapes.has(name)) throw new ConfigError(`GGUF export: tensor "${name}" is not part of a ${c.modelType} model with this config`);
  if (opts.tokenizer && opts.tokenizer.vocabSize > c.vocabSize) {
    throw new ConfigError(`GGUF export: the tokenizer has ${opts.tokenizer.vocabSize} tokens, the model's vocabulary is ${c.vocabSize}`);
  }
  const A = arch;
  const kv: [string, GgufValue][] = [
    ["general.architecture", gv.str(arch)],
    ["general.name", gv.str(opts.name ?? "slmkit model")],
    ["general.file_type", gv.u32(PRESET_FILE_TYPE[dtype])],
  ];
  if (dtype !== "f32" && dtype !== "f16" && dtype !== "bf16") kv.push(["general.quantization_version", gv.u32(2)]);
  kv.push(
    [`${A}.vocab_size`, gv.u32(c.vocabSize)],
    [`${A}.context_length`, gv.u32(c.maxSeqLen)],
    [`${A}.embedding_length`, gv.u32(c.dModel)],
    [`${A}.block_count`, gv.u32(c.nLayers)],
    [`${A}.feed_forward_length`, gv.u32(c.ffnDim)],
    [`${A}.rope.dimension_count`, gv.u32(c.headDim)],
    [`${A}.attention.head_count`, gv.u32(c.nHeads)],
    [`${A}.attention.head_count_kv`, gv.u32(c.nKvHeads)],
    [`${A}.attention.key_length`, gv.u32(c.headDim)],
    [`${A}.attention.value_length`, gv.u32(c.headDim)],
    [`${A}.attention.layer_norm_rms_epsilon`, gv.f32(c.normEps)],
    [`${A}.rope.freq_base`, gv.f32(c.ropeTheta)],
  );
  kv.push(...ropeScalingKeys(A, c.ropeScaling));
  if (arch === "gemma3") {
    const period = slidingPeriod(c.layerTypes!);
    if (c.layerTypes!.some((t) => t === "sliding_attention")) {
      kv.push(
        [`${A}.attention.sliding_window`, gv.u32(c.slidingWindow!)],
        [`${A}.attention.sliding_window_pattern`, gv.u32(period!)],
        [`${A}.rope.freq_base_swa`, gv.f32(c.ropeLocalTheta!)],
      );
    }
  }
  if (opts.tokenizer) kv.push(...tokenizerToGguf(opts.tokenizer, { bos: c.bosTokenId, eos: c.eosTokenId, padTo: c.vocabSize }));
  else {
    if (c.bosTokenId !== undefined) kv.push(["tokenizer.ggml.bos_token_id", gv.u32(c.bosTokenId)]);
    if (c.eosTokenId !== undefined) kv.push(["tokenizer.ggml.eos_token_id", gv.u32(c.eosTokenId)]);
  }
  const out: GgufTensorToWrite[] = [];
  const report: GgufExportReport = { architecture: arch, tensors: [] };
  const add = (hf: string) => {
    const t = model.tensors.get(hf)!;
    const name = hfToGgufName(hf, arch)!;
    let data = t.data;
    if (arch === "gemma3" && hf.endsWith("norm.weight")) data = Float32Array.from(data, (w) => w + 1); // (1 + w) stored as the scale
    if (arch === "llama") {
      const cols = t.shape.length === 2 ? t.shape[1]! : 1;
      if (/q_proj\.(weight|bias)$/.test(hf)) data = halfToInterleaved(data, c.nHeads, c.headDim, cols);
      else if (/k_proj\.(weight|bias)$/.test(hf)) data = halfToInterleaved(data, c.nKvHeads, c.headDim, cols);
    }
    const type: GgmlTypeName = storageTypeFor(dtype, hf, t.shape, c);
    out.push({ name, shape: t.shape, type, data });
    report.tensors.push({ name, shape: t.shape, type });
  };
  // llama.cpp's order: embedding, layers, final norm, head.
  add("model.embed_tokens.weight");
  if (c.ropeScaling?.type === "llama3") {
    // As llama.cpp's converter: one (rot/2) tensor of divisors of the base frequencies, before the blocks.
    const factors = llama3FreqFactors(c.headDim, c.ropeTheta, c.ropeScaling);
    out.push({ name: "rope_freqs.weight", shape: [factors.length], type: "F32", data: factors });
    report.tensors.push({ name: "rope_freqs.weight", shape: [factors.length], type: "F32" });
  }
  for (let l = 0; l < c.nLayers; l++)
    for (const [suffix] of layerNames(arch)) if (shapes.has(`model.layers.${l}.${suffix}`)) add(`model.layers.${l}.${suffix}`);
  add("model.norm.weight");
  if (!c.tieEmbeddings) add("lm_head.weight");
  writeGguf(path, kv, out);
  return report;
}

/** llama.cpp's rope.scaling.* keys for linear and yarn (llama3 is a tensor, none writes nothing). */
function ropeScalingKeys(A: string, s: RopeScaling | undefined): [string, GgufValue][] {
  if (!s || s.type === "llama3") return [];
  const kv: [string, GgufValue][] = [
    [`${A}.rope.scaling.type`, gv.str(s.type)],
    [`${A}.rope.scaling.factor`, gv.f32(s.factor)],
  ];
  if (s.type === "yarn") {
    kv.push([`${A}.rope.scaling.original_context_length`, gv.u32(s.originalMaxPositions)]);
    // llama.cpp multiplies its own 0.1·ln(factor) + 1 by rope.scaling.attn_factor.
    const rel = s.attentionFactor / (0.1 * Math.log(s.factor) + 1);
    if (Math.abs(rel - 1) > 1e-7) kv.push([`${A}.rope.scaling.attn_factor`, gv.f32(rel)]);
  }
  return kv;
}

/** The shortest decimal that is the same float32 (so 1e-5 written as f32 reads back as 1e-5). */
function f32Decimal(x: number): number {
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === Math.fround(x)) return y;
  }
  return x;
}

export interface GgufReadOptions {
  /** 2-D tensors stored in one of these types are returned as their bytes in `stored` instead of dequantized. */
  keepTypes?: ReadonlySet<GgmlTypeName>;
}

/** Reads a llama.cpp "llama", "qwen2", "qwen3" or "gemma3" GGUF file into our model form (float32 tensors, HF names, rotate-half q/k, Gemma norms as w of 1 + w). */
export function readLlamaGguf(path: string, opts: GgufReadOptions = {}): GgufModel {
  const f = GgufFile.open(path);
  try {
    const kv = f.kv;
    const fail = (msg: string, hint?: string): never => {
      throw new FormatError(`${path}: ${msg}`, hint ? { hint } : undefined);
    };
    const arch = kvString(kv, "general.architecture") ?? fail("general.architecture is missing");
    if (arch !== "llama" && arch !== "qwen2" && arch !== "qwen3" && arch !== "gemma3")
      fail(`architecture "${arch}" is not supported`, "supported: llama (Llama, Mistral, SmolLM…), qwen2, qwen3, gemma3");
    const A = arch as GgufArch;
    const need = (key: string): number => {
      const v = kvNumber(kv, `${arch}.${key}`);
      if (v === undefined) fail(`${arch}.${key} is missing`);
      if (!Number.isFinite(v!)) fail(`${arch}.${key} is not finite`);
      return v!;
    };
    for (const key of [`${arch}.expert_count`]) if ((kvNumber(kv, key) ?? 0) > 0) fail("mixture-of-experts models are not supported");
    const dModel = need("embedding_length");
    const nHeads = need("attention.head_count");
    const headDim = kvNumber(kv, `${arch}.attention.key_length`) ?? dModel / nHeads;
    const ropeTheta = f32Decimal(kvNumber(kv, `${arch}.rope.freq_base`) ?? 10000);
    const ropeScaling = readRopeScaling(f, kv, A, headDim, ropeTheta, fail);
    const rotDims = kvNumber(kv, `${arch}.rope.dimension_count`) ?? headDim;
    if (rotDims !== headDim) fail(`partial rotary embeddings (rope.dimension_count ${rotDims} < head size ${headDim}) are not supported`);
    const valueLen = kvNumber(kv, `${arch}.attention.value_length`);
    if (valueLen !== undefined && valueLen !== headDim) fail(`value head size ${valueLen} differs from key head size ${headDim}; not supported`);
    const embd = f.has("token_embd.weight") ? f.info("token_embd.weight") : fail('tensor "token_embd.weight" is missing');
    const tok = tokenizerFromGguf(kv);
    const bos = kvNumber(kv, "tokenizer.ggml.bos_token_id");
    const eos = kvNumber(kv, "tokenizer.ggml.eos_token_id");
    const vocabSize = embd.shape[0]!;
    const inVocab = (x: number | undefined) => (x !== undefined && Number.isInteger(x) && x >= 0 && x < vocabSize ? x : undefined);
    const nLayers = need("block_count");
    let config: ModelConfig;
    try {
      config = validateConfig({
        modelType: arch === "qwen2" ? "qwen2" : arch === "qwen3" ? "qwen3" : arch === "gemma3" ? "gemma3_text" : "llama",
        vocabSize,
        dModel,
        nLayers,
        nHeads,
        nKvHeads: kvNumber(kv, `${arch}.attention.head_count_kv`) ?? nHeads,
        headDim,
        ffnDim: need("feed_forward_length"),
        maxSeqLen: need("context_length"),
        normEps: f32Decimal(need("attention.layer_norm_rms_epsilon")),
        ropeTheta,
        tieEmbeddings: !f.has("output.weight"),
        qkvBias: f.has("blk.0.attn_q.bias"),
        oBias: f.has("blk.0.attn_output.bias"),
        mlpBias: false,
        bosTokenId: inVocab(bos),
        eosTokenId: inVocab(eos),
        ...(ropeScaling ? { ropeScaling } : {}),
        ...(arch === "gemma3" ? gemma3Fields(kv, nLayers, dModel, nHeads, headDim, fail) : {}),
      });
    } catch (e) {
      if (e instanceof ConfigError) throw new FormatError(`${path}: ${e.message}`, { cause: e });
      throw e;
    }
    if (arch === "qwen2" && (!config.qkvBias || config.oBias)) fail("a qwen2 file needs attn_q/k/v biases and no attn_output bias");
    if (tok && tok.vocabSize > vocabSize) fail(`the tokenizer has ${tok.vocabSize} tokens but token_embd has ${vocabSize} rows`);
    // The model allocates RoPE tables for every position up front; a corrupted context_length of
    // 10^9 made that a RangeError (or gigabytes). Real GGUF models stay far below this limit.
    if (config.maxSeqLen > MAX_CONTEXT_LENGTH)
      fail(`context_length ${config.maxSeqLen} is beyond the ${MAX_CONTEXT_LENGTH} positions we load`, "the file is corrupt, or lower the context length");
    // Every layer has at least 9 tensors: a block_count the file cannot hold is refused before
    // expectedShapes lists ~10 names per layer (a corrupted count of 2^24 ran out of Map entries).
    if (config.nLayers * 9 > f.tensorNames.length)
      fail(`block_count ${config.nLayers} needs at least ${config.nLayers * 9} tensors, the file has ${f.tensorNames.length}`);
    const shapes = expectedShapes(config);
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    const stored: GgufModel["stored"] = new Map();
    for (const g of f.tensorNames) {
      if (g === "rope_freqs.weight") continue; // read into ropeScaling above
      const hf = ggufToHfName(g, A);
      if (hf === undefined || !shapes.has(hf))
        fail(`tensor "${g}" is not part of a ${arch} model with this config`, "the file may use features we do not support");
    }
    // The tensors kept in their stored types go into one buffer (huge pages where the addon can:
    // src/native/memory.ts), each at a 64-byte aligned offset.
    const kept = (hf: string, shape: number[]) => {
      const g = hfToGgufName(hf, A)!;
      return shape.length === 2 && f.has(g) && opts.keepTypes?.has(f.info(g).type.name) === true;
    };
    let keptBytes = 0;
    for (const [hf, shape] of shapes) if (kept(hf, shape)) keptBytes += align64(f.info(hfToGgufName(hf, A)!).end - f.info(hfToGgufName(hf, A)!).begin);
    const arena = keptBytes > 0 ? weightBuffer(keptBytes) : new Uint8Array(0);
    let at = 0;
    for (const [hf, shape] of shapes) {
      const g = hfToGgufName(hf, A)!;
      if (!f.has(g)) fail(`tensor "${g}" is missing`);
      const info = f.info(g);
      if (info.shape.join(",") !== shape.join(","))
        fail(`tensor "${g}" has shape ${JSON.stringify(info.shape)}, the metadata implies ${JSON.stringify(shape)}`);
      if (kept(hf, shape)) {
        const size = info.end - info.begin;
        const bytes = f.readInto(g, arena.subarray(at, at + size));
        at += align64(size);
        if (arch === "llama" && /(q|k)_proj\.weight$/.test(hf))
          bytes.set(interleavedToHalfBytes(bytes, /q_proj/.test(hf) ? config.nHeads : config.nKvHeads, config.headDim, bytes.length / shape[0]!));
        stored.set(hf, { shape, type: info.type.name, bytes });
        continue;
      }
      let { data } = f.readFloat32(g);
      if (arch === "gemma3" && hf.endsWith("norm.weight")) for (let i = 0; i < data.length; i++) data[i] = data[i]! - 1; // the stored scale is 1 + w
      if (arch === "llama") {
        const cols = shape.length === 2 ? shape[1]! : 1;
        if (/q_proj\.(weight|bias)$/.test(hf)) data = interleavedToHalf(data, config.nHeads, config.headDim, cols);
        else if (/k_proj\.(weight|bias)$/.test(hf)) data = interleavedToHalf(data, config.nKvHeads, config.headDim, cols);
      }
      tensors.set(hf, { shape, data });
    }
    const name = kvString(kv, "general.name");
    return { config, tensors, stored, tokenizer: tok, architecture: arch, ...(name !== undefined ? { name } : {}) };
  } finally {
    f.close();
  }
}

type Fail = (msg: string, hint?: string) => never;

function align64(n: number): number {
  return Math.ceil(n / 64) * 64;
}

/** rope.scaling.type linear / yarn, or a llama3 rope_freqs.weight tensor; none gives undefined. */
function readRopeScaling(f: GgufFile, kv: Map<string, GgufValue>, A: GgufArch, headDim: number, theta: number, fail: Fail): RopeScaling | undefined {
  const type = kvString(kv, `${A}.rope.scaling.type`);
  if (f.has("rope_freqs.weight")) {
    if (type !== undefined && type !== "none") fail(`both rope_freqs.weight and rope.scaling.type "${type}" are set`);
    const factors = f.readFloat32("rope_freqs.weight").data;
    if (factors.length !== headDim / 2) fail(`rope_freqs.weight has ${factors.length} values, head size ${headDim} needs ${headDim / 2}`);
    const s = llama3FromFreqFactors(headDim, theta, factors);
    if (!s)
      fail(
        "rope_freqs.weight does not match Llama 3's RoPE scaling with a published setting (low 1, high 4, original context 8192…)",
        "other per-frequency factors are not supported",
      );
    return s;
  }
  if (type === undefined || type === "none") return undefined;
  const factor = kvNumber(kv, `${A}.rope.scaling.factor`);
  if (factor === undefined || !(factor >= 1)) fail(`rope.scaling.factor must be >= 1 for "${type}" scaling, got ${factor}`);
  if (type === "linear") return { type: "linear", factor: f32Decimal(factor!) };
  if (type === "yarn") {
    const orig = kvNumber(kv, `${A}.rope.scaling.original_context_length`);
    if (orig === undefined || !Number.isInteger(orig) || orig < 1) fail("yarn scaling needs rope.scaling.original_context_length");
    const rel = kvNumber(kv, `${A}.rope.scaling.attn_factor`) ?? 1;
    if ((kvNumber(kv, `${A}.rope.scaling.yarn_log_multiplier`) ?? 0) !== 0)
      fail("yarn with rope.scaling.yarn_log_multiplier (DeepSeek's mscale_all_dim) is not supported");
    const fac = f32Decimal(factor!);
    return {
      type: "yarn",
      factor: fac,
      originalMaxPositions: orig!,
      betaFast: 32,
      betaSlow: 1,
      attentionFactor: f32Decimal(rel) * (0.1 * Math.log(fac) + 1),
      truncate: true,
    };
  }
  return fail(`RoPE scaling "${type}" is not supported`, "supported: linear, yarn, llama3 (rope_freqs.weight)");
}

/** The gemma3_text fields of a gemma3 GGUF, with llama.cpp's defaults (period 6, local base 10000). */
function gemma3Fields(
  kv: Map<string, GgufValue>,
  nLayers: number,
  dModel: number,
  nHeads: number,
  headDim: number,
  fail: Fail,
): Pick<ModelConfig, "slidingWindow" | "layerTypes" | "ropeLocalTheta" | "queryPreAttnScalar"> {
  const window = kvNumber(kv, "gemma3.attention.sliding_window") ?? 0;
  const patternValue = kv.get("gemma3.attention.sliding_window_pattern");
  if (patternValue !== undefined && patternValue.type === "array")
    fail("a per-layer gemma3.attention.sliding_window_pattern array is not supported", "a period (u32) is");
  const period = kvNumber(kv, "gemma3.attention.sliding_window_pattern") ?? 6;
  if ((kvNumber(kv, "gemma3.final_logit_softcapping") ?? 0) !== 0) fail("gemma3.final_logit_softcapping is not supported");
  const layerTypes: LayerType[] = Array.from({ length: nLayers }, (_, i) =>
    window > 0 && (period === 0 || i % period < period - 1) ? "sliding_attention" : "full_attention",
  );
  return {
    // No window: every layer is full and the window field only has to be valid.
    slidingWindow: window > 0 ? window : 1,
    layerTypes,
    ropeLocalTheta: f32Decimal(kvNumber(kv, "gemma3.rope.freq_base_swa") ?? 10000),
    queryPreAttnScalar: gemma3LlamaCppScalar({ nLayers, dModel, nHeads, headDim }),
  };
}
