// Constrained decoding to JSON (structured output): re-exports only.
export { compileSchema, jsonObjectGrammar, type Grammar, type GrammarNode } from "./grammar.ts";
export { recognize } from "./recognizer.ts";
export { JsonConstraint, JsonMasker, TokenIndex, DEFAULT_MASK_CACHE_IDS, type MaskerStats } from "./token-mask.ts";
export { MaskerCache, DEFAULT_SCHEMA_CACHE } from "./masker-cache.ts";
