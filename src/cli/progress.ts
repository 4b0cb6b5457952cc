// Progress display shared by the commands that ingest and train (`slm ingest`,
// `slm train`, `slm demo`): one redrawn line on a terminal, plain log lines
// otherwise, JSON lines with --json. Knows the shapes of the library's
// progress events, nothing about how the work is done.
import type { IngestProgress } from "../data/ingest.ts";
import type { TrainEvent } from "../train/trainer.ts";
import type { CommandContext } from "./command.ts";
import { bar, formatCount, formatDuration } from "./format.ts";

const mb = (b: number) => (b / 1048576).toFixed(1);

/** One line of ingestion progress: files, bytes, rates and an ETA. */
function ingestProgressLine(p: IngestProgress): string {
  const s = Math.max(p.elapsedMs / 1000, 1e-3);
  const rate = p.bytes / 1048576 / s;
  const eta = p.bytesTotal > 0 && rate > 0 && p.phase !== "tokenize" ? ` ETA ${Math.max(0, Math.round((p.bytesTotal - p.bytes) / 1048576 / rate))}s` : "";
  return `${p.phase}: ${p.files}/${p.filesTotal} files, ${mb(p.bytes)}/${mb(p.bytesTotal)} MB, ${(p.files / s).toFixed(1)} files/s, ${rate.toFixed(1)} MB/s${eta}`;
}

/** A line that is redrawn in place on a TTY (stderr) and printed as a log line otherwise. */
export class StatusLine {
  private drew = false;
  constructor(private readonly ctx: CommandContext) {}
  /** Shows a transient progress line. */
  update(line: string): void {
    if (this.ctx.tty) {
      process.stderr.write(`\r\x1b[K${line}`);
      this.drew = true;
    } else this.ctx.err(line);
  }
  /** Removes the transient line (before a permanent message, or at the end). */
  clear(): void {
    if (this.drew) process.stderr.write("\r\x1b[K");
    this.drew = false;
  }
  /** A permanent line on stderr. */
  log(line: string): void {
    this.clear();
    this.ctx.err(line);
  }
}

/**
 * Ingestion progress for IngestOptions.onProgress: redrawn on a TTY, one line
 * every 5 s otherwise. Returns the callback and the interval to ask for.
 */
export function ingestProgressReporter(line: StatusLine, tty: boolean): { onProgress: (p: IngestProgress) => void; progressIntervalMs: number } {
  let lastLog = 0;
  return {
    progressIntervalMs: tty ? 200 : 1000,
    onProgress: (p) => {
      if (p.phase === "scan") return;
      if (tty) line.update(ingestProgressLine(p));
      else if (p.elapsedMs - lastLog >= 5000 && p.phase !== "done") {
        lastLog = p.elapsedMs;
        line.update(ingestProgressLine(p));
      }
    },
  };
}

/** The progress line of a training step: bar, step, loss, lr, rate, ETA. */
function trainStepLine(e: Extract<TrainEvent, { type: "step" }>): string {
  const eta = e.etaMs === null ? "" : ` eta ${formatDuration(e.etaMs)}`;
  const total = e.totalSteps > 0 ? e.totalSteps : "?";
  return `${bar(e.totalSteps > 0 ? e.step / e.totalSteps : 0)} step ${e.step}/${total} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} ${formatCount(e.tokensPerSec)} tok/s${eta}`;
}

/** Training events for train()'s onEvent: JSON lines on stdout with json, else progress on stderr. */
export function trainEventReporter(ctx: CommandContext, line: StatusLine, json: boolean): (e: TrainEvent) => void {
  let lastEvalStep = -1;
  return (e) => {
    // A run stopped right after an evaluation evaluates the same weights again at the end: show it once.
    if (e.type === "eval" && e.step === lastEvalStep && !json) return;
    if (e.type === "eval") lastEvalStep = e.step;
    if (json) {
      ctx.out(JSON.stringify(e));
      return;
    }
    if (e.type === "step") line.update(trainStepLine(e));
    else if (e.type === "eval")
      line.log(
        `  eval @ ${e.step}: val loss ${e.valLoss.toFixed(4)}, perplexity ${e.perplexity.toFixed(2)}${e.bitsPerByte === null ? "" : `, ${e.bitsPerByte.toFixed(3)} bits/byte`}`,
      );
    else if (e.type === "warn") line.log(`  warning: ${e.message}`);
    else if (e.type === "start" && e.resumedFrom !== null) line.log(`  resumed from step ${e.resumedFrom}`);
    else line.clear();
  };
}

/** A training run's printer for `slm distill` and others: the reporter and the line it draws on. */
export function trainPrinter(ctx: CommandContext, json: boolean): { onEvent: (e: TrainEvent) => void; clear: () => void } {
  const line = new StatusLine(ctx);
  return { onEvent: trainEventReporter(ctx, line, json), clear: () => line.clear() };
}
