// `slm finetune --objective dpo|orpo`: the preference-tuning branch of
// `slm finetune` (src/cli/finetune.ts parses the shared flags and calls
// this). Reads preference JSONL, runs src/train/preference.ts, prints
// progress (loss, rewards, margin, accuracy) and the run's summary.
import { DPO_LOSS_TYPES, type DpoLossType, type PreferenceObjective } from "../train/dpo-loss.ts";
import type { FinetuneMethod } from "../train/finetune.ts";
import { readPreferenceJsonl } from "../train/preference-data.ts";
import { finetunePreference, type PreferenceEvent, type PreferenceOptions } from "../train/preference.ts";
import { UsageError } from "../errors.ts";
import { numFlag, type CommandContext } from "./command.ts";
import { formatBytes, formatCount, formatDuration } from "./format.ts";
import { withStopSignals } from "./stop-signals.ts";

export interface PreferenceFlags {
  objective: PreferenceObjective;
  beta?: string;
  loss?: string;
  orpoLambda?: string;
  rpoAlpha?: string;
}

/** Checks the preference flags before the (slow) model load. */
export function checkPreferenceFlags(f: PreferenceFlags): Pick<PreferenceOptions, "objective" | "beta" | "loss" | "orpoLambda" | "rpoAlpha"> {
  if (f.objective === "orpo" && (f.beta ?? f.loss ?? f.rpoAlpha) !== undefined)
    throw new UsageError("--beta, --loss and --rpo-alpha are DPO options; ORPO takes --orpo-lambda");
  if (f.objective === "dpo" && f.orpoLambda !== undefined) throw new UsageError("--orpo-lambda is an ORPO option (--objective orpo)");
  if (f.loss !== undefined && !DPO_LOSS_TYPES.includes(f.loss as DpoLossType))
    throw new UsageError(`--loss must be ${DPO_LOSS_TYPES.join(" or ")}, got "${f.loss}"`);
  return {
    objective: f.objective,
    beta: numFlag("beta", f.beta, 0, Infinity, "min"),
    loss: f.loss as DpoLossType | undefined,
    orpoLambda: numFlag("orpo-lambda", f.orpoLambda, 0),
    rpoAlpha: numFlag("rpo-alpha", f.rpoAlpha, 0),
  };
}

export interface PreferenceRun extends Omit<PreferenceOptions, "examples" | "valExamples" | "onEvent"> {
  data: string;
  val?: string;
  json: boolean;
}

/** Runs preference tuning and prints as `slm finetune` does; returns the exit code. */
export async function runPreference(r: PreferenceRun, ctx: CommandContext): Promise<number> {
  const examples = readPreferenceJsonl(r.data);
  const valExamples = r.val === undefined ? undefined : readPreferenceJsonl(r.val);
  const { json } = r;
  const method: FinetuneMethod = r.method;
  if (!json)
    ctx.err(
      `slm finetune: ${r.objective.toUpperCase()} (${method}) on ${r.model.config.modelType} ${formatCount(r.model.numParameters())} parameters, ${examples.length} pairs, run ${r.runDir}`,
    );
  const onEvent = (e: PreferenceEvent) => {
    if (json) return ctx.out(JSON.stringify(e));
    if (e.type === "reference")
      ctx.err(`  reference log-probs of ${e.pairs} pairs (base${method === "lora" ? ", adapters off" : ""}) in ${formatDuration(e.elapsedMs)}`);
    else if (e.type === "start") ctx.err(`  ${e.totalSteps ?? "?"} steps${e.resumedFrom !== null ? `, resumed from step ${e.resumedFrom}` : ""}`);
    else if (e.type === "step")
      ctx.err(`  step ${e.step}/${e.totalSteps} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} ${formatCount(e.tokensPerSec)} tok/s`);
    else if (e.type === "preference") {
      const m = e.metrics;
      ctx.err(
        `    rewards chosen ${m.chosenReward.toFixed(3)} rejected ${m.rejectedReward.toFixed(3)} margin ${m.margin.toFixed(3)} accuracy ${(100 * m.accuracy).toFixed(1)}%${m.nll !== undefined ? ` nll ${m.nll.toFixed(4)}` : ""}`,
      );
    } else if (e.type === "eval") ctx.err(`  eval @ ${e.step}: held-out chosen NLL ${e.valLoss.toFixed(4)}`);
    else if (e.type === "warn") ctx.err(`  warning: ${e.message}`);
  };
  const res = await withStopSignals((signal) => finetunePreference({ ...r, examples, valExamples, onEvent, signal }));
  const s = res.summary,
    ev = res.evaluation;
  if (json) ctx.out(JSON.stringify({ type: "summary", output: res.output, objective: res.loss, evaluation: ev, ...s }));
  else {
    if (res.train.truncated > 0 || res.train.dropped > 0)
      ctx.err(`  note: ${res.train.truncated} pairs cut to the context, ${res.train.dropped} dropped (no completion token left)`);
    ctx.err(
      `slm finetune: ${s.steps} steps in ${formatDuration(s.elapsedS * 1000)} (${formatCount(s.tokensPerS)} tok/s), trained ${formatCount(s.trainableParams)} of ${formatCount(s.params)} values`,
    );
    if (ev) {
      ctx.err(
        `  held-out pairs (${ev.pairs}): loss ${ev.loss.toFixed(4)}, rewards chosen ${ev.chosenReward.toFixed(3)} rejected ${ev.rejectedReward.toFixed(3)}, margin ${ev.margin.toFixed(3)}, accuracy ${(100 * ev.accuracy).toFixed(1)}%`,
      );
    }
    ctx.err(
      `  gradients + optimizer ${formatBytes(s.memory.gradientBytes + s.memory.optimizerBytes)}, peak RSS ${formatBytes(s.memory.peakRssBytes)} (estimated ${formatBytes(res.memoryEstimate.totalBytes)}; checkpointing ${res.checkpointing ? "on" : "off"})`,
    );
    ctx.err(`  ${method === "lora" ? "adapter" : "model"}: ${res.output}`);
  }
  return res.stopped === "requested" ? 130 : 0;
}
