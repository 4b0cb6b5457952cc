// The speculative-decoding flags of `slm generate` and `slm serve`: --draft
// MODEL (a small model sharing the target's tokenizer) and --no-prompt-lookup.
// Defaults and the policy (when each source drafts) live in
// src/infer/speculative.ts; docs/generate.md explains them.
import type { LoadedModel, LoadOptions } from "../formats/hf-dir.ts";
import { loadDraftModel } from "../formats/draft.ts";
import type { SpeculationOptions } from "../infer/speculative.ts";
import type { Options } from "./command.ts";

export const SPECULATION_FLAGS = { draft: { type: "string" }, "no-prompt-lookup": { type: "boolean" } } as const satisfies Options;

export const SPECULATION_HELP = `  --draft MODEL           speculative decoding with a draft model that shares the model's tokenizer
                          (e.g. a student from slm distill): it proposes tokens, the model checks
                          several per step; the output is the same (docs/generate.md)
  --no-prompt-lookup      do not draft tokens by copying from the prompt (on by default; it pays
                          when answers quote the prompt, and pauses itself when they do not)`;

type Values = { draft?: string; "no-prompt-lookup"?: boolean };

/** SpeculationOptions for a loaded target: the draft loaded (and checked) with the target's load options. */
export function speculationFromFlags(values: Values, target: LoadedModel, load: LoadOptions): SpeculationOptions {
  return {
    promptLookup: !values["no-prompt-lookup"],
    ...(values.draft !== undefined ? { draft: loadDraftModel(values.draft, target, load).model } : {}),
  };
}
