// Models: the config, the three families (Llama, Gemma 3, GPT-2), the KV cache, and one factory.
import { Rng } from "../util/rng.ts";
import type { ModelConfig } from "./config.ts";
import { GemmaModel } from "./gemma.ts";
import { Gpt2Model } from "./gpt2.ts";
import { LlamaModel } from "./llama.ts";

export * from "./config.ts";
export { GemmaModel } from "./gemma.ts";
export { Gpt2Model } from "./gpt2.ts";
export { KvCache, KV_DTYPES, parseKvDtype } from "./kv-cache.ts";
export type { KvCacheOptions, KvDtype, KvFloatView } from "./kv-cache.ts";
export type { ForwardCachedOptions } from "./cached-logits.ts";
export { weightStorage } from "./weight-storage.ts";
export type { WeightStorage } from "./weight-storage.ts";
export { LlamaModel, INIT_STD } from "./llama.ts";

/** Any causal language model slmkit builds. */
export type CausalLM = LlamaModel | GemmaModel | Gpt2Model;

/** A freshly initialised model for a configuration (weights from `seed`). */
export function createModel(config: ModelConfig, seed = 0): CausalLM {
  const rng = new Rng(seed);
  return modelFor(config, rng);
}

/** The model class of a configuration's model_type, initialised from `rng`. */
export function modelFor(config: ModelConfig, rng: Rng): CausalLM {
  if (config.modelType === "gpt2") return new Gpt2Model(config, rng);
  if (config.modelType === "gemma3_text") return new GemmaModel(config, rng);
  return new LlamaModel(config, rng);
}
export { LORA_TARGETS, LoraAdapter, LoraModel, attachLora, matchesTarget, peftPrefix, resolveLora } from "./lora.ts";
export type { LoraOptions, LoraTarget, ResolvedLora } from "./lora.ts";
export { llama3FreqFactors, llama3FromFreqFactors, parseRopeScaling, ropeScalingToHf, scaledInverseFrequencies, scaledRopeTable } from "./rope-scaling.ts";
export type { RopeScaling } from "./rope-scaling.ts";
