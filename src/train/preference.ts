// Preference tuning (DPO, ORPO) of a loaded model on preference pairs, with
// LoRA adapters or fully: encodes the pairs (preference-data.ts), holds out a
// validation split, scores every pair once with the reference model, then
// runs the one trainer loop (trainer.ts) with the preference loss
// (dpo-loss.ts over sequence-logprobs.ts) as its TrainLoss, evaluates the
// held-out pairs, and writes the result as finetune.ts does (RUN/adapter or
// RUN/model, RUN/finetune-config.json) plus RUN/preference-eval.json.
//
// The reference model of DPO is the policy before training: the base with its
// adapters switched off (LoRA) or the initial weights (full). Both are scored
// once, before the first step, for every training and held-out pair (one
// forward pass over the data without gradients), so no second copy of the
// model is ever held, for full fine-tuning either. ORPO needs no reference.
// The trainer's validation loss is the held-out chosen completions' NLL.
// Knows nothing about the CLI; reports through onEvent.
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

import { ConfigError } from "../errors.ts";
import type { CausalLM, LoraModel } from "../models/index.ts";
import { Tape, type Tensor } from "../tensor/index.ts";
import { writeFileAtomicSync } from "../util/atomic.ts";
import type { Batch } from "./batches.ts";
import {
  preferenceLoss,
  preferenceLossForward,
  validatePreferenceOptions,
  type PreferenceLossOptions,
  type PreferenceMetrics,
  type PreferenceObjective,
} from "./dpo-loss.ts";
import { FINETUNE_DEFAULTS, prepareRun, startRun, type FinetuneMethod, type FinetuneRunOptions } from "./finetune.ts";
import type { MemoryEstimate } from "./memory.ts";
import {
  PreferenceSource,
  encodePreferences,
  fillPreferenceBatch,
  type PreferenceBatch,
  type PreferenceEncodeStats,
  type PreferenceExample,
  type PreferencePair,
} from "./preference-data.ts";
import { sequenceLogProbs } from "./sequence-logprobs.ts";
import { sftValidation } from "./sft.ts";
import { trainRunDir } from "./run.ts";
import type { TrainConfig, TrainEvent, TrainLoss, TrainResult } from "./trainer.ts";

/** Preference settings, with their defaults. */
export const PREFERENCE_DEFAULTS = {
  /** DPO β: 0.1, the DPO paper's and TRL's default. */
  beta: 0.1,
  loss: "sigmoid" as const,
  /**
   * ORPO λ: 0.1, TRL's default (its `beta`): the odds-ratio term nudges, the chosen NLL (which
   * also keeps the format) dominates; enough to flip the behaviour on bench/dpo.ts.
   */
  orpoLambda: 0.1,
  /**
   * DPO: weight of the chosen NLL added to the loss (TRL's rpo_alpha). 1, not TRL's 0 (plain DPO):
   * on bench/dpo.ts plain DPO lowered the chosen answers' likelihood along with the rejected ones
   * and broke generations (citing share 25–92.5% over three seeds, against 100% in each with α 1);
   * Llama 3's preference recipe adds such a term too. `--rpo-alpha 0` is plain DPO.
   */
  rpoAlpha: 1,
  /** Pairs per step (each pair is two sequences). */
  batch: 4,
  /** Peak LR: DPO/ORPO steps are smaller than SFT's (TRL's examples use 5e-6 full, 5e-5–5e-4 for LoRA). */
  lr: { full: 5e-6, lora: 5e-4 } as Record<FinetuneMethod, number>,
  /** Passes over the pairs when no step limit is given (TRL's default, as SFT's here). */
  epochs: 3,
};

/** One log step's preference figures, means over its batches (what the CLI prints on a step line). */
export type PreferenceStepMetrics = Omit<PreferenceMetrics, "pairs" | "loss">;

export type PreferenceEvent =
  | TrainEvent
  | { type: "preference"; step: number; metrics: PreferenceStepMetrics }
  | { type: "reference"; pairs: number; elapsedMs: number };

export interface PreferenceOptions extends FinetuneRunOptions {
  examples: readonly PreferenceExample[];
  valExamples?: readonly PreferenceExample[];
  objective: PreferenceObjective;
  /** β, the DPO loss variant, ORPO's λ, DPO's chosen-NLL weight (PREFERENCE_DEFAULTS). */
  beta?: number;
  loss?: PreferenceLossOptions["loss"];
  orpoLambda?: number;
  rpoAlpha?: number;
  /** Trainer options; `batch` counts pairs. maxSteps defaults to `epochs` passes. */
  config?: Partial<TrainConfig>;
  onEvent?: (e: PreferenceEvent) => void;
}

export interface PreferenceResult extends TrainResult {
  output: string;
  lora: LoraModel | null;
  memoryEstimate: MemoryEstimate;
  checkpointing: boolean;
  loss: PreferenceLossOptions;
  train: PreferenceEncodeStats;
  val: PreferenceEncodeStats | null;
  /** The held-out pairs after training (null without any). */
  evaluation: PreferenceMetrics | null;
}

/** Completion tokens (targets) of each row of a preference batch (2n: chosen, then rejected). */
function rowTokens(b: Batch): Float64Array {
  const out = new Float64Array(b.batch);
  for (let r = 0; r < b.batch; r++) {
    let c = 0;
    for (let t = r * b.seqLen; t < (r + 1) * b.seqLen; t++) if (b.targets[t] !== -100) c++;
    out[r] = c;
  }
  return out;
}

/** Runs `fn` with every adapter of `lora` switched off (the base alone), then switches them back on. */
export function withAdaptersOff<T>(lora: LoraModel | null, fn: () => T): T {
  if (lora === null) return fn();
  const saved = [...lora.adapters.values()].map((a) => [a.base, a.base.adapter] as const);
  for (const [base] of saved) base.adapter = null;
  try {
    return fn();
  } finally {
    for (const [base, a] of saved) base.adapter = a;
  }
}

/**
 * Summed completion log-probs of every pair under `model` as it is now, without gradients:
 * (2P) values, pair i's chosen at i, its rejected at P + i. `pairsPerBatch` pairs per forward.
 */
export function pairLogProbs(
  model: CausalLM,
  pairs: readonly PreferencePair[],
  pairsPerBatch: number,
  padId = 0,
  tape = new Tape({ grad: false }),
): Float32Array {
  const P = pairs.length,
    out = new Float32Array(2 * P);
  for (let i = 0; i < P; i += pairsPerBatch) {
    const ids = Array.from({ length: Math.min(pairsPerBatch, P - i) }, (_, k) => i + k);
    const b = fillPreferenceBatch(pairs, ids, padId);
    tape.reset();
    const lp = sequenceLogProbs(tape, model.hidden(tape, b.inputs, b.batch, b.seqLen), model.headWeight, b.targets, b.batch);
    ids.forEach((p, k) => {
      out[p] = lp.data[k]!;
      out[P + p] = lp.data[ids.length + k]!;
    });
  }
  return out;
}

/** The reference's log-probs for the pairs of a batch, in the batch's row order (chosen, then rejected). */
function gatherRef(ref: Float32Array, pairIds: Int32Array): Float64Array {
  const n = pairIds.length,
    P = ref.length / 2,
    out = new Float64Array(2 * n);
  pairIds.forEach((p, k) => {
    out[k] = ref[p]!;
    out[n + k] = ref[P + p]!;
  });
  return out;
}

const METRIC_KEYS = ["chosenReward", "rejectedReward", "margin", "accuracy", "chosenLogp", "rejectedLogp", "nll", "logOddsRatio"] as const;

/** The preference loss as the trainer's TrainLoss: sequence log-probs over the head in chunks, then DPO / ORPO. */
export class PreferenceTrainLoss implements TrainLoss {
  readonly input = "hidden" as const;
  private sums = new Map<string, number>();
  private batches = 0;
  /** The figures of the last log step (stepMetrics()). */
  last: PreferenceStepMetrics | null = null;

  constructor(
    private readonly model: CausalLM,
    private readonly opts: PreferenceLossOptions,
    private readonly ref: Float32Array | null,
  ) {}

  compute(tape: Tape, hidden: Tensor, batch: Batch): Tensor {
    const b = batch as PreferenceBatch;
    const lp = sequenceLogProbs(tape, hidden, this.model.headWeight, b.targets, b.batch);
    const ref = this.ref === null ? undefined : gatherRef(this.ref, b.pairIds);
    return preferenceLoss(tape, lp, this.opts, rowTokens(b), ref, (m) => {
      for (const k of METRIC_KEYS) if (m[k] !== undefined) this.sums.set(k, (this.sums.get(k) ?? 0) + m[k]);
      this.batches++;
    });
  }

  /** Means since the previous call (the trainer calls it on each log step). */
  stepMetrics(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of this.sums) out[k] = v / Math.max(1, this.batches);
    this.sums.clear();
    this.batches = 0;
    this.last = out as unknown as PreferenceStepMetrics;
    return out;
  }
}

/** Loss and metrics over held-out pairs (policy log-probs now, reference precomputed). */
export function evaluatePreferences(
  model: CausalLM,
  pairs: readonly PreferencePair[],
  ref: Float32Array | null,
  opts: PreferenceLossOptions,
  pairsPerBatch: number,
  padId = 0,
): PreferenceMetrics {
  const pi = pairLogProbs(model, pairs, pairsPerBatch, padId);
  const P = pairs.length,
    tokens = new Float64Array(2 * P);
  pairs.forEach((p, i) => {
    tokens[i] = p.chosenTokens;
    tokens[P + i] = p.rejectedTokens;
  });
  return preferenceLossForward(opts, pi, tokens, ref ?? undefined).metrics;
}

export async function finetunePreference(o: PreferenceOptions): Promise<PreferenceResult> {
  const { model, tokenizer, method } = o;
  const lossOpts: PreferenceLossOptions = {
    objective: o.objective,
    beta: o.beta ?? PREFERENCE_DEFAULTS.beta,
    loss: o.loss ?? PREFERENCE_DEFAULTS.loss,
    orpoLambda: o.orpoLambda ?? PREFERENCE_DEFAULTS.orpoLambda,
    rpoAlpha: o.rpoAlpha ?? PREFERENCE_DEFAULTS.rpoAlpha,
  };
  validatePreferenceOptions(lossOpts);
  const { seed, maxLen, trainEx, valEx } = startRun(o, o.examples, o.valExamples);
  const tr = encodePreferences(tokenizer, trainEx, maxLen, o.template);
  if (tr.pairs.length === 0) throw new ConfigError("no preference pair has completion tokens within the context", { hint: "use a longer --context" });
  const va = valEx.length > 0 ? encodePreferences(tokenizer, valEx, maxLen, o.template) : null;

  const pairsPerBatch = o.config?.batch ?? Math.min(PREFERENCE_DEFAULTS.batch, tr.pairs.length);
  const perEpoch = Math.ceil(tr.pairs.length / pairsPerBatch);
  const maxSteps =
    o.config?.maxSteps ?? (o.config?.timeBudgetMs === undefined ? Math.max(1, Math.round((o.epochs ?? PREFERENCE_DEFAULTS.epochs) * perEpoch)) : undefined);
  const steps = maxSteps ?? 100;
  const padId = tokenizer.specialTokens["<|pad|>"] ?? 0;
  const config: Partial<TrainConfig> = {
    lr: PREFERENCE_DEFAULTS.lr[method],
    weightDecay: FINETUNE_DEFAULTS.weightDecay,
    warmupSteps: Math.min(FINETUNE_DEFAULTS.warmupMax, Math.floor(steps * 0.1)),
    evalEvery: Math.max(1, Math.floor(steps / 10)),
    checkpointEvery: Math.max(1, Math.floor(steps / 4)),
    ...stripUndefined(o.config ?? {}),
    batch: 2 * pairsPerBatch, // rows: each pair is a chosen and a rejected sequence
    seqLen: maxLen,
    maxSteps,
  };

  const { checkpointing, lora, memoryEstimate } = prepareRun(o, config, seed, (e) => o.onEvent?.(e));
  mkdirSync(o.runDir, { recursive: true });
  try {
    // The reference: the base with the adapters off, or the initial weights; scored once, before training.
    let refTrain: Float32Array | null = null,
      refVal: Float32Array | null = null;
    if (lossOpts.objective === "dpo") {
      const t0 = performance.now();
      withAdaptersOff(lora, () => {
        refTrain = pairLogProbs(model, tr.pairs, pairsPerBatch, padId);
        refVal = va && va.pairs.length > 0 ? pairLogProbs(model, va.pairs, pairsPerBatch, padId) : null;
      });
      o.onEvent?.({ type: "reference", pairs: tr.pairs.length + (va?.pairs.length ?? 0), elapsedMs: performance.now() - t0 });
    }
    const loss = new PreferenceTrainLoss(model, lossOpts, refTrain);
    const chosenVal = va ? va.pairs.map((p) => p.chosen) : [];
    const result = await trainRunDir({
      model,
      train: new PreferenceSource(tr.pairs, pairsPerBatch, seed, padId),
      val: chosenVal.length > 0 ? sftValidation(chosenVal, 2 * pairsPerBatch, config.evalBatches ?? 20, padId) : undefined,
      trainable: lora ? lora.namedParameters() : undefined,
      runDir: o.runDir,
      config,
      resume: o.resume,
      loss,
      onEvent: (e) => {
        o.onEvent?.(e);
        if (e.type === "step" && loss.last !== null) o.onEvent?.({ type: "preference", step: e.step, metrics: loss.last });
      },
      signal: o.signal,
      tokenizer,
      generation: o.generation,
      adapter: lora ? { lora, baseModel: o.baseModel } : undefined,
      record: {
        file: "finetune-config.json",
        settings: {
          method,
          objective: lossOpts.objective,
          preference: lossOpts,
          reference: lossOpts.objective === "dpo" ? (lora ? "base, adapters off (precomputed)" : "initial weights (precomputed)") : null,
          base: o.baseModel ?? null,
          lora: lora ? { ...lora.config } : null,
          ...config,
          pairsPerBatch,
          trainPairs: tr.stats,
          valPairs: va?.stats ?? null,
        },
      },
    });
    const output = result.output;
    const evaluation = va && va.pairs.length > 0 ? evaluatePreferences(model, va.pairs, refVal, lossOpts, pairsPerBatch, padId) : null;
    if (evaluation) {
      writeFileAtomicSync(join(o.runDir, "preference-eval.json"), `${JSON.stringify(evaluation, null, 2)}\n`);
      appendFileSync(join(o.runDir, "metrics.jsonl"), `${JSON.stringify({ type: "preference_eval", step: result.counters.step, ...evaluation })}\n`);
    }
    return { ...result, output, lora, memoryEstimate, checkpointing, loss: lossOpts, train: tr.stats, val: va?.stats ?? null, evaluation };
  } catch (e) {
    lora?.detach();
    throw e;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
