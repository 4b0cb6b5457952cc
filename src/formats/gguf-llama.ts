// Llama-family models <-> llama.cpp GGUF files. Maps our in-memory model
// (ModelConfig + float32 tensors under Hugging Face names) to llama.cpp's
// "llama" architecture (llama, mistral) or "qwen2" (q/k/v biases), with the
// {arch}.* metadata keys, llama.cpp tensor names, and the tokenizer keys
// (gguf-tokenizer.ts); and reads such a file back, dequantizing to float32.
// The "llama" architecture rotates interleaved RoPE pairs, so q/k rows (and q/k
// biases) are permuted from rotate-half on write and back on read; "qwen2"
// rotates halves (NeoX style) and needs no permutation.
// Storage: norms and other 1-D tensors stay F32; 2-D weights take the chosen
// dtype. Quantized types need rows that are a multiple of 32 values; other
// matrices fall back to F16. With q4_0 the output head (the token embedding,
// when tied) is stored as Q8_0: llama.cpp keeps it at higher precision too
// (Q6_K, which we do not write).
// Knows nothing about running the model; GPT-2 has no llama.cpp mapping here yet.
import { ConfigError, FormatError } from "../errors.ts";
import { validateConfig, type ModelConfig } from "../models/config.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { GgufFile, gv, kvNumber, kvString, writeGguf, type GgufTensorToWrite, type GgufValue } from "./gguf.ts";
import { tokenizerFromGguf, tokenizerToGguf } from "./gguf-tokenizer.ts";
import type { GgmlTypeName } from "./quant.ts";
import { halfToInterleaved, interleavedToHalf } from "./rope-permute.ts";

export type GgufExportDtype = "f32" | "f16" | "q8_0" | "q4_0";

export interface ModelWeights {
  config: ModelConfig;
  /** Tensors by Hugging Face name, float32, row-major. */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

export interface GgufModel extends ModelWeights {
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

/** llama_ftype values (general.file_type). */
const FILE_TYPE: Record<GgufExportDtype, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7 };
const MATRIX_TYPE: Record<GgufExportDtype, GgmlTypeName> = { f32: "F32", f16: "F16", q8_0: "Q8_0", q4_0: "Q4_0" };

/** Per-layer HF suffix -> GGUF suffix. */
const LAYER_NAMES: [string, string][] = [
  ["input_layernorm.weight", "attn_norm.weight"],
  ["self_attn.q_proj.weight", "attn_q.weight"],
  ["self_attn.k_proj.weight", "attn_k.weight"],
  ["self_attn.v_proj.weight", "attn_v.weight"],
  ["self_attn.o_proj.weight", "attn_output.weight"],
  ["self_attn.q_proj.bias", "attn_q.bias"],
  ["self_attn.k_proj.bias", "attn_k.bias"],
  ["self_attn.v_proj.bias", "attn_v.bias"],
  ["self_attn.o_proj.bias", "attn_output.bias"],
  ["post_attention_layernorm.weight", "ffn_norm.weight"],
  ["mlp.gate_proj.weight", "ffn_gate.weight"],
  ["mlp.up_proj.weight", "ffn_up.weight"],
  ["mlp.down_proj.weight", "ffn_down.weight"],
];
const GLOBAL_NAMES: [string, string][] = [
  ["model.embed_tokens.weight", "token_embd.weight"],
  ["model.norm.weight", "output_norm.weight"],
  ["lm_head.weight", "output.weight"],
];

/** HF name -> GGUF name (undefined for names llama.cpp has no slot for). */
export function hfToGgufName(hf: string): string | undefined {
  for (const [a, b] of GLOBAL_NAMES) if (hf === a) return b;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  if (!m) return undefined;
  for (const [a, b] of LAYER_NAMES) if (m[2] === a) return `blk.${m[1]}.${b}`;
  return undefined;
}

/** GGUF name -> HF name (undefined for names we do not map). */
export function ggufToHfName(g: string): string | undefined {
  for (const [a, b] of GLOBAL_NAMES) if (g === b) return a;
  const m = /^blk\.(\d+)\.(.+)$/.exec(g);
  if (!m) return undefined;
  for (const [a, b] of LAYER_NAMES) if (m[2] === b) return `model.layers.${m[1]}.${a}`;
  return undefined;
}

function archOf(c: ModelConfig): "llama" | "qwen2" {
  if (c.modelType === "gpt2") throw new ConfigError("GGUF export of GPT-2 models is not supported yet", { hint: "export a Llama-family model, or use safetensors" });
  if (c.mlpBias) throw new ConfigError("GGUF export: MLP biases have no slot in llama.cpp's llama architecture");
  if (c.modelType === "qwen2") {
    if (!c.qkvBias || c.oBias) throw new ConfigError("GGUF export: qwen2 needs q/k/v biases and no o bias");
    return "qwen2";
  }
  if (c.qkvBias && c.oBias === false) return "qwen2"; // q/k/v biases only: llama.cpp's qwen2 block exactly
  return "llama";
}

/** The largest context_length a GGUF file may declare (2^20 positions: the RoPE tables are built for all of them). */
export const MAX_CONTEXT_LENGTH = 1 << 20;

/** Expected row-major shape of every tensor of a configuration, by HF name. */
export function expectedShapes(c: ModelConfig): Map<string, number[]> {
  const d = c.dModel, q = c.nHeads * c.headDim, kv = c.nKvHeads * c.headDim, f = c.ffnDim;
  const s = new Map<string, number[]>([["model.embed_tokens.weight", [c.vocabSize, d]], ["model.norm.weight", [d]]]);
  if (!c.tieEmbeddings) s.set("lm_head.weight", [c.vocabSize, d]);
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}.`;
    s.set(p + "input_layernorm.weight", [d]);
    s.set(p + "self_attn.q_proj.weight", [q, d]);
    s.set(p + "self_attn.k_proj.weight", [kv, d]);
    s.set(p + "self_attn.v_proj.weight", [kv, d]);
    s.set(p + "self_attn.o_proj.weight", [d, q]);
    if (c.qkvBias) {
      s.set(p + "self_attn.q_proj.bias", [q]);
      s.set(p + "self_attn.k_proj.bias", [kv]);
      s.set(p + "self_attn.v_proj.bias", [kv]);
    }
    if (c.oBias) s.set(p + "self_attn.o_proj.bias", [d]);
    s.set(p + "post_attention_layernorm.weight", [d]);
    s.set(p + "mlp.gate_proj.weight", [f, d]);
    s.set(p + "mlp.up_proj.weight", [f, d]);
    s.set(p + "mlp.down_proj.weight", [d, f]);
  }
  return s;
}

/** What writeLlamaGguf stored, tensor by tensor. */
export interface GgufExportReport {
  architecture: string;
  tensors: { name: string; shape: number[]; type: GgmlTypeName }[];
}

/** Writes a Llama-family model (and optionally its tokenizer) as a llama.cpp GGUF file, atomically. */
export function writeLlamaGguf(path: string, model: ModelWeights, opts: GgufExportOptions = {}): GgufExportReport {
  const c = validateConfig(model.config);
  const arch = archOf(c);
  const dtype = opts.dtype ?? "f16";
  if (!(dtype in FILE_TYPE)) throw new ConfigError(`GGUF export: dtype "${dtype}" is not supported`, { hint: "choose f32, f16, q8_0 or q4_0" });
  const shapes = expectedShapes(c);
  for (const [name, shape] of shapes) {
    const t = model.tensors.get(name);
    if (!t) throw new ConfigError(`GGUF export: the model has no tensor "${name}"`);
    if (t.shape.join(",") !== shape.join(",") || t.data.length !== shape.reduce((a, b) => a * b, 1)) {
      throw new ConfigError(`GGUF export: tensor "${name}" has shape ${JSON.stringify(t.shape)} (${t.data.length} values), the config needs ${JSON.stringify(shape)}`);
    }
  }
  for (const name of model.tensors.keys()) if (!shapes.has(name)) throw new ConfigError(`GGUF export: tensor "${name}" is not part of a ${c.modelType} model with this config`);
  if (opts.tokenizer && opts.tokenizer.vocabSize > c.vocabSize) {
    throw new ConfigError(`GGUF export: the tokenizer has ${opts.tokenizer.vocabSize} tokens, the model's vocabulary is ${c.vocabSize}`);
  }
  const A = arch;
  const kv: [string, GgufValue][] = [
    ["general.architecture", gv.str(arch)],
    ["general.name", gv.str(opts.name ?? "slmkit model")],
    ["general.file_type", gv.u32(FILE_TYPE[dtype])],
  ];
  if (dtype === "q8_0" || dtype === "q4_0") kv.push(["general.quantization_version", gv.u32(2)]);
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
  if (opts.tokenizer) kv.push(...tokenizerToGguf(opts.tokenizer, { bos: c.bosTokenId, eos: c.eosTokenId }));
  else {
    if (c.bosTokenId !== undefined) kv.push(["tokenizer.ggml.bos_token_id", gv.u32(c.bosTokenId)]);
    if (c.eosTokenId !== undefined) kv.push(["tokenizer.ggml.eos_token_id", gv.u32(c.eosTokenId)]);
  }
  const matrix = MATRIX_TYPE[dtype];
  const headType: GgmlTypeName = dtype === "q4_0" ? "Q8_0" : matrix;
  const out: GgufTensorToWrite[] = [];
  const report: GgufExportReport = { architecture: arch, tensors: [] };
  const add = (hf: string) => {
    const t = model.tensors.get(hf)!;
    const name = hfToGgufName(hf)!;
    let data = t.data;
    if (arch === "llama") {
      const cols = t.shape.length === 2 ? t.shape[1]! : 1;
      if (/q_proj\.(weight|bias)$/.test(hf)) data = halfToInterleaved(data, c.nHeads, c.headDim, cols);
      else if (/k_proj\.(weight|bias)$/.test(hf)) data = halfToInterleaved(data, c.nKvHeads, c.headDim, cols);
    }
    let type: GgmlTypeName = "F32";
    if (t.shape.length === 2) {
      const isHead = name === "output.weight" || (name === "token_embd.weight" && c.tieEmbeddings);
      type = isHead ? headType : matrix;
      if ((type === "Q8_0" || type === "Q4_0") && t.shape[1]! % 32 !== 0) type = "F16";
    }
    out.push({ name, shape: t.shape, type, data });
    report.tensors.push({ name, shape: t.shape, type });
  };
  // llama.cpp's order: embedding, layers, final norm, head.
  add("model.embed_tokens.weight");
  for (let l = 0; l < c.nLayers; l++) for (const [suffix] of LAYER_NAMES) if (shapes.has(`model.layers.${l}.${suffix}`)) add(`model.layers.${l}.${suffix}`);
  add("model.norm.weight");
  if (!c.tieEmbeddings) add("lm_head.weight");
  writeGguf(path, kv, out);
  return report;
}

/** The shortest decimal that is the same float32 (so 1e-5 written as f32 reads back as 1e-5). */
function f32Decimal(x: number): number {
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === Math.fround(x)) return y;
  }
  return x;
}

/** Reads a llama.cpp "llama" or "qwen2" GGUF file into our model form (float32 tensors, HF names, rotate-half q/k). */
export function readLlamaGguf(path: string): GgufModel {
  const f = GgufFile.open(path);
  try {
    const kv = f.kv;
    const fail = (msg: string, hint?: string): never => {
      throw new FormatError(`${path}: ${msg}`, hint ? { hint } : undefined);
    };
    const arch = kvString(kv, "general.architecture") ?? fail("general.architecture is missing");
    if (arch !== "llama" && arch !== "qwen2") fail(`architecture "${arch}" is not supported`, "supported: llama (Llama, Mistral, SmolLM…), qwen2");
    const need = (key: string): number => {
      const v = kvNumber(kv, `${arch}.${key}`);
      if (v === undefined) fail(`${arch}.${key} is missing`);
      if (!Number.isFinite(v!)) fail(`${arch}.${key} is not finite`);
      return v!;
    };
    for (const key of [`${arch}.expert_count`]) if ((kvNumber(kv, key) ?? 0) > 0) fail("mixture-of-experts models are not supported");
    const scaling = kvString(kv, `${arch}.rope.scaling.type`);
    if (scaling !== undefined && scaling !== "none") fail(`RoPE scaling "${scaling}" is not supported yet`);
    if (f.has("rope_freqs.weight")) fail("rope_freqs (Llama 3.1-style RoPE scaling) is not supported yet");
    const dModel = need("embedding_length");
    const nHeads = need("attention.head_count");
    const headDim = kvNumber(kv, `${arch}.attention.key_length`) ?? dModel / nHeads;
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
    let config: ModelConfig;
    try {
      config = validateConfig({
        modelType: arch === "qwen2" ? "qwen2" : "llama",
        vocabSize,
        dModel,
        nLayers: need("block_count"),
        nHeads,
        nKvHeads: kvNumber(kv, `${arch}.attention.head_count_kv`) ?? nHeads,
        headDim,
        ffnDim: need("feed_forward_length"),
        maxSeqLen: need("context_length"),
        normEps: f32Decimal(need("attention.layer_norm_rms_epsilon")),
        ropeTheta: f32Decimal(kvNumber(kv, `${arch}.rope.freq_base`) ?? 10000),
        tieEmbeddings: !f.has("output.weight"),
        qkvBias: f.has("blk.0.attn_q.bias"),
        oBias: f.has("blk.0.attn_output.bias"),
        mlpBias: false,
        bosTokenId: inVocab(bos),
        eosTokenId: inVocab(eos),
      });
    } catch (e) {
      if (e instanceof ConfigError) throw new FormatError(`${path}: ${e.message}`, { cause: e });
      throw e;
    }
    if (arch === "qwen2" && (!config.qkvBias || config.oBias)) fail("a qwen2 file needs attn_q/k/v biases and no attn_output bias");
    if (tok && tok.vocabSize > vocabSize) fail(`the tokenizer has ${tok.vocabSize} tokens but token_embd has ${vocabSize} rows`);
    // The model allocates RoPE tables for every position up front; a corrupted context_length of
    // 10^9 made that a RangeError (or gigabytes). Real GGUF models stay far below this limit.
    if (config.maxSeqLen > MAX_CONTEXT_LENGTH) fail(`context_length ${config.maxSeqLen} is beyond the ${MAX_CONTEXT_LENGTH} positions we load`, "the file is corrupt, or lower the context length");
    // Every layer has at least 9 tensors: a block_count the file cannot hold is refused before
    // expectedShapes lists ~10 names per layer (a corrupted count of 2^24 ran out of Map entries).
    if (config.nLayers * 9 > f.tensorNames.length) fail(`block_count ${config.nLayers} needs at least ${config.nLayers * 9} tensors, the file has ${f.tensorNames.length}`);
    const shapes = expectedShapes(config);
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const g of f.tensorNames) {
      const hf = ggufToHfName(g);
      if (hf === undefined || !shapes.has(hf)) fail(`tensor "${g}" is not part of a ${arch} model with this config`, "the file may use features we do not support");
    }
    for (const [hf, shape] of shapes) {
      const g = hfToGgufName(hf)!;
      if (!f.has(g)) fail(`tensor "${g}" is missing`);
      const info = f.info(g);
      if (info.shape.join(",") !== shape.join(",")) fail(`tensor "${g}" has shape ${JSON.stringify(info.shape)}, the metadata implies ${JSON.stringify(shape)}`);
      let { data } = f.readFloat32(g);
      if (arch === "llama") {
        const cols = shape.length === 2 ? shape[1]! : 1;
        if (/q_proj\.(weight|bias)$/.test(hf)) data = interleavedToHalf(data, config.nHeads, config.headDim, cols);
        else if (/k_proj\.(weight|bias)$/.test(hf)) data = interleavedToHalf(data, config.nKvHeads, config.headDim, cols);
      }
      tensors.set(hf, { shape, data });
    }
    const name = kvString(kv, "general.name");
    return { config, tensors, tokenizer: tok, architecture: arch, ...(name !== undefined ? { name } : {}) };
  } finally {
    f.close();
  }
}
