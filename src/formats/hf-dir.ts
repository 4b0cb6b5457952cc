// Hugging Face model directories: config.json, model.safetensors (or shards
// with model.safetensors.index.json), tokenizer.json + tokenizer_config.json,
// generation_config.json. Saving writes a complete directory under a
// temporary name and renames it into place, so a reader never sees half a
// model. Loading builds our model from the config and maps the weights.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

import { ConfigError, FormatError } from "../errors.ts";
import { fromHfConfig, modelFor, toHfConfig, type CausalLM, type ModelConfig } from "../models/index.ts";
import { Tokenizer } from "../tokenizer/index.ts";
import { Rng } from "../util/rng.ts";
import { writeDirAtomic, writeFileAtomicSync } from "../util/atomic.ts";
import { qweight, type QType } from "../native/ops/qgemm.ts";
import { resolveCachedModel } from "./hub/cache.ts";
import { loadHfTensors, toHfTensors } from "./hf-weights.ts";
import { quantizeModel } from "./quantize-model.ts";
import { storageTypeFor, type StoragePreset } from "./quant-preset.ts";
import { quantize, type GgmlTypeName } from "./quant.ts";
import { readLlamaGguf } from "./gguf-llama.ts";
import { readLlama2c } from "./llama2c.ts";
import { SafetensorsCheckpoint, writeSafetensors } from "./safetensors.ts";

/** generation_config.json fields we read and write. */
export interface GenerationConfig {
  bos_token_id?: number;
  eos_token_id?: number | number[];
  pad_token_id?: number;
  max_new_tokens?: number;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  do_sample?: boolean;
  repetition_penalty?: number;
  /**
   * What `slm finetune` trained this model for ("chat" or "grounded-qa"); absent for a pretrained
   * model. The served assistant lets a model write answers only when it was trained to (see
   * src/assistant/served.ts). Other tools ignore unknown generation_config.json fields.
   */
  slm_finetune_task?: string;
}

export interface LoadedModel {
  config: ModelConfig;
  model: CausalLM;
  /** Absent for weights without a tokenizer (llama2.c files, bare checkpoints). */
  tokenizer?: Tokenizer;
  generation: GenerationConfig;
  /** Where it came from and in which format; `repo` and `commit` when loaded from the Hugging Face cache by `org/name`. */
  source: { path: string; format: "hf" | "llama2c" | "gguf"; repo?: string; commit?: string };
}

export interface SaveOptions {
  tokenizer?: Tokenizer;
  generation?: GenerationConfig;
  /** Stored dtype of the weights (default F32). */
  dtype?: "F32" | "F16" | "BF16";
  /** Extra metadata in the safetensors header (strings). */
  metadata?: Record<string, string>;
}

function readJson(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new FormatError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const j = JSON.parse(text);
    if (typeof j !== "object" || j === null || Array.isArray(j)) throw new Error("not a JSON object");
    return j;
  } catch (e) {
    throw new FormatError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** Writes `model` (and tokenizer, generation config) as an HF model directory at `dir`, atomically. */
export function saveModelDir(dir: string, model: CausalLM, opts: SaveOptions = {}): void {
  writeDirAtomic(dir, (tmp) => {
    const config: ModelConfig = { ...model.config };
    if (opts.tokenizer) {
      const sp = opts.tokenizer.specialTokens;
      config.bosTokenId ??= firstDefined(sp, ["<|bos|>", "<s>", "<|begin_of_text|>", "<|endoftext|>"]);
      config.eosTokenId ??= firstDefined(sp, ["<|eos|>", "</s>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>"]);
    }
    writeFileAtomicSync(join(tmp, "config.json"), `${JSON.stringify(toHfConfig(config), null, 2)}\n`);
    writeSafetensors(
      join(tmp, "model.safetensors"),
      toHfTensors(model).map((t) => ({ ...t, dtype: opts.dtype ?? "F32" })),
      { format: "pt", ...(opts.metadata ?? {}) },
    );
    const gen: GenerationConfig = { bos_token_id: config.bosTokenId, eos_token_id: config.eosTokenId, ...(opts.generation ?? {}) };
    writeFileAtomicSync(join(tmp, "generation_config.json"), `${JSON.stringify(gen, null, 2)}\n`);
    if (opts.tokenizer) opts.tokenizer.save(tmp);
  });
}

function firstDefined(sp: Record<string, number>, names: string[]): number | undefined {
  for (const n of names) if (sp[n] !== undefined) return sp[n];
  return undefined;
}

/**
 * An Rng that draws nothing, so a model built with it starts all zeros: for
 * models whose every parameter is loaded next. Random init of 120M parameters
 * takes over 10 s, and untouched zero pages cost no memory until the weights
 * land in them.
 */
class NoInitRng extends Rng {
  override fillNormal(out: Float32Array): Float32Array {
    return out;
  }
  override fillUniform(out: Float32Array): Float32Array {
    return out;
  }
}

/** A model of this configuration with zero weights (loadHfTensors then checks every parameter is filled). */
function emptyModel(config: ModelConfig): CausalLM {
  return modelFor(config, new NoInitRng(0));
}

/** How loadModel stores the weights. The default (float32 everywhere) is what training and export need. */
export interface LoadOptions {
  /**
   * For inference: a GGUF file's matrices stay in their stored type (F16, BF16, Q8_0, Q4_0,
   * Q4_K, Q5_K, Q6_K), run by the quantized kernels, instead of being expanded to float32.
   */
  keepQuantized?: boolean;
  /**
   * For inference: float32 matrices (an HF directory, a llama2.c file, F32 tensors of a GGUF
   * file) are quantized to this preset at load (see formats/quant-preset.ts). Matrices a file
   * already stores quantized keep their type. Implies keepQuantized.
   */
  dtype?: StoragePreset;
}

/** Matrix types that stay as stored under LoadOptions.keepQuantized. */
const KEPT_TYPES: ReadonlySet<GgmlTypeName> = new Set<GgmlTypeName>(["F16", "BF16", "Q8_0", "Q4_0", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]);

/** Loads an HF model directory, a llama.cpp .gguf file or a llama2.c .bin file (ids only). */
export function loadModel(path: string, opts: LoadOptions = {}): LoadedModel {
  // `org/name[:revision][/file]` that is not a local path: the Hugging Face cache's snapshot (hub/cache.ts).
  const hub = existsSync(path) ? undefined : resolveCachedModel(path);
  if (hub) {
    const m = loadModel(hub.path, opts);
    return { ...m, source: { ...m.source, repo: hub.ref.repoId, commit: hub.commit } };
  }
  const m = loadModelStored(path, opts);
  if (opts.dtype !== undefined && opts.dtype !== "f32") quantizeModel(m.model, opts.dtype);
  return m;
}

function loadModelStored(path: string, opts: LoadOptions): LoadedModel {
  if (!existsSync(path))
    throw new ConfigError(`model not found: ${path}`, { hint: "pass a model directory (config.json + model.safetensors), a .gguf or a llama2.c .bin file" });
  const isDir = statSync(path).isDirectory();
  if (!isDir && path.endsWith(".bin")) {
    const { config, tensors } = readLlama2c(path);
    const model = emptyModel(config);
    loadHfTensors(model, (n) => tensors.get(n), tensors.keys(), path, true);
    return { config, model, generation: { bos_token_id: config.bosTokenId, eos_token_id: config.eosTokenId }, source: { path, format: "llama2c" } };
  }
  if (!isDir && path.endsWith(".gguf")) return loadGgufModel(path, opts);
  if (!isDir)
    throw new ConfigError(`${path}: not a model directory or a supported model file`, {
      hint: "supported: HF directory, .gguf (llama, qwen2, qwen3, gemma3), .bin (llama2.c)",
    });
  return loadModelDir(path, opts.dtype);
}

/** A llama.cpp GGUF file (llama / qwen2 / qwen3 / gemma3 architectures), with its tokenizer when it has one: float32, or its matrices kept as stored (LoadOptions). */
export function loadGgufModel(path: string, opts: LoadOptions = {}): LoadedModel {
  const keep = opts.keepQuantized === true || opts.dtype !== undefined;
  const g = readLlamaGguf(path, keep ? { keepTypes: KEPT_TYPES } : {});
  const model = emptyModel(g.config);
  // Each dequantized tensor is dropped once copied, so the garbage collector can
  // free it while later parameters fill (their zero pages cost nothing until then).
  // Matrices kept in their stored type are handed over as they are (repacked for
  // the kernels at most), never expanded.
  loadHfTensors(
    model,
    (n) => {
      const s = g.stored.get(n);
      if (s) {
        g.stored.delete(n);
        return { shape: s.shape, quant: qweight(s.type as QType, s.bytes, s.shape[0]!, s.shape[1]!) };
      }
      const t = g.tensors.get(n);
      g.tensors.delete(n);
      return t;
    },
    [...g.tensors.keys(), ...g.stored.keys()],
    path,
    true,
  );
  g.tensors.clear();
  return {
    config: g.config,
    model,
    ...(g.tokenizer ? { tokenizer: g.tokenizer } : {}),
    generation: { bos_token_id: g.config.bosTokenId, eos_token_id: g.config.eosTokenId },
    source: { path, format: "gguf" },
  };
}

/**
 * An HF model directory. With `dtype` (a quantized preset), each matrix the preset quantizes is
 * read into a temporary, quantized and handed over as it is read: the float32 model never exists
 * whole (a 0.5B model would take 2 GB for a moment), and the parameters' zero pages stay untouched.
 */
export function loadModelDir(dir: string, dtype?: StoragePreset): LoadedModel {
  const config = fromHfConfig(readJson(join(dir, "config.json")));
  const model = emptyModel(config);
  const ck = SafetensorsCheckpoint.open(dir);
  // Tensors whose stored shape is the parameter's own are read straight into the
  // parameter (no temporary); the rest (GPT-2's transposed weights, mismatches
  // that loadHfTensors reports) go through a float32 copy.
  const params = new Map(model.namedParameters());
  const gpt2 = config.modelType === "gpt2";
  try {
    loadHfTensors(
      model,
      (n) => {
        const canon = gpt2 && !n.startsWith("transformer.") && !n.startsWith("lm_head.") ? `transformer.${n}` : n;
        const p = params.get(canon);
        const info = ck.info(n);
        const type = dtype !== undefined && p && !gpt2 && info.shape.length === 2 ? storageTypeFor(dtype, canon, info.shape, config) : "F32";
        if (type !== "F32" && KEPT_TYPES.has(type) && p!.shape.every((d, i) => d === info.shape[i])) {
          const t = ck.readFloat32(n); // a temporary, garbage once quantized
          return { shape: info.shape, quant: qweight(type as QType, quantize(type, t.data), info.shape[0]!, info.shape[1]!) };
        }
        if (
          p &&
          !(gpt2 && /\.(c_attn|c_proj|c_fc)\.weight$/.test(canon)) &&
          info.shape.length === p.shape.length &&
          info.shape.every((d, i) => d === p.shape[i])
        ) {
          ck.readFloat32Into(n, p.data);
          return { shape: info.shape, data: p.data };
        }
        return ck.readFloat32(n);
      },
      ck.names,
      dir,
      true,
    );
  } finally {
    ck.close();
  }
  const tokenizer = existsSync(join(dir, "tokenizer.json")) ? Tokenizer.fromFile(dir) : undefined;
  if (tokenizer && tokenizer.vocabSize > config.vocabSize) {
    throw new FormatError(`${dir}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${config.vocabSize}`);
  }
  const generation = existsSync(join(dir, "generation_config.json")) ? (readJson(join(dir, "generation_config.json")) as GenerationConfig) : {};
  return { config, model, tokenizer, generation, source: { path: dir, format: "hf" } };
}

/**
 * Token ids that end a generation: eos ids of generation_config.json and config.json; for a
 * llama2.c file also BOS (its models delimit stories with BOS, as its run.c stops on it); for
 * chat, the tokenizer's end-of-turn special tokens as well.
 */
export function stopTokenIds(m: LoadedModel, chat = false): number[] {
  const ids = new Set<number>();
  const eos = m.generation.eos_token_id;
  for (const id of Array.isArray(eos) ? eos : eos === undefined || eos === null ? [] : [eos]) ids.add(id);
  if (m.config.eosTokenId !== undefined) ids.add(m.config.eosTokenId);
  if (m.source.format === "llama2c" && m.config.bosTokenId !== undefined) ids.add(m.config.bosTokenId);
  const tok = m.tokenizer;
  if (tok) {
    const sp = tok.specialTokens;
    const eosName = tok.spec.config.eos_token;
    if (typeof eosName === "string" && sp[eosName] !== undefined) ids.add(sp[eosName]!);
    if (chat)
      for (const name of ["<|im_end|>", "<|eot_id|>", "<|end|>", "<|endoftext|>", "</s>", "<end_of_turn>"]) if (sp[name] !== undefined) ids.add(sp[name]!);
  }
  return [...ids].filter((id) => Number.isInteger(id) && id >= 0 && id < m.config.vocabSize);
}
