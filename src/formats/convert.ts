// Converting whole models between files: import (HF directory, .gguf or
// llama2.c .bin → an HF model directory) and export (a loaded model → an HF
// directory or a llama.cpp GGUF file at a chosen dtype). Checks the format and
// dtype combination before anything is written, so a refused export leaves no
// file behind; the writers themselves are atomic. Knows nothing about the
// command line: options in, a summary object out.
import { existsSync, statSync } from "node:fs";

import { ConfigError } from "../errors.ts";
import { countParameters, type CausalLM, type ModelConfig } from "../models/index.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { writeLlamaGguf, type GgufExportDtype, type GgufExportReport, type ModelWeights } from "./gguf-llama.ts";
import { loadModel, saveModelDir, type LoadedModel } from "./hf-dir.ts";
import { toHfTensors } from "./hf-weights.ts";
import type { StoragePreset } from "./quant-preset.ts";

export type ExportFormat = "hf" | "gguf";
export type ExportDtype = StoragePreset;

/** Which dtypes each target format can store. */
export const FORMAT_DTYPES: Record<ExportFormat, readonly ExportDtype[]> = {
  hf: ["f32", "f16", "bf16"],
  gguf: ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"],
};

/** Default dtype per format: full precision for HF, llama.cpp's usual f16 for GGUF. */
export const DEFAULT_DTYPE: Record<ExportFormat, ExportDtype> = { hf: "f32", gguf: "f16" };

/**
 * Logit error budgets of a GGUF round trip (model → GGUF → model), per stored dtype:
 * max |Δlogit| over all positions and tokens, divided by the spread (max − min) of
 * the full-precision logits. f32 is exact. Measured on random tiny Llama / Qwen2
 * models (d 64, rows a multiple of 32): f16 ≤ 2.3e-4, q8_0 ≤ 4.9e-3, q4_0 ≤ 6.3e-2
 * (docs/formats.md); the budgets leave about 2-4× headroom. bf16 keeps 8 bits of mantissa
 * to f16's 11 (8× its budget). The K-quant presets are at least as precise as q4_0 (their
 * fallbacks included: rows of 64 take Q4_0 / Q8_0), q6_k and q5_k_m much more so.
 */
export const LOGIT_BUDGETS: Record<GgufExportDtype, number> = {
  f32: 0,
  f16: 1e-3,
  bf16: 8e-3,
  q8_0: 0.015,
  q4_0: 0.15,
  q4_k_m: 0.15,
  q5_k_m: 0.08,
  q6_k: 0.04,
};

const HF_DTYPE = { f32: "F32", f16: "F16", bf16: "BF16" } as const;

/** What a model is, in one line's worth of fields. */
export interface ModelSummary {
  architecture: string;
  parameters: number;
  vocabSize: number;
  layers: number;
  dModel: number;
  tokenizer: boolean;
}

function summarize(config: ModelConfig, tokenizer?: Tokenizer): ModelSummary {
  return {
    architecture: config.modelType,
    parameters: countParameters(config).total,
    vocabSize: config.vocabSize,
    layers: config.nLayers,
    dModel: config.dModel,
    tokenizer: tokenizer !== undefined,
  };
}

/** Throws a ConfigError when `format` cannot store `dtype` (needs no model: check before loading one). */
export function checkFormatDtype(format: ExportFormat, dtype: ExportDtype): void {
  if (!(format in FORMAT_DTYPES)) throw new ConfigError(`unknown export format "${format}"`, { hint: "choose hf or gguf" });
  if (!FORMAT_DTYPES[format].includes(dtype)) {
    const other = (Object.keys(FORMAT_DTYPES) as ExportFormat[]).filter((f) => FORMAT_DTYPES[f].includes(dtype));
    throw new ConfigError(`${format} export cannot store dtype ${dtype}`, {
      hint: `${format} takes ${FORMAT_DTYPES[format].join(", ")}${other.length ? `; ${dtype} is for ${other.join(", ")}` : ""}`,
    });
  }
}

/** Throws a ConfigError when `format` cannot hold `dtype` or this model; call before writing anything. */
export function checkExport(config: ModelConfig, format: ExportFormat, dtype: ExportDtype): void {
  checkFormatDtype(format, dtype);
  if (format === "gguf") {
    if (config.modelType === "gpt2")
      throw new ConfigError("GGUF export of GPT-2 models is not supported", { hint: "export GPT-2 as an HF directory (--format hf)" });
    if (config.mlpBias)
      throw new ConfigError("GGUF export: MLP biases have no slot in llama.cpp's llama architecture", { hint: "export as an HF directory (--format hf)" });
  }
}

/** The model's weights under HF names, as the GGUF writer takes them (no copies: the parameters' own arrays). */
export function modelWeights(model: CausalLM): ModelWeights {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const t of toHfTensors(model)) tensors.set(t.name, { shape: t.shape, data: t.data });
  return { config: model.config, tensors };
}

export interface ExportOptions {
  format: ExportFormat;
  /** Default DEFAULT_DTYPE[format]. */
  dtype?: ExportDtype;
  /** general.name for GGUF. */
  name?: string;
}

export interface ExportResult {
  path: string;
  format: ExportFormat;
  dtype: ExportDtype;
  summary: ModelSummary;
  /** GGUF only: the stored type of each tensor. */
  gguf?: GgufExportReport;
}

/** Writes a loaded model to `out` (a directory for hf, a file for gguf), atomically. */
export function exportModel(m: Pick<LoadedModel, "model" | "tokenizer" | "generation">, out: string, opts: ExportOptions): ExportResult {
  const dtype = opts.dtype ?? DEFAULT_DTYPE[opts.format];
  checkExport(m.model.config, opts.format, dtype);
  if (existsSync(out) && statSync(out).isDirectory() !== (opts.format === "hf")) {
    throw new ConfigError(
      `${out} exists and is ${opts.format === "hf" ? "a file" : "a directory"}; ${opts.format === "hf" ? "an HF export is a directory" : "a GGUF export is a single file"}`,
    );
  }
  const summary = summarize(m.model.config, m.tokenizer);
  if (opts.format === "hf") {
    saveModelDir(out, m.model, {
      ...(m.tokenizer ? { tokenizer: m.tokenizer } : {}),
      generation: m.generation,
      dtype: HF_DTYPE[dtype as keyof typeof HF_DTYPE],
    });
    return { path: out, format: "hf", dtype, summary };
  }
  const gguf = writeLlamaGguf(out, modelWeights(m.model), {
    dtype: dtype as GgufExportDtype,
    ...(m.tokenizer ? { tokenizer: m.tokenizer } : {}),
    ...(opts.name ? { name: opts.name } : {}),
  });
  return { path: out, format: "gguf", dtype, summary, gguf };
}

export interface ImportResult {
  source: { path: string; format: LoadedModel["source"]["format"] };
  out: string;
  dtype: ExportDtype;
  summary: ModelSummary;
}

/**
 * Reads a model in any format loadModel knows and writes it as an HF model
 * directory. `tokenizer` attaches one (e.g. to a llama2.c file, which has none);
 * it must fit the model's vocabulary.
 */
export function importModel(src: string, out: string, opts: { dtype?: "f32" | "f16" | "bf16"; tokenizer?: Tokenizer } = {}): ImportResult {
  const dtype = opts.dtype ?? "f32";
  const m = loadModel(src);
  const tokenizer = opts.tokenizer ?? m.tokenizer;
  if (tokenizer && tokenizer.vocabSize > m.config.vocabSize) {
    throw new ConfigError(`the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${m.config.vocabSize}`);
  }
  const r = exportModel({ model: m.model, generation: m.generation, ...(tokenizer ? { tokenizer } : {}) }, out, { format: "hf", dtype });
  return { source: m.source, out, dtype, summary: r.summary };
}
