// Models: the config, the two families, the KV cache, and one factory.
import { Rng } from "../util/rng.ts";
import type { ModelConfig } from "./config.ts";
import { Gpt2Model } from "./gpt2.ts";
import { LlamaModel } from "./llama.ts";

export * from "./config.ts";
export { Gpt2Model } from "./gpt2.ts";
export { KvCache } from "./kv-cache.ts";
export type { ForwardCachedOptions } from "./cached-logits.ts";
export { weightStorage } from "./weight-storage.ts";
export type { WeightStorage } from "./weight-storage.ts";
export { LlamaModel, INIT_STD } from "./llama.ts";

/** Any causal language model slmkit builds. */
export type CausalLM = LlamaModel | Gpt2Model;

/** A freshly initialised model for a configuration (weights from `seed`). */
export function createModel(config: ModelConfig, seed = 0): CausalLM {
  const rng = new Rng(seed);
  return config.modelType === "gpt2" ? new Gpt2Model(config, rng) : new LlamaModel(config, rng);
}
export { LORA_TARGETS, LoraAdapter, LoraModel, attachLora, matchesTarget, peftPrefix, resolveLora } from "./lora.ts";
export type { LoraOptions, LoraTarget, ResolvedLora } from "./lora.ts";
