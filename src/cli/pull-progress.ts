// Progress of a Hub pull, for `slm pull` and `--pull` on the commands that
// take a model: a redrawn bar on a TTY, a line per file (and every 5 s)
// otherwise, JSON lines with --json; and the one-line summary. Knows the
// shapes of src/formats/hub/pull.ts's events, nothing about downloading.
import type { PullEvent, PullResult } from "../formats/hub/pull.ts";
import type { CommandContext } from "./command.ts";
import { bar, formatBytes, formatDuration } from "./format.ts";
import { StatusLine } from "./progress.ts";

const files = (n: number) => `${n} file${n === 1 ? "" : "s"}`;

/** Pull progress for a command: a redrawn bar on a TTY, a line per file (and every 5 s) otherwise, JSON lines with json. */
export function pullReporter(ctx: CommandContext, opts: { json?: boolean; quiet?: boolean } = {}): { onEvent: (e: PullEvent) => void; clear: () => void } {
  const line = new StatusLine(ctx);
  const t0 = performance.now();
  let total = 0;
  let toDownload = 0;
  let received = 0;
  let lastFileBytes = 0;
  let lastLog = 0;
  let lastDraw = 0;
  return {
    clear: () => line.clear(),
    onEvent: (e) => {
      if (opts.json) {
        if (e.type === "listed")
          ctx.out(
            JSON.stringify({
              type: "listed",
              repoId: e.repoId,
              revision: e.revision,
              commit: e.commit,
              files: e.files.length,
              bytes: e.bytes,
              toDownload: e.toDownload,
              offline: e.offline,
            }),
          );
        else if (e.type !== "progress") ctx.out(JSON.stringify(e));
        return;
      }
      if (opts.quiet) return;
      if (e.type === "listed") {
        total = e.bytes;
        toDownload = e.toDownload;
        const cached = e.bytes - e.toDownload;
        line.log(
          `${e.repoId}@${e.revision} (${e.commit.slice(0, 7)})${e.offline ? " [offline]" : ""}: ${files(e.files.length)}, ${formatBytes(e.bytes)}` +
            (e.offline
              ? ", from the cache"
              : e.toDownload === 0
                ? ", all in the cache"
                : `: ${formatBytes(e.toDownload)} to download${cached > 0 ? `, ${formatBytes(cached)} already cached` : ""}`),
        );
      } else if (e.type === "file") {
        lastFileBytes = e.resumedFrom;
        if (!e.cached && e.resumedFrom > 0) line.log(`  ${e.path}: resuming at ${formatBytes(e.resumedFrom)} of ${formatBytes(e.size)}`);
        else if (!ctx.tty && !e.cached) line.log(`  ${e.path}: ${formatBytes(e.size)}`);
      } else if (e.type === "progress") {
        received += Math.max(0, e.bytes - lastFileBytes);
        lastFileBytes = e.bytes;
        const now = performance.now();
        const s = (now - t0) / 1000;
        const rate = received / Math.max(s, 1e-3);
        const eta = rate > 0 ? formatDuration(((toDownload - received) / rate) * 1000) : "?";
        const text = `${bar(total > 0 ? e.doneBytes / total : 1)} ${formatBytes(e.doneBytes)}/${formatBytes(total)} ${formatBytes(rate)}/s ETA ${eta}  ${e.path}`;
        if (ctx.tty) {
          if (now - lastDraw > 100 || e.bytes === e.size) {
            lastDraw = now;
            line.update(text);
          }
        } else if (now - lastLog > 5000) {
          lastLog = now;
          line.update(text);
        }
      } else if (e.type === "retry") line.log(`  ${e.path}: ${e.reason} (retry ${e.attempt})`);
    },
  };
}

/** The one-line summary of a pull. */
export function pullSummary(r: PullResult, seconds: number): string {
  const cached = r.files.filter((f) => f.cached).length;
  return (
    `pulled ${r.repoId}@${r.revision} (${r.commit.slice(0, 7)}): ${files(r.files.length)}, ${formatBytes(r.bytes)}` +
    (r.offline ? " (offline, from the cache)" : `, ${formatBytes(r.received)} downloaded${cached > 0 ? `, ${files(cached)} from the cache` : ""}`) +
    ` in ${seconds.toFixed(1)} s`
  );
}
