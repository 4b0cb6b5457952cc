// Quantizing a loaded float32 model for inference: each matrix takes the type
// its storage preset names (quant-preset.ts), is encoded with the GGML block
// codecs (quant.ts) and handed to the quantized kernels (Parameter.setQuantized),
// and its float32 values are released. Used by loadModel's `dtype`.
import type { CausalLM } from "../models/index.ts";
import { qweight, type QType } from "../native/ops/qgemm.ts";
import { storageTypeFor, type StoragePreset } from "./quant-preset.ts";
import { quantize } from "./quant.ts";

/** Quantizes every float32 matrix of `model` in place under `preset` (matrices already quantized keep their type). */
export function quantizeModel(model: CausalLM, preset: StoragePreset): void {
  for (const [name, p] of model.namedParameters()) {
    if (p.ndim !== 2 || p.quant !== null) continue;
    const type = storageTypeFor(preset, name, p.shape, model.config);
    if (type === "F32") continue;
    p.setQuantized(qweight(type as QType, quantize(type, p.data), p.shape[0]!, p.shape[1]!));
  }
}
