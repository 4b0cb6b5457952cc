// Storage presets: which ggml type each tensor of a model gets under a named
// preset ("q4_k_m", "q8_0", …), for GGUF export and for quantizing a float
// model at load time. The K-quant mixes follow llama.cpp's presets (facts of
// its llama_tensor_get_type):
//   q4_k_m / q5_k_m: Q4_K / Q5_K, except the output head (or the token
//     embedding when it is tied) at Q6_K, and attn_v and ffn_down at Q6_K in
//     the layers where llama.cpp spends more bits: the first and last eighth of
//     the layers and every third layer between them (use_more_bits).
//   q6_k: Q6_K everywhere.
//   q8_0, q4_0: that type everywhere; under q4_0 the output head is Q8_0 (our
//     exports always did so; llama.cpp picks Q6_K, which shapes whose width is
//     not a multiple of 256 cannot take anyway).
// K-quants need rows that are whole super-blocks of 256 values; a Qwen2.5-0.5B
// (width 896) or SmolLM2-135M (width 576) has such rows only in ffn_down. For
// the other matrices we fall back as llama-quantize does: Q4_K → Q5_0,
// Q5_K → Q5_1, Q6_K → Q8_0 (blocks of 32).
// Rows that are not whole blocks of 32 at all fall back to F16.
// Knows nothing about files: names and shapes in, a type out.
import { ConfigError } from "../errors.ts";
import type { ModelConfig } from "../models/config.ts";
import { traits, type GgmlTypeName } from "./quant.ts";

export const STORAGE_PRESETS = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"] as const;
export type StoragePreset = (typeof STORAGE_PRESETS)[number];

/** llama_ftype value (general.file_type) of each preset. */
export const PRESET_FILE_TYPE: Record<StoragePreset, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_k_m: 15, q5_k_m: 17, q6_k: 18, bf16: 32 };

export function parseStoragePreset(s: string, what = "--dtype"): StoragePreset {
  const p = s.toLowerCase();
  if (!(STORAGE_PRESETS as readonly string[]).includes(p))
    throw new ConfigError(`${what}: "${s}" is not a storage type`, { hint: `choose one of ${STORAGE_PRESETS.join(", ")}` });
  return p as StoragePreset;
}

/** llama.cpp's use_more_bits: the layers whose attn_v / ffn_down get Q6_K under the _M presets. */
export function useMoreBits(layer: number, nLayers: number): boolean {
  const eighth = Math.floor(nLayers / 8); // integer division, as in llama.cpp
  return layer < eighth || layer >= Math.floor((7 * nLayers) / 8) || (layer - eighth) % 3 === 2;
}

const FALLBACK: Partial<Record<GgmlTypeName, GgmlTypeName>> = { Q4_K: "Q5_0", Q5_K: "Q5_1", Q6_K: "Q8_0" };

/** The type a tensor fits in: `want`, or its fallback when its rows are not whole blocks. */
function fitting(want: GgmlTypeName, cols: number): GgmlTypeName {
  let t = want;
  if (cols % traits(t).blockSize !== 0) t = FALLBACK[t] ?? "F16";
  if (cols % traits(t).blockSize !== 0) t = "F16";
  return t;
}

/**
 * The stored type of the tensor `hfName` (Hugging Face name, row-major `shape`) under `preset`.
 * Vectors (norms, biases) stay F32.
 */
export function storageTypeFor(preset: StoragePreset, hfName: string, shape: readonly number[], config: ModelConfig): GgmlTypeName {
  if (shape.length !== 2) return "F32";
  const cols = shape[1]!;
  const isHead = hfName === "lm_head.weight" || (config.tieEmbeddings && (hfName === "model.embed_tokens.weight" || hfName === "transformer.wte.weight"));
  const layer = /\.(?:layers|h)\.(\d+)\./.exec(hfName);
  const moreBits = layer !== null && /(v_proj|down_proj)\.weight$/.test(hfName) && useMoreBits(Number(layer[1]), config.nLayers);
  let want: GgmlTypeName;
  switch (preset) {
    case "f32":
      return "F32";
    case "f16":
      return "F16";
    case "bf16":
      return "BF16";
    case "q8_0":
      want = "Q8_0";
      break;
    case "q4_0":
      want = isHead ? "Q8_0" : "Q4_0";
      break;
    case "q6_k":
      want = "Q6_K";
      break;
    case "q4_k_m":
      want = isHead || moreBits ? "Q6_K" : "Q4_K";
      break;
    case "q5_k_m":
      want = isHead || moreBits ? "Q6_K" : "Q5_K";
      break;
  }
  return fitting(want, cols);
}
