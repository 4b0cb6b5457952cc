// `slm eval`: validation loss, perplexity and bits per byte of a model on a
// dataset's validation split (or its train split with --split train).
import { ConfigError, UsageError } from "../errors.ts";
import { loadModel } from "../formats/hf-dir.ts";
import { countParameters } from "../models/index.ts";
import { openDataset } from "../train/dataset.ts";
import { evaluate } from "../train/trainer.ts";
import { intFlag, parse, type Command, type CommandContext } from "./command.ts";
import { inferenceLoadOptions, MODEL_LOAD_FLAGS } from "./model-flags.ts";
import { formatCount, formatDuration } from "./format.ts";

const HELP = `Usage: slm eval --model MODEL --data DATASET [--split val|train] [--batches N] [--context N] [--json]

Measures how well a model predicts a dataset's held-out text: mean
cross-entropy loss (nats/token), perplexity, and bits per byte (comparable
across tokenizers). Uses the same fixed windows every time.

Options:
  --split S      val (default) or train
  --batches N    at most N batches of 8 windows (default 50)
  --context N    tokens per window (default min(model context, 256))
  --dtype TYPE   weights in memory, as for slm generate (a .gguf keeps its stored types)
  --json         one JSON object: {"loss","perplexity","bits_per_byte","tokens",…}

Example:
  slm eval --model runs/hr/model --data data/hr`;

export const evalCommand: Command = {
  name: "eval",
  summary: "validation loss, perplexity and bits per byte of a model on a dataset",
  help: HELP,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(
      argv,
      {
        model: { type: "string" },
        data: { type: "string" },
        split: { type: "string" },
        batches: { type: "string" },
        context: { type: "string" },
        json: { type: "boolean" },
        ...MODEL_LOAD_FLAGS,
      },
      false,
    );
    if (!v.model) throw new UsageError("--model is required");
    if (!v.data) throw new UsageError("--data is required (a dataset made by `slm ingest`)");
    const split = v.split ?? "val";
    if (split !== "val" && split !== "train") throw new UsageError(`--split must be val or train, got "${split}"`);
    const t0 = performance.now();
    const { model, config, tokenizer } = loadModel(v.model, inferenceLoadOptions(v));
    const ds = openDataset(v.data);
    try {
      if (ds.vocabSize > config.vocabSize)
        throw new ConfigError(`the dataset's vocabulary (${ds.vocabSize}) is larger than the model's (${config.vocabSize})`, {
          hint: "evaluate on a dataset ingested with this model's tokenizer",
        });
      if (tokenizer && ds.vocabSize !== tokenizer.vocabSize)
        throw new ConfigError(`the dataset was tokenized with a ${ds.vocabSize}-token vocabulary, the model's tokenizer has ${tokenizer.vocabSize}`, {
          hint: "ingest with --tokenizer <model dir>",
        });
      const data = split === "val" ? ds.val : ds.train;
      if (!data) throw new ConfigError(`${v.data} has no ${split} split`);
      const seqLen = intFlag("context", v.context, Math.min(config.maxSeqLen, 256));
      if (seqLen > config.maxSeqLen) throw new UsageError(`--context ${seqLen} exceeds the model's context (${config.maxSeqLen})`);
      const r = evaluate(model, data, 8, seqLen, intFlag("batches", v.batches, 50));
      if (r.tokens === 0) throw new ConfigError(`the ${split} split is shorter than one window of ${seqLen + 1} tokens`);
      const bpb = ds.bytesPerToken ? r.loss / Math.LN2 / ds.bytesPerToken : null;
      const res = {
        model: v.model,
        data: v.data,
        split,
        loss: r.loss,
        perplexity: Math.exp(r.loss),
        bits_per_byte: bpb,
        tokens: r.tokens,
        params: countParameters(config).total,
        seconds: (performance.now() - t0) / 1000,
      };
      if (v.json) ctx.out(JSON.stringify(res));
      else
        ctx.out(
          `${split} loss ${r.loss.toFixed(4)}  perplexity ${res.perplexity.toFixed(2)}${bpb === null ? "" : `  ${bpb.toFixed(3)} bits/byte`}  (${formatCount(r.tokens)} tokens, ${formatCount(res.params)} params, ${formatDuration(res.seconds * 1000)})`,
        );
      return 0;
    } finally {
      ds.close();
    }
  },
};
