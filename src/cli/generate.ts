// `slm generate`: one completion from a model directory (or a llama2.c .bin),
// streamed to stdout as text (through the tokenizer's stream decoder) or as
// ids, or printed as one JSON object. Sampling flags (shared with `slm chat`)
// are sampling-flags.ts; stop token ids come from stopTokenIds in
// src/formats/hf-dir.ts. Thin: generation itself is src/infer/generate.ts;
// text stop strings are matched by src/tokenizer/text-stop.ts.
import { UsageError } from "../errors.ts";
import { loadAdapter } from "../formats/peft.ts";
import { loadModel, stopTokenIds } from "../formats/hf-dir.ts";
import { compileSchema, jsonObjectGrammar, JsonMasker, TokenIndex } from "../infer/json-schema/index.ts";
import { generate } from "../infer/generate.ts";
import { parse, type Command, type CommandContext } from "./command.ts";
import { inferenceLoadOptions, kvDtypeFlag, MODEL_LOAD_FLAGS, MODEL_LOAD_HELP } from "./model-flags.ts";
import { TextStopper } from "../tokenizer/text-stop.ts";
import { SAMPLING_FLAGS, SAMPLING_HELP, samplingFromFlags } from "./sampling-flags.ts";
import { readSchemaFile } from "./schema-flag.ts";
import { SPECULATION_FLAGS, SPECULATION_HELP, speculationFromFlags } from "./speculation-flags.ts";

/** Parses "1,2,3" or "1 2 3". */
function parseIds(s: string, flag: string): number[] {
  const parts = s.split(/[\s,]+/).filter((p) => p.length > 0);
  if (parts.length === 0) throw new UsageError(`--${flag} needs at least one token id`);
  return parts.map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || !Number.isSafeInteger(n)) throw new UsageError(`--${flag}: "${p}" is not a token id (a non-negative integer)`);
    return n;
  });
}

/** Cancels `ac` on Ctrl-C while `fn` runs (a second Ctrl-C exits as usual). */
async function withSigint<T>(ac: AbortController, fn: () => Promise<T>): Promise<T> {
  const onSig = () => ac.abort();
  process.once("SIGINT", onSig);
  try {
    return await fn();
  } finally {
    process.removeListener("SIGINT", onSig);
  }
}

export const generateCommand: Command = {
  name: "generate",
  summary: "generate text (or token ids) from a prompt",
  help: `Usage: slm generate --model PATH (--prompt TEXT | --prompt-ids IDS) [options]

Continues the prompt and streams the generated text to stdout. PATH is a model
directory (config.json, model.safetensors, tokenizer.json…) or a llama2.c .bin
file; a model without a tokenizer needs --prompt-ids and prints token ids.
Generation stops at an end-of-sequence token, a --stop string, or the token budget.

Options:
  --model PATH            model directory, .gguf file or llama2.c .bin file
${MODEL_LOAD_HELP}
  --adapter DIR           a LoRA adapter (PEFT directory) applied on top, unmerged
  --prompt TEXT           prompt text (encoded with the model's tokenizer)
  --prompt-ids IDS        prompt as token ids: "1,2,3"
${SAMPLING_HELP}
  --stop TEXT             stop before this text (repeatable); needs a tokenizer
  --json-schema FILE      constrain the output to JSON valid against this JSON Schema (needs a tokenizer;
                          the supported subset is in docs/generate.md, "Structured output")
  --json-object           constrain the output to a JSON object (any keys and values)
${SPECULATION_HELP}
  --json                  print one JSON object: {"ids", "text", "finish_reason", "usage", "seed"}

Examples:
  slm generate --model out/run1/model --prompt "Once upon a time" --max-tokens 64
  slm generate --model ../shared/models/stories260K/stories260K.bin --prompt-ids 1 --temperature 0 --json
  slm generate --model out/run1/model --prompt "A person:" --json-schema person.schema.json --max-tokens 128
  slm generate --model runs/mini/model --draft runs/nano-kd/model --prompt "Travel" --temperature 0`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values } = parse(
      argv,
      {
        model: { type: "string" },
        adapter: { type: "string" },
        prompt: { type: "string" },
        "prompt-ids": { type: "string" },
        stop: { type: "string", multiple: true },
        json: { type: "boolean" },
        "json-schema": { type: "string" },
        "json-object": { type: "boolean" },
        ...SAMPLING_FLAGS,
        ...MODEL_LOAD_FLAGS,
        ...SPECULATION_FLAGS,
      },
      false,
    );
    if (!values.model) throw new UsageError("--model is required (a model directory or a llama2.c .bin file)");
    if ((values.prompt === undefined) === (values["prompt-ids"] === undefined)) throw new UsageError("pass one of --prompt TEXT or --prompt-ids IDS");
    const promptIds = values["prompt-ids"] !== undefined ? parseIds(values["prompt-ids"], "prompt-ids") : undefined;
    const stops = values.stop ?? [];
    // Check every flag before the (slow) model load.
    samplingFromFlags(values, {});
    if (values["json-schema"] !== undefined && values["json-object"]) throw new UsageError("pass --json-schema FILE or --json-object, not both");
    const schema = values["json-schema"] !== undefined ? readSchemaFile(values["json-schema"]) : undefined;
    // Compiled before the model load too, so an unsupported keyword is reported at once.
    const grammar = schema !== undefined ? compileSchema(schema) : values["json-object"] ? jsonObjectGrammar() : undefined;
    const kvDtype = kvDtypeFlag(values);
    const load = inferenceLoadOptions(values);
    const loaded = loadModel(values.model, load);
    if (values.adapter !== undefined) loadAdapter(values.adapter, loaded.model);
    const speculation = speculationFromFlags(values, loaded, load);
    const { sampling, maxTokens, seed } = samplingFromFlags(values, loaded.generation);
    const tok = loaded.tokenizer;
    if (!tok && promptIds === undefined) throw new UsageError(`${values.model} has no tokenizer: pass the prompt as --prompt-ids`);
    if (!tok && stops.length > 0) throw new UsageError(`--stop matches text, and ${values.model} has no tokenizer`);
    if (!tok && grammar) throw new UsageError(`--json-schema / --json-object constrain text, and ${values.model} has no tokenizer`);
    const stopIds = stopTokenIds(loaded);
    const constraint =
      grammar && tok
        ? new JsonMasker(
            grammar,
            new TokenIndex(Array.from({ length: loaded.config.vocabSize }, (_, id) => (tok.isSpecial(id) ? null : tok.idToBytes(id)))),
          ).constraint(stopIds)
        : undefined;
    let ids = promptIds ?? tok!.encode(values.prompt!, { addSpecialTokens: true });
    if (ids.length === 0 && loaded.config.bosTokenId !== undefined) ids = [loaded.config.bosTokenId];
    if (ids.length === 0) throw new UsageError("the prompt is empty and the model has no BOS token to start from");

    const write = ctx.write ?? ((s: string) => void process.stdout.write(s));
    const dec = tok?.createStreamDecoder();
    const stopper = new TextStopper(stops);
    let stoppedByText = false;
    let shownIds = 0;
    const ac = new AbortController();
    const [res] = await withSigint(ac, () =>
      generate(loaded.model, [ids], {
        maxTokens,
        sampling,
        seed,
        stopTokenIds: stopIds,
        signal: ac.signal,
        kvDtype,
        constraints: [constraint],
        speculation,
        onToken: (_seq, id) => {
          if (!dec) {
            if (!values.json) write(`${shownIds++ > 0 ? " " : ""}${id}`);
            return;
          }
          const shown = stopper.push(dec.push(id));
          if (!values.json) write(shown);
          if (stopper.stopped) {
            stoppedByText = true;
            return false;
          }
        },
      }),
    );
    const r = res!;
    if (dec && !stoppedByText) {
      const rest = stopper.push(dec.flush()) + stopper.flush();
      if (!values.json) write(rest);
    }
    if (values.json) {
      ctx.out(
        JSON.stringify({
          ids: r.ids,
          text: dec ? stopper.text : null,
          finish_reason: r.finishReason,
          usage: { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens },
          seed,
        }),
      );
    } else {
      write("\n");
      if (r.finishReason === "cancelled") ctx.err("(cancelled)");
    }
    return 0;
  },
};
