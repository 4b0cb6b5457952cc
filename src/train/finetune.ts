// Supervised fine-tuning of a loaded model on chat examples, fully or with
// LoRA adapters: encodes the examples (src/train/sft.ts), holds out a
// validation split, attaches adapters (src/models/lora.ts) and runs the one
// trainer loop (src/train/trainer.ts) on the trainable tensors only, then
// writes the result into the run directory: RUN/adapter (a PEFT adapter) for
// LoRA, RUN/model (a Hugging Face model directory) for full fine-tuning, and
// RUN/finetune-config.json. Defaults differ from pretraining: lower LR for
// full fine-tuning, no weight decay, a short warmup, a few epochs.
// Knows nothing about the CLI; reports through the trainer's onEvent.
import { mkdirSync } from "node:fs";

import { ConfigError } from "../errors.ts";
import type { GenerationConfig } from "../formats/hf-dir.ts";
import { attachLora, type CausalLM, type LoraModel, type LoraOptions } from "../models/index.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { encodeExamples, packedRows, SftSource, sftValidation, splitExamples, type ChatExample, type EncodeStats } from "./sft.ts";
import { estimateTrainingMemory, type MemoryEstimate } from "./memory.ts";
import { trainRunDir } from "./run.ts";
import type { TrainConfig, TrainEvent, TrainResult } from "./trainer.ts";

export type FinetuneMethod = "full" | "lora";

/** Defaults by method (the rest are the trainer's). */
export const FINETUNE_DEFAULTS = {
  /** Peak LR: LoRA adapters start at zero effect and take a larger step; full fine-tuning a smaller one. */
  lr: { full: 5e-5, lora: 1e-3 } as Record<FinetuneMethod, number>,
  /** Passes over the training examples when no step limit is given. */
  epochs: 3,
  /** Held-out share of the examples when no validation file is given. */
  valFraction: 0.1,
  /** Warmup: 5% of the steps, at most 20 (short runs). */
  warmupFraction: 0.05,
  warmupMax: 20,
  weightDecay: 0,
  batch: 8,
  /** Longest example in tokens (the model's context, at most 512). */
  maxLen: 512,
  /** Pack several examples per row (every family: Llama, Gemma 3, GPT-2). */
  packing: true,
  /** Activation checkpointing is on by default for models above this many parameters. */
  checkpointAbove: 100e6,
};

/** What every fine-tuning run takes (SFT here, preference tuning in preference.ts), beside its data. */
export interface FinetuneRunOptions {
  model: CausalLM;
  tokenizer: Tokenizer;
  /** Held-out share when no validation examples are given. */
  valFraction?: number;
  method: FinetuneMethod;
  lora?: LoraOptions;
  /** Jinja chat template overriding the tokenizer's. */
  template?: string;
  /** Trainer options; maxSteps defaults to `epochs` passes over the training examples. */
  config?: Partial<TrainConfig>;
  epochs?: number;
  runDir: string;
  resume?: boolean;
  /** Recorded as base_model_name_or_path in the adapter. */
  baseModel?: string;
  generation?: GenerationConfig;
  /**
   * Recompute each block in backward instead of keeping its activations. Default: on above
   * FINETUNE_DEFAULTS.checkpointAbove parameters, unless LoRA dropout is on (its masks would be
   * drawn again in the recomputation; asking for both is an error).
   */
  checkpointing?: boolean;
  /** Memory the run may use (the caller's free memory): a "warn" event before training when the estimate exceeds it. */
  memoryBudgetBytes?: number;
  signal?: AbortSignal;
}

export interface FinetuneOptions extends FinetuneRunOptions {
  examples: readonly ChatExample[];
  /** Validation examples; default: valFraction of `examples`, held out. */
  valExamples?: readonly ChatExample[];
  /**
   * Pack several examples per row of `seqLen` tokens (block-diagonal causal attention, positions
   * restarting per example, sliding windows stopping at an example's start, the loss mask
   * kept); `batch` then counts rows. Default: on, for every model family.
   */
  packing?: boolean;
  onEvent?: (e: TrainEvent) => void;
}

export interface FinetuneResult extends TrainResult {
  /** RUN/adapter (LoRA) or RUN/model (full). */
  output: string;
  lora: LoraModel | null;
  /** The peak-memory estimate made before training (src/train/memory.ts). */
  memoryEstimate: MemoryEstimate;
  checkpointing: boolean;
  packing: boolean;
  train: EncodeStats;
  val: EncodeStats | null;
}

export async function finetune(o: FinetuneOptions): Promise<FinetuneResult> {
  const { model, tokenizer, method } = o;
  const { seed, maxLen, trainEx, valEx } = startRun(o, o.examples, o.valExamples);
  const tr = encodeExamples(tokenizer, trainEx, maxLen, o.template);
  if (tr.examples.length === 0) throw new ConfigError("no training example has an assistant token within the context", { hint: "use a longer --context" });
  const va = valEx.length > 0 ? encodeExamples(tokenizer, valEx, maxLen, o.template) : null;

  const packing = o.packing ?? FINETUNE_DEFAULTS.packing;
  const rowsPerEpoch = packing
    ? packedRows(
        tr.examples.map((e) => e.inputs.length),
        maxLen,
      )
    : tr.examples.length;
  const batch = o.config?.batch ?? Math.min(FINETUNE_DEFAULTS.batch, rowsPerEpoch);
  const perEpoch = Math.ceil(rowsPerEpoch / batch);
  const maxSteps =
    o.config?.maxSteps ?? (o.config?.timeBudgetMs === undefined ? Math.max(1, Math.round((o.epochs ?? FINETUNE_DEFAULTS.epochs) * perEpoch)) : undefined);
  const steps = maxSteps ?? 100;
  const padId = tokenizer.specialTokens["<|pad|>"] ?? 0;
  const config: Partial<TrainConfig> = {
    lr: FINETUNE_DEFAULTS.lr[method],
    weightDecay: FINETUNE_DEFAULTS.weightDecay,
    warmupSteps: Math.min(FINETUNE_DEFAULTS.warmupMax, Math.floor(steps * FINETUNE_DEFAULTS.warmupFraction)),
    evalEvery: Math.max(1, Math.floor(steps / 10)),
    checkpointEvery: Math.max(1, Math.floor(steps / 4)),
    ...stripUndefined(o.config ?? {}),
    batch,
    seqLen: maxLen,
    maxSteps,
  };

  const { checkpointing, lora, memoryEstimate } = prepareRun(o, config, seed, (e) => o.onEvent?.(e));
  mkdirSync(o.runDir, { recursive: true });
  try {
    const result = await trainRunDir({
      model,
      train: new SftSource(tr.examples, batch, seed, padId, { pack: packing, rowLen: maxLen }),
      val: va && va.examples.length > 0 ? sftValidation(va.examples, batch, config.evalBatches ?? 20, padId) : undefined,
      trainable: lora ? lora.namedParameters() : undefined,
      runDir: o.runDir,
      config,
      resume: o.resume,
      onEvent: o.onEvent,
      signal: o.signal,
      tokenizer,
      generation: o.generation,
      adapter: lora ? { lora, baseModel: o.baseModel } : undefined,
      record: {
        file: "finetune-config.json",
        settings: {
          method,
          base: o.baseModel ?? null,
          lora: lora ? { ...lora.config } : null,
          packing,
          ...config,
          trainExamples: tr.stats,
          valExamples: va?.stats ?? null,
        },
      },
    });
    return { ...result, lora, memoryEstimate, checkpointing, packing, train: tr.stats, val: va?.stats ?? null };
  } catch (e) {
    lora?.detach();
    throw e;
  }
}

/**
 * What SFT and preference runs check and settle alike before encoding: the method, the seed,
 * the context (at most the model's), and the validation examples (given, or valFraction of
 * `examples` held out by seed).
 */
export function startRun<E>(
  o: FinetuneRunOptions,
  examples: readonly E[],
  valExamples: readonly E[] | undefined,
): { seed: number; maxLen: number; trainEx: readonly E[]; valEx: readonly E[] } {
  const { model, method } = o;
  if (method !== "full" && method !== "lora") throw new ConfigError(`method must be "full" or "lora", got ${JSON.stringify(method)}`);
  const seed = o.config?.seed ?? 0;
  const maxLen = o.config?.seqLen ?? Math.min(model.config.maxSeqLen, FINETUNE_DEFAULTS.maxLen);
  if (maxLen > model.config.maxSeqLen) throw new ConfigError(`context ${maxLen} is longer than the model's maximum (${model.config.maxSeqLen})`);
  if (valExamples) return { seed, maxLen, trainEx: examples, valEx: valExamples };
  const { train, val } = splitExamples(examples, o.valFraction ?? FINETUNE_DEFAULTS.valFraction, seed);
  return { seed, maxLen, trainEx: train, valEx: val };
}

/**
 * What SFT and preference runs set up alike once their trainer config is known: activation
 * checkpointing (default on above FINETUNE_DEFAULTS.checkpointAbove parameters, never with LoRA
 * dropout), the LoRA adapters (method "lora"), and the peak-memory estimate, with a "warn" event
 * when it exceeds o.memoryBudgetBytes. Sets config.checkpointing.
 */
export function prepareRun(
  o: FinetuneRunOptions,
  config: Partial<TrainConfig>,
  seed: number,
  warn: (e: TrainEvent) => void,
): { checkpointing: boolean; lora: LoraModel | null; memoryEstimate: MemoryEstimate } {
  const { model, method } = o;
  const dropout = method === "lora" ? (o.lora?.dropout ?? 0) : 0;
  if (o.checkpointing === true && dropout > 0)
    throw new ConfigError("activation checkpointing cannot be combined with LoRA dropout (the recomputed blocks would draw other masks)", {
      hint: "drop --dropout, or pass --no-checkpointing",
    });
  const checkpointing = o.checkpointing ?? (dropout === 0 && model.numParameters() > FINETUNE_DEFAULTS.checkpointAbove);
  config.checkpointing = checkpointing;
  const lora = method === "lora" ? attachLora(model, o.lora ?? {}, seed) : null;
  const trainableValues = lora ? lora.numParameters() : model.numParameters();
  const memoryEstimate = estimateTrainingMemory(model, {
    batch: config.batch!,
    seqLen: config.seqLen!,
    trainableValues,
    checkpointing,
    chunkedLoss: config.chunkedLoss ?? true,
    loraRank: lora?.config.r,
    adaptersPerLayer: lora ? lora.adapters.size / model.config.nLayers : 0,
  });
  if (o.memoryBudgetBytes !== undefined && memoryEstimate.totalBytes > o.memoryBudgetBytes) {
    warn({ type: "warn", step: 0, message: memoryWarning(memoryEstimate, o.memoryBudgetBytes, checkpointing) });
  }
  return { checkpointing, lora, memoryEstimate };
}

const mb = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(0)} MB`);

/** The warning for a run whose estimated peak exceeds the budget, with the estimate's parts and what would shrink it. */
export function memoryWarning(e: MemoryEstimate, budget: number, checkpointing: boolean): string {
  return (
    `estimated peak memory ${mb(e.totalBytes)} exceeds the free memory (${mb(budget)}): weights ${mb(e.weightsBytes)}, ` +
    `gradients + optimizer ${mb(e.trainingStateBytes)}, activations ${mb(e.activationBytes)}, logits ${mb(e.logitsBytes)}; ` +
    `try ${checkpointing ? "" : "--checkpointing, "}a smaller --batch or --context, or a quantized base (--base-dtype q4_0)`
  );
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
