// A training run directory, end to end: train (trainer.ts: checkpoints/ and
// metrics.jsonl), optionally stop early and keep the best validation weights
// (early-stop.ts), optionally stop at a hard wall-clock limit, then save the
// result (RUN/model, or RUN/adapter for LoRA) and the run's
// settings as RUN/<record.file>. What `slm train`, `slm distill`, `slm demo`
// and `slm finetune` share; the commands only parse flags and print.
//
// Which weights are saved: the last step's, except that with early stopping
// the best validation run's weights replace them when they are better, unless
// the caller's own signal interrupted the run (then the model matches the last
// checkpoint, so --resume continues from what was saved).
import { join } from "node:path";

import { saveModelDir, type GenerationConfig } from "../formats/hf-dir.ts";
import { saveAdapter } from "../formats/peft.ts";
import type { LoraModel } from "../models/index.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { writeFileAtomicSync } from "../util/atomic.ts";
import { EarlyStopping } from "./early-stop.ts";
import { train, type TrainEvent, type TrainResult, type TrainRun } from "./trainer.ts";

export interface RunDirOptions extends TrainRun {
  /** Stop once validation loss has not improved for this many validation runs in a row, and keep the best weights. */
  earlyStop?: number;
  /**
   * A hard wall-clock limit (ms) besides the trainer's own budget: the run stops (checkpoint,
   * then the result is saved as for a normal end) and `deadlineHit` is set. For a machine that
   * gets slower than the first steps promised.
   */
  deadlineMs?: number;
  /** Saved with the model directory (default save). */
  tokenizer?: Tokenizer;
  generation?: GenerationConfig;
  /** LoRA: the result is the adapter (a PEFT directory, RUN/adapter), not the model (RUN/model). */
  adapter?: { lora: LoraModel; baseModel?: string | null };
  /** The run's settings, written (atomically) to RUN/<file> as JSON after the result. */
  record?: { file: string; settings: Record<string, unknown> };
}

export interface RunDirResult extends TrainResult {
  /** Where the result went: RUN/model, or RUN/adapter. */
  output: string;
  /** Validation loss of the saved weights (the best run's when they were kept). */
  savedValLoss: number | null;
  /** The step whose weights were kept instead of the last one (early stopping), else null. */
  keptStep: number | null;
  /** The deadline stopped the run (stopped then reads "time"). */
  deadlineHit: boolean;
}

/** Trains in `o.runDir` and saves the result; see the file header for which weights are kept. */
export async function trainRunDir(o: RunDirOptions): Promise<RunDirResult> {
  const early = o.earlyStop === undefined ? null : new EarlyStopping(o.model, o.earlyStop);
  const deadline = new AbortController();
  const timer = o.deadlineMs === undefined ? null : setTimeout(() => deadline.abort(), o.deadlineMs);
  const onEvent = early ? (e: TrainEvent) => (o.onEvent?.(e), early.observe(e)) : o.onEvent;
  const signals = [o.signal, early?.signal, timer ? deadline.signal : undefined].filter((s): s is AbortSignal => s !== undefined);
  let result: TrainResult;
  try {
    result = await train({ ...o, onEvent, signal: signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals) });
  } finally {
    if (timer) clearTimeout(timer);
  }
  const deadlineHit = result.stopped === "requested" && deadline.signal.aborted && !o.signal?.aborted;
  const stopped = deadlineHit ? "time" : result.stopped;
  let savedValLoss = result.finalValLoss;
  let keptStep: number | null = null;
  if (early && stopped !== "requested" && early.best.restoreIfBetter(savedValLoss)) {
    savedValLoss = early.best.loss;
    keptStep = early.best.step;
  }
  const output = join(o.runDir, o.adapter ? "adapter" : "model");
  if (o.adapter) saveAdapter(output, o.adapter.lora, { baseModel: o.adapter.baseModel ?? null });
  else saveModelDir(output, o.model, { tokenizer: o.tokenizer, generation: o.generation });
  if (o.record) writeFileAtomicSync(join(o.runDir, o.record.file), `${JSON.stringify(o.record.settings, null, 2)}\n`);
  return { ...result, stopped, output, savedValLoss, keptStep, deadlineHit };
}
