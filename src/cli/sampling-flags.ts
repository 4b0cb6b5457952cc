// The sampling flags shared by `slm generate` and `slm chat` (--max-tokens,
// --temperature, --top-k, --top-p, --min-p, --repetition-penalty, --seed),
// their help text, and their values: a flag, else the model's
// generation_config.json, else the built-in default. Knows nothing about
// either command.
import { ConfigError, UsageError, isSlmError } from "../errors.ts";
import type { GenerationConfig } from "../formats/hf-dir.ts";
import { normalizeSampling, type SamplingOptions } from "../infer/sampler.ts";
import { intFlag, numFlag, type Options } from "./command.ts";

/** Built-in defaults, used when neither a flag nor generation_config.json sets a value. */
const DEFAULT_MAX_TOKENS = 128;
const DEFAULT_TEMPERATURE = 0.8;

export const SAMPLING_FLAGS = {
  "max-tokens": { type: "string" },
  temperature: { type: "string" },
  "top-k": { type: "string" },
  "top-p": { type: "string" },
  "min-p": { type: "string" },
  "repetition-penalty": { type: "string" },
  seed: { type: "string" },
} as const satisfies Options;

export const SAMPLING_HELP = `  --max-tokens N          most tokens to generate (default: max_new_tokens of generation_config.json, else ${DEFAULT_MAX_TOKENS})
  --temperature T         0 = greedy (default: generation_config.json, greedy when it says do_sample: false, else ${DEFAULT_TEMPERATURE})
  --top-k K               keep the K most likely tokens, 0 = off (default: top_k of generation_config.json, else 0)
  --top-p P               nucleus sampling, 1 = off (default: top_p, else 1)
  --min-p P               drop tokens below P x the top probability, 0 = off (default 0)
  --repetition-penalty R  > 1 discourages repeats, 1 = off (default: repetition_penalty, else 1)
  --seed N                random seed (default: a random one, printed with --json)`;

type FlagValues = { [K in keyof typeof SAMPLING_FLAGS]?: string };

/** Sampling options, token budget and seed from flags, falling back to generation_config.json, then built-in defaults. */
export function samplingFromFlags(values: FlagValues, gen: GenerationConfig): { sampling: Required<SamplingOptions>; maxTokens: number; seed: number } {
  const g = gen as GenerationConfig & { min_p?: number };
  const genTemp = g.do_sample === false ? 0 : g.temperature;
  const opts: SamplingOptions = {
    temperature: numFlag("temperature", values.temperature) ?? genTemp ?? DEFAULT_TEMPERATURE,
    topK: numFlag("top-k", values["top-k"]) ?? g.top_k ?? 0,
    topP: numFlag("top-p", values["top-p"]) ?? g.top_p ?? 1,
    minP: numFlag("min-p", values["min-p"]) ?? g.min_p ?? 0,
    repetitionPenalty: numFlag("repetition-penalty", values["repetition-penalty"]) ?? g.repetition_penalty ?? 1,
  };
  let sampling: Required<SamplingOptions>;
  try {
    sampling = normalizeSampling(opts);
  } catch (e) {
    // Name the flag: "top_p must be…" → "--top-p must be…".
    if (isSlmError(e) && e instanceof ConfigError) throw new UsageError(e.message.replace(/^([a-z_]+)/, (m) => `--${m.replace(/_/g, "-")}`));
    throw e;
  }
  const maxTokens = intFlag("max-tokens", values["max-tokens"], g.max_new_tokens ?? DEFAULT_MAX_TOKENS, 0);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : intFlag("seed", values.seed, 0, 0);
  return { sampling, maxTokens, seed };
}
