// The pretraining loop: random windows from token shards, forward and
// backward through the tape, gradient accumulation, global-norm clipping,
// AdamW with a warmup + cosine or warmup-stable-decay schedule, periodic
// evaluation (loss, perplexity, bits per byte), metrics.jsonl, atomic
// checkpoints (every N steps and on request, e.g. SIGINT) and exact resume.
// Buffers are allocated on the first step and reused (the tape's arena).
// Reports through an onEvent callback; never prints. Knows nothing about the
// CLI or about text: token ids in, a trained model out.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { ConfigError } from "../errors.ts";
import { writeFileAtomicSync } from "../util/atomic.ts";
import type { ShardSet } from "../data/shards.ts";
import type { CausalLM } from "../models/index.ts";
import {
  AdamW,
  Tape,
  clipGradNorm,
  crossEntropy,
  gradientBytes,
  linear,
  linearCrossEntropy,
  lrAt,
  validateSchedule,
  type LrSchedule,
  type Parameter,
  type Tensor,
} from "../tensor/index.ts";
import { WindowSampler, validationBatches, type Batch, type BatchSource } from "./batches.ts";
import { latestCheckpoint, loadCheckpoint, saveCheckpoint, type TrainerCounters } from "./checkpoint.ts";

/** Every option of a training run, with its default. */
export interface TrainConfig {
  /** Sequences per micro-batch. Default 8. */
  batch: number;
  /** Tokens per sequence (context). Default: the model's maxSeqLen, capped at 256. */
  seqLen: number;
  /** Micro-batches per optimizer step. Default 1. */
  gradAccum: number;
  /** Stop after this many optimizer steps (when no time budget). */
  maxSteps?: number;
  /** Or train for this long: the step count is fixed after a few timed steps, so the schedule still ends on time. */
  timeBudgetMs?: number;
  /** Peak learning rate. Default 1e-3 from scratch (3e-4 is a usual fine-tuning value). */
  lr: number;
  /** "cosine" (warmup, cosine to lr·minLrRatio) or "wsd" (warmup, flat, decay over the last 20%). Default "cosine". */
  schedule: "cosine" | "wsd" | "constant";
  /** Warmup steps. Default: 5% of the run, at most 200. */
  warmupSteps?: number;
  /** Final learning rate as a fraction of the peak. Default 0.1. */
  minLrRatio: number;
  /** AdamW hyperparameters. Defaults 0.1, 0.9, 0.95, 1e-8. */
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Global gradient-norm clip (0 = off). Default 1. */
  clip: number;
  /** Evaluate every N steps (0 = only at the end). Default 100. */
  evalEvery: number;
  /** Validation batches per evaluation. Default 20. */
  evalBatches: number;
  /** Checkpoint every N steps (0 = only at the end and on request). Default 200. */
  checkpointEvery: number;
  /** Log a step event every N steps. Default 10. */
  logEvery: number;
  /** Data order and anything random in training. Default 0. */
  seed: number;
  /** Average bytes of text per token in the validation data (for bits per byte); unknown → omitted. */
  bytesPerToken?: number;
  /** Stop after this many consecutive non-finite steps. Default 5. */
  maxBadSteps: number;
  /**
   * Cross-entropy over the output head in chunks of positions (linearCrossEntropy), never holding
   * the (B·T, V) logits: at a 151,936-word vocabulary and 2,048 positions they are 1.2 GB. Default
   * true; same loss and gradients as the full path (tested). A custom `loss` always sees full logits.
   */
  chunkedLoss: boolean;
  /**
   * Activation checkpointing: keep only each block's input during the forward and recompute the
   * block in backward (about one more forward pass of compute; activations of one block instead of
   * all). Default false here; `slm finetune` turns it on above 100M parameters.
   */
  checkpointing: boolean;
}

export const TRAIN_DEFAULTS: Omit<TrainConfig, "seqLen"> = {
  batch: 8,
  gradAccum: 1,
  lr: 1e-3,
  schedule: "cosine",
  minLrRatio: 0.1,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  clip: 1,
  evalEvery: 100,
  evalBatches: 20,
  checkpointEvery: 200,
  logEvery: 10,
  seed: 0,
  maxBadSteps: 5,
  chunkedLoss: true,
  checkpointing: false,
};

/**
 * Why a run ended: its step count, its time budget, an abort (Ctrl-C), or an abort whose reason is
 * EARLY_STOP (validation loss stopped improving: early-stop.ts).
 */
export type StopReason = "steps" | "time" | "requested" | "early";

/** The abort reason that marks a stop as early stopping rather than an interruption. */
export const EARLY_STOP = "slmkit:early-stop";

export type TrainEvent =
  | { type: "start"; resumedFrom: number | null; totalSteps: number | null; params: number; tokensPerStep: number }
  | {
      type: "step";
      step: number;
      totalSteps: number;
      loss: number;
      lr: number;
      gradNorm: number;
      tokens: number;
      tokensPerSec: number;
      elapsedMs: number;
      etaMs: number | null;
    }
  | { type: "eval"; step: number; valLoss: number; perplexity: number; bitsPerByte: number | null; tokens: number }
  | { type: "checkpoint"; step: number; path: string }
  | { type: "warn"; step: number; message: string }
  | { type: "done"; step: number; tokens: number; elapsedMs: number; finalValLoss: number | null; stopped: StopReason; summary: RunSummary };

/** What a finished run reports (also written to RUN/summary.json and as the last line of metrics.jsonl). */
export interface RunSummary {
  /** Values in the model (base included) and in the tensors that trained. */
  params: number;
  trainableParams: number;
  steps: number;
  tokens: number;
  elapsedS: number;
  tokensPerS: number;
  finalValLoss: number | null;
  bestValLoss: number | null;
  /** Bytes of gradient buffers and of optimizer moments; peak resident set size of the process. */
  memory: { gradientBytes: number; optimizerBytes: number; peakRssBytes: number };
  stopped: StopReason;
}

/**
 * A training objective other than cross-entropy on the batch's targets (e.g. distillation).
 * Validation always uses plain cross-entropy, so runs with different losses compare.
 */
export interface TrainLoss {
  /**
   * The scalar loss of one micro-batch. logits (B·T, V) on the recording tape; `index` is the
   * batch's position in the sampler's draw order since the start of the run (0-based, resume-safe).
   */
  compute(tape: Tape, logits: Tensor, batch: Batch, index: number): Tensor;
  /** Extra numbers for the step lines of metrics.jsonl (e.g. the parts of a combined loss). */
  stepMetrics?(): Record<string, number>;
  /**
   * What compute() receives: the logits (default), or the final hidden states (B·T, C) for a
   * loss that runs the output head itself, in chunks (preference losses: sequence-logprobs.ts).
   */
  input?: "logits" | "hidden";
}

export interface TrainRun {
  model: CausalLM;
  /** Token shards (random windows), or any batch source (SFT examples). */
  train: ShardSet | BatchSource;
  /** Token shards (fixed windows) or the validation batches (the same ones every call; targets may hold -100). */
  val?: ShardSet | (() => Iterable<Batch>);
  /** The tensors to train, optimize and checkpoint (LoRA adapters); default the model's parameters. Others are left as they are. */
  trainable?: [string, Parameter][];
  /** Run directory: checkpoints/ and metrics.jsonl go here. */
  runDir: string;
  config: Partial<TrainConfig>;
  /** Continue from the newest checkpoint in runDir. */
  resume?: boolean;
  onEvent?: (e: TrainEvent) => void;
  /**
   * Abort: finish the current step, checkpoint, and return (stopped: "requested", or "early" when
   * the signal's reason is EARLY_STOP, as EarlyStopping's is).
   */
  signal?: AbortSignal;
  /** Current time in ms (tests inject a clock). */
  now?: () => number;
  /** The training loss (default: cross-entropy on the targets). */
  loss?: TrainLoss;
}

export interface TrainResult {
  counters: TrainerCounters;
  summary: RunSummary;
  finalValLoss: number | null;
  stopped: StopReason;
}

function resolveConfig(model: CausalLM, c: Partial<TrainConfig>): TrainConfig {
  const cfg: TrainConfig = { ...TRAIN_DEFAULTS, seqLen: Math.min(model.config.maxSeqLen, 256), ...stripUndefined(c) };
  const posInt = (k: keyof TrainConfig, min = 1) => {
    const v = cfg[k];
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < min)) throw new ConfigError(`${k} must be an integer >= ${min}, got ${v}`);
  };
  posInt("batch");
  posInt("seqLen");
  posInt("gradAccum");
  posInt("maxSteps");
  posInt("evalEvery", 0);
  posInt("evalBatches");
  posInt("checkpointEvery", 0);
  posInt("logEvery");
  posInt("maxBadSteps");
  if (cfg.seqLen > model.config.maxSeqLen) throw new ConfigError(`context ${cfg.seqLen} is longer than the model's maximum (${model.config.maxSeqLen})`);
  if (cfg.maxSteps === undefined && cfg.timeBudgetMs === undefined) throw new ConfigError("give a step limit (maxSteps) or a time budget (timeBudgetMs)");
  if (cfg.timeBudgetMs !== undefined && !(cfg.timeBudgetMs > 0)) throw new ConfigError(`time budget must be > 0, got ${cfg.timeBudgetMs} ms`);
  if (!(cfg.clip >= 0)) throw new ConfigError(`clip must be >= 0, got ${cfg.clip}`);
  return cfg;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function schedule(cfg: TrainConfig, totalSteps: number): LrSchedule {
  const warmupSteps = Math.min(cfg.warmupSteps ?? Math.min(200, Math.floor(totalSteps * 0.05)), Math.max(0, totalSteps - 1));
  const s: LrSchedule =
    cfg.schedule === "constant"
      ? { kind: "constant", lr: cfg.lr, warmupSteps }
      : cfg.schedule === "wsd"
        ? { kind: "wsd", lr: cfg.lr, warmupSteps, totalSteps, minRatio: cfg.minLrRatio, decayFraction: Math.min(0.2, (totalSteps - warmupSteps) / totalSteps) }
        : { kind: "cosine", lr: cfg.lr, warmupSteps, totalSteps, minRatio: cfg.minLrRatio };
  validateSchedule(s);
  return s;
}

/** Mean loss over the fixed validation windows, with an inference tape. */
export function evaluate(
  model: CausalLM,
  val: ShardSet,
  batch: number,
  seqLen: number,
  maxBatches: number,
  tape = new Tape({ grad: false }),
): { loss: number; tokens: number } {
  return evaluateBatches(model, validationBatches(val, batch, seqLen, maxBatches), tape);
}

/** Mean loss per predicted token over `batches` (targets equal to -100 are not counted). */
export function evaluateBatches(model: CausalLM, batches: Iterable<Batch>, tape = new Tape({ grad: false }), chunked = true): { loss: number; tokens: number } {
  let sum = 0,
    n = 0;
  for (const b of batches) {
    tape.reset();
    const loss = batchLoss(model, tape, b, chunked);
    let count = 0;
    for (let i = 0; i < b.targets.length; i++) if (b.targets[i] !== -100) count++;
    sum += loss.data[0]! * count;
    n += count;
  }
  return { loss: n === 0 ? Number.NaN : sum / n, tokens: n };
}

/** Mean cross-entropy of a batch's targets: chunked over the head (no full logits), or through the logits. */
export function batchLoss(model: CausalLM, tape: Tape, b: Batch, chunked: boolean): Tensor {
  if (b.segments !== undefined) {
    const h = model.hidden(tape, b.inputs, b.batch, b.seqLen, undefined, b.segments);
    return chunked
      ? linearCrossEntropy(tape, h, model.headWeight, b.targets)
      : crossEntropy(tape, linear(tape, h, model.headWeight), b.targets, { inPlaceGrad: tape.gradEnabled });
  }
  if (chunked) return linearCrossEntropy(tape, model.hidden(tape, b.inputs, b.batch, b.seqLen), model.headWeight, b.targets);
  return crossEntropy(tape, model.forward(tape, b.inputs, b.batch, b.seqLen), b.targets, { inPlaceGrad: tape.gradEnabled });
}

function isBatchSource(x: ShardSet | BatchSource): x is BatchSource {
  return typeof (x as BatchSource).next === "function";
}

/**
 * Restores a run from its latest checkpoint (weights, optimizer, counters, sampler) after checking
 * that the batch shape and seed match, and drops metrics.jsonl lines written after it. Returns the
 * step resumed from.
 */
function resumeRun(
  runDir: string,
  saved: { namedParameters: () => [string, Parameter][] },
  opt: AdamW,
  cfg: TrainConfig,
  counters: TrainerCounters,
  sampler: BatchSource,
  metricsPath: string,
): number {
  const ck = latestCheckpoint(runDir);
  if (!ck) throw new ConfigError(`--resume: no checkpoint in ${join(runDir, "checkpoints")}`);
  const st = loadCheckpoint(ck, saved, opt);
  const prev = st.run as Partial<TrainConfig>;
  for (const k of ["batch", "seqLen", "gradAccum", "seed"] as const) {
    if (prev[k] !== undefined && prev[k] !== cfg[k])
      throw new ConfigError(`--resume: the checkpoint was made with ${k} = ${prev[k]}, this run has ${cfg[k]}`, { hint: "resume with the same options" });
  }
  Object.assign(counters, st.counters);
  sampler.restore(st.sampler);
  // metrics.jsonl: drop lines written after the checkpoint (they will be written again).
  if (existsSync(metricsPath)) {
    const kept = readFileSync(metricsPath, "utf8")
      .split("\n")
      .filter((l) => {
        if (!l.trim()) return false;
        try {
          return (JSON.parse(l) as { step?: number }).step! <= counters.step;
        } catch {
          return false;
        }
      });
    writeFileAtomicSync(metricsPath, kept.map((l) => `${l}\n`).join(""));
  }
  return counters.step;
}

/**
 * Forward and backward of one optimizer step over cfg.gradAccum micro-batches (gradients scaled
 * by 1/gradAccum): the mean loss, whether every micro-batch's loss was finite, the real tokens seen.
 */
function accumulateGradients(run: TrainRun, tape: Tape, sampler: BatchSource, cfg: TrainConfig): { loss: number; finite: boolean; tokens: number } {
  const model = run.model;
  let lossSum = 0;
  let finite = true;
  let tokens = 0;
  for (let micro = 0; micro < cfg.gradAccum; micro++) {
    const b = sampler.next();
    tokens += b.tokens ?? b.batch * b.seqLen; // real tokens: padding of packed or padded batches is not throughput
    tape.reset();
    const out =
      run.loss === undefined
        ? null
        : run.loss.input === "hidden"
          ? model.hidden(tape, b.inputs, b.batch, b.seqLen)
          : model.forward(tape, b.inputs, b.batch, b.seqLen);
    const loss = run.loss && out ? run.loss.compute(tape, out, b, sampler.batchesDrawn - 1) : batchLoss(model, tape, b, cfg.chunkedLoss);
    const l = loss.data[0]!;
    if (!Number.isFinite(l)) finite = false;
    lossSum += l;
    tape.backward(loss, 1 / cfg.gradAccum);
  }
  return { loss: lossSum / cfg.gradAccum, finite, tokens };
}

/** The "step" event of a log step: loss, learning rate, gradient norm, throughput and an ETA from it. */
function stepEvent(
  counters: TrainerCounters,
  loss: number,
  lr: number,
  gradNorm: number,
  tps: number,
  tokensPerStep: number,
): Extract<TrainEvent, { type: "step" }> {
  const remaining = counters.totalSteps > 0 ? counters.totalSteps - counters.step : null;
  return {
    type: "step",
    step: counters.step,
    totalSteps: counters.totalSteps,
    loss,
    lr,
    gradNorm,
    tokens: counters.tokens,
    tokensPerSec: tps,
    elapsedMs: counters.elapsedMs,
    etaMs: remaining === null || tps === 0 ? null : ((remaining * tokensPerStep) / tps) * 1000,
  };
}

/** The run's summary: sizes, steps, throughput, losses, memory. */
function runSummary(
  model: CausalLM,
  opt: AdamW,
  trainable: Parameter[],
  params: number,
  counters: TrainerCounters,
  lastVal: number | null,
  stopped: StopReason,
): RunSummary {
  return {
    params,
    trainableParams: trainable.reduce((a, p) => a + p.size, 0),
    steps: counters.step,
    tokens: counters.tokens,
    elapsedS: counters.elapsedMs / 1000,
    tokensPerS: counters.tokens / Math.max(counters.elapsedMs / 1000, 1e-9),
    finalValLoss: lastVal,
    bestValLoss: counters.bestValLoss,
    memory: {
      gradientBytes: gradientBytes([...model.parameters(), ...trainable]),
      optimizerBytes: opt.stateBytes(),
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    },
    stopped,
  };
}

export async function train(run: TrainRun): Promise<TrainResult> {
  const { model, runDir } = run;
  const cfg = resolveConfig(model, run.config);
  const now = run.now ?? (() => performance.now());
  const emit = run.onEvent ?? (() => {});
  mkdirSync(runDir, { recursive: true });
  const metricsPath = join(runDir, "metrics.jsonl");

  const params = run.trainable ?? model.namedParameters();
  const opt = new AdamW(params, { lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps, weightDecay: cfg.weightDecay });
  const sampler: BatchSource = isBatchSource(run.train) ? run.train : new WindowSampler(run.train, cfg.batch, cfg.seqLen, cfg.seed);
  const val = run.val;
  if (val && typeof val !== "function" && val.count < cfg.seqLen + 1)
    throw new ConfigError(`the validation split has ${val.count} tokens, fewer than one window of ${cfg.seqLen + 1}`);
  if (!isBatchSource(run.train) && run.train.count < 1) throw new ConfigError("the training split is empty");
  const saved = { namedParameters: () => params }; // what checkpoints hold

  const counters: TrainerCounters = { step: 0, tokens: 0, totalSteps: cfg.maxSteps ?? 0, elapsedMs: 0, badSteps: 0, bestValLoss: null };
  const runRecord = { ...cfg, model: model.config } as unknown as Record<string, unknown>;
  const resumedFrom = run.resume ? resumeRun(runDir, saved, opt, cfg, counters, sampler, metricsPath) : null;
  if (!run.resume && latestCheckpoint(runDir))
    throw new ConfigError(`${runDir} already has checkpoints`, { hint: "pass --resume to continue that run, or choose a new --out" });

  const tokensPerStep = cfg.batch * cfg.seqLen * cfg.gradAccum;
  const paramCount = run.trainable ? model.numParameters() + params.reduce((a, [, p]) => a + p.size, 0) : params.reduce((a, [, p]) => a + p.size, 0);
  emit({ type: "start", resumedFrom, totalSteps: counters.totalSteps || null, params: paramCount, tokensPerStep });
  const metric = (o: Record<string, unknown>) => appendFileSync(metricsPath, `${JSON.stringify(o)}\n`);

  const tape = new Tape({ checkpoint: cfg.checkpointing });
  const evalTape = new Tape({ grad: false });
  const trainable = params.map(([, p]) => p).filter((p) => p.requiresGrad);
  let sched: LrSchedule | null = counters.totalSteps > 0 ? schedule(cfg, counters.totalSteps) : null;
  let lastVal: number | null = null;
  let stopped: TrainResult["stopped"] = "steps";
  const runStart = now() - counters.elapsedMs;
  let windowStart = now(),
    windowTokens = 0;

  const doEval = () => {
    if (!val) return;
    const r =
      typeof val === "function"
        ? evaluateBatches(model, val(), evalTape, cfg.chunkedLoss)
        : evaluateBatches(model, validationBatches(val, cfg.batch, cfg.seqLen, cfg.evalBatches), evalTape, cfg.chunkedLoss);
    lastVal = r.loss;
    if (counters.bestValLoss === null || r.loss < counters.bestValLoss) counters.bestValLoss = r.loss;
    const bpb = cfg.bytesPerToken ? r.loss / Math.LN2 / cfg.bytesPerToken : null;
    const ev = { type: "eval" as const, step: counters.step, valLoss: r.loss, perplexity: Math.exp(r.loss), bitsPerByte: bpb, tokens: counters.tokens };
    metric({ ...ev, time_s: counters.elapsedMs / 1000 });
    emit(ev);
  };
  const doCheckpoint = () => {
    const path = saveCheckpoint(runDir, saved, opt, { counters, sampler: sampler.state(), run: runRecord });
    emit({ type: "checkpoint", step: counters.step, path });
  };

  // Time budget: time steps 2..8 (the first step pays one-off allocation), add the
  // expected share of evaluation (a forward-only batch costs about a third of a
  // training step), then fix the total so the schedule ends on time.
  const calibrate = cfg.timeBudgetMs !== undefined && counters.totalSteps === 0 ? 8 : 0;
  let afterFirstStep = 0;
  let stepsHere = 0; // steps taken in this process (a resumed run calibrates afresh)

  while (true) {
    if (counters.totalSteps > 0 && counters.step >= counters.totalSteps) break;
    if (run.signal?.aborted) {
      stopped = run.signal.reason === EARLY_STOP ? "early" : "requested";
      break;
    }
    const lr = sched ? lrAt(sched, counters.step) : cfg.lr * Math.min(1, (counters.step + 1) / 20);
    const { loss, finite, tokens: stepTokens } = accumulateGradients(run, tape, sampler, cfg);
    const gradNorm = finite ? (cfg.clip > 0 ? clipGradNorm(trainable, cfg.clip) : clipGradNorm(trainable, Infinity)) : Number.NaN;
    if (!finite || !Number.isFinite(gradNorm)) {
      // Skip the update: a non-finite loss or gradient would poison the weights.
      opt.zeroGrad();
      counters.badSteps++;
      emit({
        type: "warn",
        step: counters.step,
        message: `non-finite ${finite ? "gradient norm" : "loss"} at step ${counters.step + 1}: update skipped (${counters.badSteps} in a row)`,
      });
      if (counters.badSteps >= cfg.maxBadSteps) {
        throw new ConfigError(`training diverged: ${counters.badSteps} consecutive steps with a non-finite loss or gradient`, {
          hint: "lower --lr, or check the data and vocabulary",
        });
      }
    } else {
      counters.badSteps = 0;
      opt.step(lr);
    }
    opt.zeroGrad();
    counters.step++;
    counters.tokens += stepTokens;
    windowTokens += stepTokens;
    const t1 = now();
    counters.elapsedMs = t1 - runStart;

    stepsHere++;
    if (calibrate > 0 && stepsHere === 1) afterFirstStep = t1;
    if (calibrate > 0 && stepsHere === calibrate && cfg.timeBudgetMs !== undefined) {
      let perStep = (t1 - afterFirstStep) / (calibrate - 1);
      if (val && cfg.evalEvery > 0) perStep *= 1 + cfg.evalBatches / 3 / cfg.evalEvery;
      const left = cfg.timeBudgetMs - (t1 - runStart);
      counters.totalSteps = Math.max(counters.step + 1, counters.step + Math.floor(left / perStep));
      sched = schedule(cfg, counters.totalSteps);
    }
    if (counters.step % cfg.logEvery === 0 || counters.step === counters.totalSteps) {
      const dt = (t1 - windowStart) / 1000;
      const tps = dt > 0 ? windowTokens / dt : 0;
      const ev = stepEvent(counters, loss, lr, gradNorm, tps, tokensPerStep);
      metric({
        type: "step",
        step: ev.step,
        loss,
        lr,
        grad_norm: gradNorm,
        tokens: ev.tokens,
        tokens_per_s: tps,
        time_s: ev.elapsedMs / 1000,
        ...run.loss?.stepMetrics?.(),
      });
      emit(ev);
      windowStart = t1;
      windowTokens = 0;
    }
    if (cfg.evalEvery > 0 && counters.step % cfg.evalEvery === 0 && counters.step !== counters.totalSteps) doEval();
    if (cfg.checkpointEvery > 0 && counters.step % cfg.checkpointEvery === 0 && counters.step !== counters.totalSteps) doCheckpoint();
    // Let signal handlers and the event loop run between steps.
    if (counters.step % 4 === 0) await new Promise((r) => setImmediate(r));
  }
  if (cfg.timeBudgetMs !== undefined && stopped === "steps") stopped = "time";
  doEval();
  doCheckpoint();
  const summary = runSummary(model, opt, trainable, paramCount, counters, lastVal, stopped);
  metric({ type: "summary", step: counters.step, ...summary });
  writeFileAtomicSync(join(runDir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  emit({ type: "done", step: counters.step, tokens: counters.tokens, elapsedMs: counters.elapsedMs, finalValLoss: lastVal, stopped, summary });
  return { counters, summary, finalValLoss: lastVal, stopped };
}
