// `slm bench generate`: prefill and decode speed of generation (tokens/s) for
// a model directory or a preset with random weights. Runs a warm-up, then
// several timed generations of random prompt ids, greedy, with no stop token,
// and reports the median of each rate. Thin: timings come from
// generateWithStats in src/infer/generate.ts.
import { UsageError } from "../errors.ts";
import { loadModel } from "../formats/hf-dir.ts";
import { quantizeModel } from "../formats/quantize-model.ts";
import { generateWithStats } from "../infer/generate.ts";
import { countParameters, createModel, presetConfig, PRESETS, weightStorage, type CausalLM } from "../models/index.ts";
import { backend } from "../native/load.ts";
import { Rng } from "../util/rng.ts";
import { intFlag, parse, type Command, type CommandContext } from "./command.ts";
import { formatBytes } from "./format.ts";
import { inferenceLoadOptions, kvDtypeFlag, MODEL_LOAD_FLAGS } from "./model-flags.ts";

/** Vocabulary of a preset model when there is no tokenizer to size it. */
const BENCH_VOCAB = 8192;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const benchGenerateCommand: Command = {
  name: "bench generate",
  summary: "measure prefill and decode speed (tokens/s)",
  help: `Usage: slm bench generate (--model PATH | --preset NAME) [options]

Times generation with the KV cache: prefill (the prompt in one forward pass)
and decode (one token per sequence per step), in tokens per second. Prompts
are random token ids; decoding is greedy with no stop token, so every run
generates exactly --tokens tokens. Reports the median of --trials runs after
one warm-up run. With --preset the weights are random (vocabulary ${BENCH_VOCAB}).

Options:
  --model PATH          model directory, .gguf file or llama2.c .bin file
  --dtype TYPE          weights in memory (as for slm generate): a .gguf keeps its types; q8_0,
                        q4_0, q4_k_m, q5_k_m, q6_k, f16, bf16 quantize float32 weights (also
                        a --preset's); f32 expands everything to float32
  --kv-dtype TYPE       KV cache storage: f32 (default), f16, q8_0
  --preset NAME         ${Object.keys(PRESETS).join(", ")} (random weights)
  --prompt-tokens N     prompt length (default 32)
  --tokens N            tokens generated per sequence (default 128)
  --batch N             sequences generated together (default 1)
  --trials N            timed runs (default 3)
  --threads N           kernel threads (default: all cores, or SLM_THREADS)
  --json                print one JSON object

Example:
  slm bench generate --preset mini --json`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values } = parse(
      argv,
      {
        model: { type: "string" },
        preset: { type: "string" },
        "prompt-tokens": { type: "string" },
        tokens: { type: "string" },
        batch: { type: "string" },
        trials: { type: "string" },
        threads: { type: "string" },
        json: { type: "boolean" },
        ...MODEL_LOAD_FLAGS,
      },
      false,
    );
    const load = inferenceLoadOptions(values);
    const kvDtype = kvDtypeFlag(values);
    if ((values.model === undefined) === (values.preset === undefined)) throw new UsageError("pass one of --model PATH or --preset NAME");
    const promptTokens = intFlag("prompt-tokens", values["prompt-tokens"], 32);
    const tokens = intFlag("tokens", values.tokens, 128);
    const batch = intFlag("batch", values.batch, 1);
    const trials = intFlag("trials", values.trials, 3);
    if (values.preset !== undefined && !(values.preset in PRESETS))
      throw new UsageError(`--preset must be one of ${Object.keys(PRESETS).join(", ")}, got "${values.preset}"`);
    if (values.threads !== undefined) backend().setThreads(intFlag("threads", values.threads, 1));

    let model: CausalLM;
    if (values.preset !== undefined) {
      model = createModel(presetConfig(values.preset, BENCH_VOCAB), 0);
      if (load.dtype !== undefined) quantizeModel(model, load.dtype);
    } else model = loadModel(values.model!, load).model;
    const storage = weightStorage(model);
    const config = model.config;
    if (promptTokens + tokens > config.maxSeqLen) {
      throw new UsageError(`--prompt-tokens ${promptTokens} + --tokens ${tokens} exceed the model's context (${config.maxSeqLen})`);
    }
    const rng = new Rng(1);
    const prompts = Array.from({ length: batch }, () => Array.from({ length: promptTokens }, () => rng.int(config.vocabSize)));
    // Plain decode (one forward per token): speculation would measure how often a model's own
    // output repeats (random prompts, random weights), not the engine; bench/speculative.ts measures it.
    const run = (n: number) => generateWithStats(model, prompts, { maxTokens: n, sampling: { temperature: 0 }, kvDtype, speculation: false });
    await run(Math.min(tokens, 8)); // warm-up: thread pool, arena, caches
    const prefill: number[] = [];
    const decode: number[] = [];
    for (let t = 0; t < trials; t++) {
      const { stats } = await run(tokens);
      prefill.push(stats.prefillTokens / stats.prefillSeconds);
      if (stats.decodeSteps > 0) decode.push(stats.decodeTokens / stats.decodeSeconds);
    }
    const b = backend();
    const result = {
      ...(values.preset !== undefined ? { preset: values.preset } : { model: values.model }),
      params: countParameters(config).total,
      weights: storage.label,
      weight_bytes: storage.bytes,
      kv_dtype: kvDtype,
      prompt_tokens: promptTokens,
      tokens,
      batch,
      trials,
      prefill_tokens_per_s: Number(median(prefill).toFixed(1)),
      decode_tokens_per_s: decode.length > 0 ? Number(median(decode).toFixed(1)) : null,
      threads: b.getThreads(),
      backend: b.name,
      isa: b.getIsa(),
    };
    if (values.json) {
      ctx.out(JSON.stringify(result));
    } else {
      const what = values.preset !== undefined ? `preset ${values.preset}` : values.model!;
      ctx.out(
        [
          `generation speed: ${what}, ${(result.params / 1e6).toFixed(2)}M parameters (${storage.label}, ${formatBytes(storage.bytes)}), ${b.name} ${result.isa}, ${result.threads} threads`,
          `  batch ${batch}, prompt ${promptTokens} tokens, ${tokens} generated, median of ${trials}`,
          `  prefill  ${result.prefill_tokens_per_s.toFixed(1).padStart(10)} tokens/s`,
          `  decode   ${(result.decode_tokens_per_s ?? 0).toFixed(1).padStart(10)} tokens/s${batch > 1 ? ` (${batch} sequences)` : ""}`,
        ].join("\n"),
      );
    }
    return 0;
  },
};
