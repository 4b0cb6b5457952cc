// `slm demo`: the README's first command. Ingests a folder of documents (the
// bundled examples/handbook by default) with a small BPE tokenizer trained on
// it, trains a small model for a fixed wall-time budget with progress, saves
// the model directory and serves it (web UI + OpenAI-compatible API), printing
// the URL. Re-running reuses the finished stages (dataset, model) recorded in
// OUT/demo.json, and continues an interrupted training run from its newest
// checkpoint; --fresh starts over. Thin: the work is src/data/ingest.ts,
// src/train/trainer.ts and src/serve/server.ts.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { ConfigError, UsageError } from "../errors.ts";
import { writeFileAtomicSync } from "../util/atomic.ts";
import { HashEmbedder } from "../assistant/embed.ts";
import { buildIndex } from "../assistant/index-db.ts";
import { ingest } from "../data/ingest.ts";
import { trainTextTokenizer } from "../data/tokenizer.ts";
import { countParameters, createModel, presetConfig, type ModelConfig } from "../models/index.ts";
import { Tokenizer } from "../tokenizer/index.ts";
import { openDataset } from "../train/dataset.ts";
import { latestCheckpoint } from "../train/checkpoint.ts";
import { trainRunDir } from "../train/run.ts";
import type { TrainConfig } from "../train/trainer.ts";
import { intFlag, parse, type Command, type CommandContext } from "./command.ts";
import { formatCount, formatDuration, parseDuration } from "./format.ts";
import { StatusLine, ingestProgressReporter, trainEventReporter } from "./progress.ts";

/** The bundled sample: a fictional company's handbook (examples/handbook). */
export const SAMPLE_DATA = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "examples", "handbook");

/**
 * The demo model and run, chosen so the validation loss falls well within a
 * few minutes on 2 busy cores (figures in docs/demo.md). Every value has a flag
 * only where a user is likely to want another one.
 */
export const DEMO_DEFAULTS = {
  /** BPE vocabulary: small, because the sample is ~90 kB of text (~20k tokens at this size). */
  vocabSize: 2048,
  /** Held-out documents for the validation loss (the sample has 29 files → 3 documents). */
  valFraction: 0.1,
  /** Llama-style, nano widths: ~0.6M parameters at 2,048 tokens; context 256 leaves room for a short chat. */
  preset: "nano",
  model: {} as Partial<ModelConfig>,
  /** Per-step batch and learning rate for that small model. */
  batch: 8,
  seqLen: 256,
  lr: 3e-3,
  /** Training wall time (the schedule is fitted to it). */
  timeBudgetMs: 5 * 60_000,
  evalEvery: 50,
  checkpointEvery: 100,
  logEvery: 5,
  seed: 0,
};

/** What a finished stage looked like; a stage is reused only when its inputs match. */
interface DemoState {
  version: 1;
  dataset?: { data: string; vocabSize: number; valFraction: number; seed: number; documents: number; trainTokens: number; valTokens: number };
  model?: { dataset: string; steps: number; elapsedMs: number; finalValLoss: number | null; params: number; stopped: string };
  /** Options of the training run in OUT (checkpoints are resumed only with the same ones). */
  training?: { dataset: string; timeBudgetMs: number };
}

export interface DemoOptions {
  data: string;
  out: string;
  vocabSize: number;
  timeBudgetMs: number;
  fresh: boolean;
  seed: number;
  /** Cancels training (checkpoint + model are saved, the run can be continued). */
  signal?: AbortSignal;
  /** Test hook: training config overrides (e.g. a tiny batch). */
  trainOverrides?: Partial<TrainConfig>;
  /** Test hook: model config overrides. */
  modelOverrides?: Partial<ModelConfig>;
}

export interface DemoResult {
  modelDir: string;
  datasetDir: string;
  /** Which stages ran now (false = reused from an earlier run). */
  ingested: boolean;
  trained: boolean;
  /** "early": validation loss stopped improving; "reused": an earlier run's model. */
  stopped: "steps" | "time" | "early" | "requested" | "reused";
  finalValLoss: number | null;
}

const STATE_FILE = "demo.json";
/** Training stops at this multiple of the time budget even when the schedule has steps left. */
const DEADLINE_FACTOR = 1.2;
/** Evaluations without a new best validation loss before training stops. */
const PATIENCE = 3;

function readState(out: string): DemoState {
  const p = join(out, STATE_FILE);
  if (!existsSync(p)) return { version: 1 };
  try {
    const s = JSON.parse(readFileSync(p, "utf8")) as DemoState;
    return s && s.version === 1 ? s : { version: 1 };
  } catch {
    return { version: 1 }; // unreadable: start over, stage by stage
  }
}

function writeState(out: string, s: DemoState): void {
  writeFileAtomicSync(join(out, STATE_FILE), `${JSON.stringify(s, null, 2)}\n`);
}

/** The assistant's index of the demo dataset, in OUT. */
const INDEX_FILE = "dataset.index";

/**
 * Builds OUT/dataset.index (hashed vectors, as `slm index` by default) unless it is newer than the
 * dataset's documents. About 0.3 s for the sample handbook's 199 sections.
 */
export function ensureDemoIndex(out: string, datasetDir: string, ctx: CommandContext): string {
  const indexPath = join(resolve(out), INDEX_FILE);
  const docs = join(datasetDir, "documents.jsonl");
  if (existsSync(indexPath) && statSync(indexPath).mtimeMs >= statSync(docs).mtimeMs) return indexPath;
  const t0 = Date.now();
  const info = buildIndex({ dataset: datasetDir, out: indexPath, embedder: new HashEmbedder(512) });
  ctx.err(`slm demo: indexed ${info.sections} sections of ${info.documents} documents for the assistant in ${formatDuration(Date.now() - t0)}`);
  return indexPath;
}

/** Removes what an earlier demo run wrote into OUT (and nothing else). */
function removeRun(out: string, what: "all" | "training"): void {
  const names =
    what === "all" ? ["dataset", INDEX_FILE, ".slm-cache", "checkpoints", "model", "metrics.jsonl", STATE_FILE] : ["checkpoints", "model", "metrics.jsonl"];
  for (const n of names) rmSync(join(out, n), { recursive: true, force: true });
}

/**
 * Runs ingest → tokenizer → train → save, reusing finished stages. Progress
 * goes to ctx.err (redrawn on a TTY). Returns where the model is.
 */
export async function runDemoPipeline(o: DemoOptions, ctx: CommandContext): Promise<DemoResult> {
  const out = resolve(o.out);
  const data = resolve(o.data);
  if (!existsSync(data)) throw new ConfigError(`--data ${o.data}: no such file or directory`);
  if (o.fresh) removeRun(out, "all");
  mkdirSync(out, { recursive: true });
  const state = readState(out);
  const line = new StatusLine(ctx);
  const datasetDir = join(out, "dataset");
  const modelDir = join(out, "model");
  const d = DEMO_DEFAULTS;

  // 1. Dataset + tokenizer.
  const dsWanted = { data, vocabSize: o.vocabSize, valFraction: d.valFraction, seed: o.seed };
  const dsPrev = state.dataset;
  let ingested = false;
  if (
    dsPrev &&
    dsPrev.data === data &&
    dsPrev.vocabSize === o.vocabSize &&
    dsPrev.valFraction === d.valFraction &&
    dsPrev.seed === o.seed &&
    existsSync(join(datasetDir, "manifest.json"))
  ) {
    ctx.err(`slm demo: 1/3 dataset: reusing ${datasetDir} (${dsPrev.documents} documents, ${formatCount(dsPrev.trainTokens)} train tokens)`);
  } else {
    ctx.err(`slm demo: 1/3 dataset: ingesting ${data} and training a ${o.vocabSize}-token tokenizer…`);
    removeRun(out, "training"); // a new dataset invalidates the model
    delete state.model;
    delete state.training;
    delete state.dataset;
    writeState(out, state);
    const t0 = Date.now();
    const m = await ingest({
      inputs: [data],
      out: datasetDir,
      trainTokenizer: trainTextTokenizer,
      vocabSize: o.vocabSize,
      valFraction: d.valFraction,
      seed: o.seed,
      ...ingestProgressReporter(line, ctx.tty),
    });
    line.clear();
    if (m.counts.documents === 0)
      throw new ConfigError(`nothing usable was read from ${o.data} (see ${datasetDir}/manifest.json for the reasons)`, {
        hint: "give a folder of .md, .txt, .html, .pdf, .docx, .json or .csv files",
      });
    state.dataset = { ...dsWanted, documents: m.counts.documents, trainTokens: m.tokens?.train ?? 0, valTokens: m.tokens?.val ?? 0 };
    writeState(out, state);
    ingested = true;
    ctx.err(
      `  ${m.counts.documents} documents (${m.counts.sections} sections), ${formatCount(m.tokens?.train ?? 0)} train + ${formatCount(m.tokens?.val ?? 0)} val tokens in ${formatDuration(Date.now() - t0)}`,
    );
  }

  // 2. Model.
  const mPrev = state.model;
  if (mPrev && mPrev.dataset === datasetDir && mPrev.stopped !== "requested" && existsSync(join(modelDir, "config.json"))) {
    ctx.err(
      `slm demo: 2/3 model: reusing ${modelDir} (${formatCount(mPrev.params)} parameters, ${mPrev.steps} steps, val loss ${mPrev.finalValLoss?.toFixed(3) ?? "?"}); --fresh retrains`,
    );
    return { modelDir, datasetDir, ingested, trained: false, stopped: "reused", finalValLoss: mPrev.finalValLoss };
  }
  const ds = openDataset(datasetDir);
  try {
    const tokenizer = ds.tokenizerDir ? Tokenizer.fromFile(ds.tokenizerDir) : undefined;
    const model = createModel(presetConfig(d.preset, ds.vocabSize, { ...d.model, ...o.modelOverrides }), o.seed);
    const params = countParameters(model.config).total;
    const prevTraining = state.training;
    const resume =
      prevTraining !== undefined && prevTraining.dataset === datasetDir && prevTraining.timeBudgetMs === o.timeBudgetMs && latestCheckpoint(out) !== null;
    if (!resume) removeRun(out, "training");
    state.training = { dataset: datasetDir, timeBudgetMs: o.timeBudgetMs };
    delete state.model;
    writeState(out, state);
    const config: Partial<TrainConfig> = {
      batch: d.batch,
      seqLen: Math.min(d.seqLen, model.config.maxSeqLen),
      lr: d.lr,
      timeBudgetMs: o.timeBudgetMs,
      evalEvery: d.evalEvery,
      checkpointEvery: d.checkpointEvery,
      logEvery: d.logEvery,
      seed: o.seed,
      bytesPerToken: ds.bytesPerToken ?? undefined,
      ...o.trainOverrides,
    };
    ctx.err(
      `slm demo: 2/3 model: ${resume ? "continuing" : "training"} a ${model.config.modelType} model of ${formatCount(params)} parameters (d ${model.config.dModel}, ${model.config.nLayers} layers, context ${config.seqLen}) for ${formatDuration(o.timeBudgetMs)}${ctx.tty ? "; Ctrl-C stops early and keeps what it learned" : ""}`,
    );
    // The trainer fits its step count to the budget from the speed of its first steps; on a
    // machine that gets busier afterwards that overruns, so a hard limit at 1.2× ends the run
    // (checkpoint + model) with the schedule not quite finished, and the demo goes on.
    // A small folder is seen many times over in a few minutes: once the validation loss has not
    // improved for PATIENCE evaluations the run stops, and the best weights seen are kept.
    let result;
    try {
      result = await trainRunDir({
        model,
        train: ds.train,
        val: ds.val ?? undefined,
        runDir: out,
        config,
        resume,
        tokenizer,
        earlyStop: PATIENCE,
        deadlineMs: DEADLINE_FACTOR * o.timeBudgetMs,
        onEvent: trainEventReporter(ctx, line, false),
        signal: o.signal,
      });
    } finally {
      line.clear();
    }
    const stopped: DemoResult["stopped"] = result.stopped;
    if (stopped === "early") ctx.err(`  validation loss has not improved for ${PATIENCE} evaluations: stopping at step ${result.counters.step}`);
    else if (result.deadlineHit) {
      ctx.err(
        `  the machine got slower than the first steps promised: stopped at the time limit (${formatDuration(DEADLINE_FACTOR * o.timeBudgetMs)}), step ${result.counters.step} of ${result.counters.totalSteps}`,
      );
    }
    const valLoss = result.savedValLoss;
    if (result.keptStep !== null) {
      ctx.err(
        `  keeping the weights of step ${result.keptStep} (val loss ${valLoss!.toFixed(3)}; ${result.finalValLoss!.toFixed(3)} at the end: later steps overfit)`,
      );
    }
    const c = result.counters;
    state.model = { dataset: datasetDir, steps: c.step, elapsedMs: c.elapsedMs, finalValLoss: valLoss, params, stopped };
    writeState(out, state);
    ctx.err(
      `  ${stopped === "requested" ? "stopped" : "done"} after ${c.step} steps, ${formatCount(c.tokens)} tokens in ${formatDuration(c.elapsedMs)} (${formatCount(c.tokens / Math.max(c.elapsedMs / 1000, 1e-9))} tok/s)${valLoss === null ? "" : `; val loss ${valLoss.toFixed(3)} (perplexity ${Math.exp(valLoss).toFixed(1)})`}`,
    );
    return { modelDir, datasetDir, ingested, trained: true, stopped, finalValLoss: valLoss };
  } finally {
    ds.close();
  }
}

const HELP = `Usage: slm demo [--data DIR] [options]

Turns a folder of documents into a chat you can open in the browser, in about
${DEMO_DEFAULTS.timeBudgetMs / 60_000} minutes on 2 cores: ingests the folder (default: the bundled
sample handbook of a fictional company, examples/handbook), trains a
${DEMO_DEFAULTS.vocabSize}-token tokenizer and a small model on it with progress, saves the model
directory (OUT/model) and serves it with the web UI and the OpenAI-compatible
API. Re-running reuses the finished dataset and model (an interrupted
training run continues from its checkpoint); --fresh starts over.

Options:
  --data DIR           documents to learn from (default: examples/handbook)
  --out DIR            run directory (default runs/demo)
  --time-budget T      training wall time, e.g. 5m, 90s (default ${DEMO_DEFAULTS.timeBudgetMs / 60_000}m)
  --vocab-size N       tokenizer size (default ${DEMO_DEFAULTS.vocabSize})
  --seed N             data split, initialisation and data order (default 0)
  --fresh              ignore earlier runs in OUT: ingest and train again
  --port N             HTTP port (default 8080; 0 = any free port)
  --host H             address to listen on (default 127.0.0.1: this machine only)
  --no-serve           stop after saving the model
  --answerer WHO       who writes the assistant's answers: extractive (default: the
                       best-matching sentence, cited) or model (the demo model, from
                       the retrieved sections; a 5-minute model is not trained for it)

Examples:
  slm demo
  slm demo --data ~/company-docs --out runs/company --time-budget 10m
  slm demo --no-serve && slm chat --model runs/demo/model`;

export const demoCommand: Command = {
  name: "demo",
  summary: "ingest a folder (default: the sample handbook), train a small model, and chat with it in the browser",
  help: HELP,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(
      argv,
      {
        data: { type: "string" },
        out: { type: "string" },
        "time-budget": { type: "string" },
        "vocab-size": { type: "string" },
        seed: { type: "string" },
        fresh: { type: "boolean" },
        port: { type: "string" },
        host: { type: "string" },
        "no-serve": { type: "boolean" },
        answerer: { type: "string" },
      },
      false,
    );
    const answerer = v.answerer ?? "extractive";
    if (answerer !== "extractive" && answerer !== "model") throw new UsageError(`--answerer must be extractive or model, got "${v.answerer}"`);
    const port = intFlag("port", v.port, 8080, 0);
    if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
    const host = v.host ?? "127.0.0.1";
    const ac = new AbortController();
    let serving: { close(): Promise<void> } | null = null;
    let stopServing: (() => void) | null = null;
    const onSignal = () => {
      if (stopServing) return stopServing();
      if (!ac.signal.aborted) ctx.err("\nslm demo: stopping after this training step (the model is saved; run again to continue)…");
      ac.abort();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      const t0 = Date.now();
      const r = await runDemoPipeline(
        {
          data: v.data ?? SAMPLE_DATA,
          out: v.out ?? join("runs", "demo"),
          vocabSize: intFlag("vocab-size", v["vocab-size"], DEMO_DEFAULTS.vocabSize, 300),
          timeBudgetMs: v["time-budget"] === undefined ? DEMO_DEFAULTS.timeBudgetMs : parseDuration("time-budget", v["time-budget"]),
          fresh: Boolean(v.fresh),
          seed: intFlag("seed", v.seed, 0, 0),
          signal: ac.signal,
        },
        ctx,
      );
      if (r.stopped === "requested") {
        ctx.err(
          `slm demo: stopped early; the model so far is in ${r.modelDir}. Run \`slm demo\` again to continue training, or serve it: slm serve --model ${r.modelDir}`,
        );
        return 130;
      }
      if (v["no-serve"]) {
        ctx.out(`slm demo: model ready in ${r.modelDir} (${formatDuration(Date.now() - t0)}). Chat: slm chat --model ${r.modelDir}`);
        return 0;
      }
      const outDir = v.out ?? join("runs", "demo");
      const index = ensureDemoIndex(outDir, r.datasetDir, ctx);
      ctx.err(`slm demo: 3/3 serving ${r.modelDir} and the assistant over ${index}…`);
      const { startServer } = await import("../serve/server.ts"); // loaded only to serve: --no-serve needs no HTTP stack
      const server = await startServer({
        modelDir: r.modelDir,
        modelId: basename(resolve(outDir)),
        host,
        port,
        index,
        answerer,
        onLog: ctx.verbose ? (l) => ctx.err(l) : undefined,
      });
      serving = server;
      ctx.out(
        `\nslm demo: ready after ${formatDuration(Date.now() - t0)}. Open ${server.url} to chat (OpenAI-compatible API at ${server.url.replace(/\/$/, "")}/v1).`,
      );
      if (server.assistantId)
        ctx.out(
          `The model "${server.assistantId}" answers from the documents with citations (${answerer} answers); "${server.card.id}" is the trained model itself.`,
        );
      ctx.out("Press Ctrl-C to stop the server.");
      await new Promise<void>((res) => (stopServing = res));
      ctx.err("\nslm demo: stopping the server…");
      return 0;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      if (serving) await serving.close();
    }
  },
};
