// Printing a training run's events: a progress line (redrawn on a TTY, plain
// lines otherwise), evaluations and warnings on stderr, or one JSON object per
// event on stdout with --json. Shared by `slm train` and `slm distill`.
// Knows nothing about what is trained or with which loss.
import type { TrainEvent } from "../train/trainer.ts";
import type { CommandContext } from "./command.ts";
import { bar, formatCount, formatDuration } from "./format.ts";

export interface TrainPrinter {
  onEvent: (e: TrainEvent) => void;
  /** Clears a half-drawn progress line (call before printing anything else). */
  clear: () => void;
}

export function trainPrinter(ctx: CommandContext, json: boolean): TrainPrinter {
  let drew = false;
  const clear = () => {
    if (drew) process.stderr.write("\r\x1b[K");
    drew = false;
  };
  const onEvent = (e: TrainEvent) => {
    if (json) {
      ctx.out(JSON.stringify(e));
      return;
    }
    if (e.type === "step") {
      const eta = e.etaMs === null ? "" : ` eta ${formatDuration(e.etaMs)}`;
      const total = e.totalSteps > 0 ? e.totalSteps : "?";
      const line = `${bar(e.totalSteps > 0 ? e.step / e.totalSteps : 0)} step ${e.step}/${total} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} ${formatCount(e.tokensPerSec)} tok/s${eta}`;
      if (ctx.tty) {
        process.stderr.write(`\r\x1b[K${line}`);
        drew = true;
      } else ctx.err(line);
      return;
    }
    clear();
    if (e.type === "eval") ctx.err(`  eval @ ${e.step}: val loss ${e.valLoss.toFixed(4)}, perplexity ${e.perplexity.toFixed(2)}${e.bitsPerByte === null ? "" : `, ${e.bitsPerByte.toFixed(3)} bits/byte`}`);
    else if (e.type === "warn") ctx.err(`  warning: ${e.message}`);
    else if (e.type === "start" && e.resumedFrom !== null) ctx.err(`  resumed from step ${e.resumedFrom}`);
  };
  return { onEvent, clear };
}
