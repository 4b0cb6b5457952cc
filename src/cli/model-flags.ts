// The flag every command that runs a model for inference shares: --dtype,
// how its weights are held in memory. A GGUF file keeps the types it stores
// (Q4_0, Q4_K, …) and runs on the quantized kernels; --dtype quantizes float32
// weights at load, or (f32) expands everything to float32 as before.
import type { LoadOptions } from "../formats/hf-dir.ts";
import { parseStoragePreset, STORAGE_PRESETS } from "../formats/quant-preset.ts";
import type { Options } from "./command.ts";

export const MODEL_LOAD_FLAGS = { dtype: { type: "string" } } as const satisfies Options;

export const MODEL_LOAD_HELP = `  --dtype TYPE            weights in memory: a .gguf keeps its stored types by default, other models
                          stay float32; ${STORAGE_PRESETS.filter((p) => p !== "f32").join(", ")} quantize float32
                          weights at load; f32 expands everything to float32`;

/** LoadOptions for inference from --dtype (checked before any model is loaded). */
export function inferenceLoadOptions(values: { dtype?: string }): LoadOptions {
  if (values.dtype === undefined) return { keepQuantized: true };
  const preset = parseStoragePreset(values.dtype);
  return preset === "f32" ? {} : { keepQuantized: true, dtype: preset };
}
