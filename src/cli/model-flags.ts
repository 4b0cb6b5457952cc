// The flags every command that runs a model for inference shares: --dtype,
// how its weights are held in memory, and --kv-dtype, how its KV cache is. A GGUF file keeps the types it stores
// (Q4_0, Q4_K, …) and runs on the quantized kernels; --dtype quantizes float32
// weights at load, or (f32) expands everything to float32 as before.
import { ConfigError, UsageError } from "../errors.ts";
import type { LoadOptions } from "../formats/hf-dir.ts";
import { parseStoragePreset, STORAGE_PRESETS } from "../formats/quant-preset.ts";
import { parseKvDtype, type KvDtype } from "../models/index.ts";
import type { Options } from "./command.ts";

export const MODEL_LOAD_FLAGS = { dtype: { type: "string" }, "kv-dtype": { type: "string" } } as const satisfies Options;

export const MODEL_LOAD_HELP = `  --dtype TYPE            weights in memory: a .gguf keeps its stored types by default, other models
                          stay float32; ${STORAGE_PRESETS.filter((p) => p !== "f32").join(", ")} quantize float32
                          weights at load; f32 expands everything to float32
  --kv-dtype TYPE         KV cache: f32 (default), f16 (half the memory) or q8_0 (about a quarter;
                          head_dim a multiple of 32)`;

/** The KV-cache storage from --kv-dtype (default f32). */
export function kvDtypeFlag(values: { "kv-dtype"?: string }): KvDtype {
  return values["kv-dtype"] === undefined ? "f32" : asUsage(() => parseKvDtype(values["kv-dtype"]!));
}

/** A bad flag value is a usage error (exit 2), whatever the library calls it. */
function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message, e.hint === undefined ? undefined : { hint: e.hint });
    throw e;
  }
}

/** LoadOptions for inference from --dtype (checked before any model is loaded). */
export function inferenceLoadOptions(values: { dtype?: string }): LoadOptions {
  if (values.dtype === undefined) return { keepQuantized: true };
  const preset = asUsage(() => parseStoragePreset(values.dtype!));
  return preset === "f32" ? {} : { keepQuantized: true, dtype: preset };
}
