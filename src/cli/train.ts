// `slm train`: pretrain (or continue pretraining) a model on a dataset made
// by `slm ingest`, or on a folder of documents (ingested first, with a
// tokenizer trained on them). Thin: parses flags, builds the model, runs
// src/train/trainer.ts, prints progress, writes the model directory.
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

import { ConfigError, UsageError } from "../errors.ts";
import { ingest } from "../data/ingest.ts";
import { trainTextTokenizer } from "../data/tokenizer.ts";
import { loadModel } from "../formats/hf-dir.ts";
import { PRESETS, countParameters, createModel, presetConfig, type CausalLM } from "../models/index.ts";
import { Tokenizer } from "../tokenizer/index.ts";
import { isDataset, openDataset, type Dataset } from "../train/dataset.ts";
import { trainRunDir, type RunDirResult } from "../train/run.ts";
import type { TrainConfig } from "../train/trainer.ts";
import { intFlag, numFlag, parse, type Command, type CommandContext, type Parsed } from "./command.ts";
import { formatCount, formatDuration, parseDuration } from "./format.ts";
import { StatusLine, trainEventReporter } from "./progress.ts";
import { withStopSignals } from "./stop-signals.ts";

const HELP = `Usage: slm train --data DATASET|DOCS_DIR --out RUN [options]

Trains a small language model on CPU. DATASET is a directory made by
\`slm ingest\`; a folder of documents (md, txt, html, pdf, docx…) is ingested
first into RUN/dataset with a new tokenizer. The result is a Hugging Face
model directory in RUN/model; checkpoints go to RUN/checkpoints and metrics to
RUN/metrics.jsonl. Ctrl-C saves a checkpoint and the model, then stops.

Model:
  --preset NAME         ${Object.keys(PRESETS).join(" | ")} (default micro); see docs/training.md
  --init-from MODEL     continue pretraining a model directory (same vocabulary);
                        defaults then become --lr 3e-4 and --warmup 50
Length (one is required):
  --max-steps N         optimizer steps
  --time-budget T       wall time, e.g. 10m, 90s, 1h (the schedule fits it)
Optimisation:
  --batch N             sequences per micro-batch (default 8)
  --context N           tokens per sequence (default min(model context, 256))
  --grad-accum N        micro-batches per step (default 1)
  --lr X                peak learning rate (default 1e-3; 3e-4 with --init-from)
  --schedule S          cosine | wsd | constant (default cosine)
  --warmup N            warmup steps (default 5% of the run, at most 200)
  --weight-decay X      AdamW decoupled weight decay (default 0.1)
  --clip X              gradient-norm clip, 0 = off (default 1)
  --seed N              initialisation and data order (default 0)
Bookkeeping:
  --eval-every N        steps between validation runs (default 100)
  --early-stop N        stop once validation loss has not improved for N validation
                        runs, and keep the weights of the best one (default off; a
                        small folder is learnt by heart within minutes: try 3)
  --checkpoint-every N  steps between checkpoints (default 200)
  --log-every N         steps between progress lines / step events (default 10)
  --resume              continue the newest checkpoint in RUN exactly
  --vocab-size N        tokenizer size when DOCS_DIR is ingested (default 8192)
  --json                one JSON object per event on stdout instead of progress

Examples:
  slm train --data ../shared/corpora/18f-handbook/pages --preset micro --time-budget 10m --out runs/handbook
  slm ingest docs/ --out data/hr --vocab-size 8192 && slm train --data data/hr --preset mini --max-steps 2000 --out runs/hr
  slm train --data data/hr --out runs/hr --max-steps 2000 --resume`;

const OPTIONS = {
  data: { type: "string" },
  out: { type: "string" },
  preset: { type: "string" },
  "init-from": { type: "string" },
  "max-steps": { type: "string" },
  "time-budget": { type: "string" },
  batch: { type: "string" },
  context: { type: "string" },
  "grad-accum": { type: "string" },
  lr: { type: "string" },
  schedule: { type: "string" },
  warmup: { type: "string" },
  "weight-decay": { type: "string" },
  clip: { type: "string" },
  seed: { type: "string" },
  "eval-every": { type: "string" },
  "early-stop": { type: "string" },
  "checkpoint-every": { type: "string" },
  "log-every": { type: "string" },
  resume: { type: "boolean" },
  "vocab-size": { type: "string" },
  json: { type: "boolean" },
} as const;

export const trainCommand: Command = {
  name: "train",
  summary: "train a small language model on a dataset or a folder of documents",
  help: HELP,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(argv, OPTIONS, false);
    if (!v.data) throw new UsageError("--data is required (a dataset from `slm ingest`, or a folder of documents)");
    if (!v.out) throw new UsageError("--out RUN is required (the run directory)");
    if (v["max-steps"] === undefined && v["time-budget"] === undefined) throw new UsageError("give --max-steps N or --time-budget T (e.g. 10m)");
    if (v["init-from"] && v.preset) throw new UsageError("--preset and --init-from exclude each other: the model comes from one or the other");
    const schedule = v.schedule ?? "cosine";
    if (schedule !== "cosine" && schedule !== "wsd" && schedule !== "constant")
      throw new UsageError(`--schedule must be cosine, wsd or constant, got "${schedule}"`);
    const patience = v["early-stop"] === undefined ? undefined : intFlag("early-stop", v["early-stop"], 3);
    if (patience !== undefined && intFlag("eval-every", v["eval-every"], 100, 0) === 0)
      throw new UsageError("--early-stop needs validation runs: --eval-every is 0");
    const runDir = resolve(v.out);
    const json = Boolean(v.json);
    const say = (s: string) => (json ? undefined : ctx.err(s));

    const dataDir = await datasetFor(v, runDir, say);
    const ds = openDataset(dataDir);
    try {
      const tokenizer = ds.tokenizerDir ? Tokenizer.fromFile(ds.tokenizerDir) : undefined;

      const init = v["init-from"];
      const model = modelFor(v, ds, tokenizer);
      const config: Partial<TrainConfig> = {
        batch: intFlag("batch", v.batch, 8),
        seqLen: v.context === undefined ? undefined : intFlag("context", v.context, 256),
        gradAccum: intFlag("grad-accum", v["grad-accum"], 1),
        maxSteps: v["max-steps"] === undefined ? undefined : intFlag("max-steps", v["max-steps"], 1),
        timeBudgetMs: v["time-budget"] === undefined ? undefined : parseDuration("time-budget", v["time-budget"]),
        lr: numFlag("lr", v.lr, 0) ?? (init ? 3e-4 : 1e-3),
        schedule,
        warmupSteps: v.warmup === undefined ? (init ? 50 : undefined) : intFlag("warmup", v.warmup, 0, 0),
        weightDecay: numFlag("weight-decay", v["weight-decay"], 0),
        clip: numFlag("clip", v.clip, 0),
        seed: intFlag("seed", v.seed, 0, 0),
        evalEvery: intFlag("eval-every", v["eval-every"], 100, 0),
        checkpointEvery: intFlag("checkpoint-every", v["checkpoint-every"], 200, 0),
        logEvery: intFlag("log-every", v["log-every"], 10),
        bytesPerToken: ds.bytesPerToken ?? undefined,
      };
      if (patience !== undefined && !ds.val) throw new ConfigError(`--early-stop needs validation runs: the dataset ${dataDir} has no validation split`);
      const params = countParameters(model.config);
      say(
        `slm train: ${model.config.modelType} ${formatCount(params.total)} parameters (d ${model.config.dModel}, ${model.config.nLayers} layers), ${formatCount(ds.train.count)} train tokens, run ${runDir}`,
      );

      // 3. Train, with Ctrl-C / SIGTERM asking for a clean stop.
      const line = new StatusLine(ctx);
      let result;
      try {
        result = await withStopSignals(
          (signal) =>
            trainRunDir({
              model,
              train: ds.train,
              val: ds.val ?? undefined,
              runDir,
              config,
              resume: Boolean(v.resume),
              tokenizer,
              earlyStop: patience,
              onEvent: trainEventReporter(ctx, line, json),
              signal,
              record: {
                file: "train-config.json",
                settings: { data: dataDir, init: init ?? null, preset: init ? null : (v.preset ?? "micro"), ...config, earlyStop: patience ?? null },
              },
            }),
          () => say("\nslm train: stopping after this step (checkpoint + model)…"),
        );
      } finally {
        line.clear();
      }
      printSummary(ctx, result, params.total, patience, json);
      return result.stopped === "requested" ? 130 : 0;
    } finally {
      ds.close();
    }
  },
};

type Values = Parsed<typeof OPTIONS>["values"];

/** 1. Data: the dataset --data names, or documents ingested first into RUN/dataset (reused on --resume). */
async function datasetFor(v: Values, runDir: string, say: (s: string) => void): Promise<string> {
  const dataDir = resolve(v.data!);
  if (!existsSync(dataDir)) throw new ConfigError(`--data ${v.data}: no such file or directory`);
  if (isDataset(dataDir)) return dataDir;
  const out = join(runDir, "dataset");
  if (v.resume && isDataset(out)) return out;
  const vocabSize = intFlag("vocab-size", v["vocab-size"], 8192, 300);
  say(`slm train: ${v.data} is not a dataset; ingesting it into ${out} with a ${vocabSize}-token tokenizer…`);
  mkdirSync(runDir, { recursive: true });
  const m = await ingest({ inputs: [dataDir], out, trainTokenizer: trainTextTokenizer, vocabSize, seed: intFlag("seed", v.seed, 0, 0) });
  say(`  ${m.counts.documents} documents, ${formatCount(m.tokens?.train ?? 0)} train + ${formatCount(m.tokens?.val ?? 0)} val tokens`);
  return out;
}

/** 2. Model: a preset from scratch, or an existing model (--init-from) to continue, checked against the dataset's vocabulary. */
function modelFor(v: Values, ds: Dataset, tokenizer: Tokenizer | undefined): CausalLM {
  const init = v["init-from"];
  if (!init) return createModel(presetConfig(v.preset ?? "micro", ds.vocabSize), intFlag("seed", v.seed, 0, 0));
  const loaded = loadModel(init);
  const model = loaded.model;
  if (model.config.vocabSize < ds.vocabSize) {
    throw new ConfigError(`--init-from ${init}: the model's vocabulary (${model.config.vocabSize}) is smaller than the dataset's (${ds.vocabSize})`, {
      hint: `ingest with the model's tokenizer: slm ingest … --tokenizer ${init}`,
    });
  }
  if (loaded.tokenizer && tokenizer && loaded.tokenizer.vocabSize !== tokenizer.vocabSize) {
    throw new ConfigError(`--init-from ${init}: its tokenizer (${loaded.tokenizer.vocabSize} tokens) differs from the dataset's (${tokenizer.vocabSize})`, {
      hint: `ingest with the model's tokenizer: slm ingest … --tokenizer ${init}`,
    });
  }
  return model;
}

/** 4. The run's summary: one JSON line with --json, else a few lines on stderr. */
function printSummary(ctx: CommandContext, result: RunDirResult, params: number, patience: number | undefined, json: boolean): void {
  const stopped = result.stopped; // "early": by --early-stop, not an interruption
  const valLoss = result.savedValLoss;
  const bestStep = result.keptStep;
  if (bestStep !== null && !json) {
    ctx.err(
      `slm train: keeping the weights of step ${bestStep} (val loss ${valLoss!.toFixed(4)}; ${result.finalValLoss!.toFixed(4)} at step ${result.counters.step})`,
    );
  }
  const modelDir = result.output;
  const c = result.counters;
  const summary = {
    model: modelDir,
    steps: c.step,
    tokens: c.tokens,
    elapsed_s: c.elapsedMs / 1000,
    tokens_per_s: c.tokens / Math.max(c.elapsedMs / 1000, 1e-9),
    final_val_loss: result.finalValLoss,
    best_val_loss: c.bestValLoss,
    stopped,
    params,
    // The model directory holds these weights: the last step's, or the best validation run's with --early-stop.
    model_step: bestStep ?? c.step,
    model_val_loss: valLoss,
  };
  if (json) {
    ctx.out(JSON.stringify({ type: "summary", ...summary }));
    return;
  }
  const why = stopped === "requested" ? "stopped" : stopped === "early" ? `stopped early (validation loss had not improved for ${patience} runs)` : "done";
  ctx.err(
    `slm train: ${why} after ${c.step} steps, ${formatCount(c.tokens)} tokens in ${formatDuration(c.elapsedMs)} (${formatCount(summary.tokens_per_s)} tok/s)`,
  );
  if (valLoss !== null)
    ctx.err(`  ${bestStep === null ? "final" : `model (step ${bestStep})`} val loss ${valLoss.toFixed(4)} (perplexity ${Math.exp(valLoss).toFixed(2)})`);
  ctx.err(`  model: ${modelDir}${stopped === "requested" ? `   (continue with --resume)` : ""}`);
}
