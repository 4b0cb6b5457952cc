// Test helpers for generation and the engine: a tiny random model whose output
// depends on its context. Used by tests only; knows nothing about files.
import { createModel, presetConfig, type CausalLM } from "../models/index.ts";

/**
 * A tiny random model (vocabulary 300, context 64). Weights are scaled up from the default
 * init (std 0.02) so that attention and the MLP move the logits: at the default scale a
 * random model just repeats its last token, which would hide a wrong cache.
 */
export function tinyModel(modelType: "llama" | "gpt2", seed = 3): CausalLM {
  const config = presetConfig("nano", 300, {
    modelType,
    dModel: 32,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: modelType === "gpt2" ? 4 : 2,
    headDim: 8,
    ffnDim: 64,
    maxSeqLen: 64,
    qkvBias: modelType === "gpt2",
    oBias: modelType === "gpt2",
    mlpBias: modelType === "gpt2",
  });
  const model = createModel(config, seed);
  for (const [name, p] of model.namedParameters()) {
    if (/norm|ln/.test(name)) continue;
    for (let i = 0; i < p.data.length; i++) p.data[i]! *= 20;
  }
  return model;
}
