// Times one BenchCase: prepares its buffers, warms up, then calls it until the
// time budget is spent and reports the median call as a BenchRow (GFLOP/s or
// GB/s from the case's counts, plus the backend's thread count and ISA).
// Library code: it never prints; callers format the rows. Knows nothing about
// any particular kernel.
import { backend } from "../load.ts";
import type { BenchCase, BenchRow } from "./types.ts";

export interface RunOptions {
  /** Seconds of timed calls per case after warm-up (default 0.5). */
  seconds?: number;
  /** Minimum timed calls, however long they take (default 5). */
  minReps?: number;
  /** Seconds of warm-up calls (default 10% of `seconds`; at least 2 calls). */
  warmupSeconds?: number;
}

/** Median of a non-empty list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : 0.5 * (s[h - 1]! + s[h]!);
}

/** Times `c` on the active backend and returns its row. */
export function runCase(c: BenchCase, opts: RunOptions = {}): BenchRow {
  const budgetMs = (opts.seconds ?? 0.5) * 1e3;
  const warmMs = (opts.warmupSeconds ?? (opts.seconds ?? 0.5) * 0.1) * 1e3;
  const minReps = opts.minReps ?? 5;
  const call = c.prepare();
  let t0 = performance.now();
  for (let w = 0; w < 2 || performance.now() - t0 < warmMs; w++) call();
  const times: number[] = [];
  t0 = performance.now();
  while (times.length < minReps || performance.now() - t0 < budgetMs) {
    const s = performance.now();
    call();
    times.push(performance.now() - s);
  }
  const ms = median(times);
  const b = backend();
  const row: BenchRow = { op: c.op, shape: c.shape, ms, threads: b.getThreads(), isa: b.name === "native" ? b.getIsa() : "reference" };
  if (c.flops !== undefined) row.gflops = c.flops / ms / 1e6;
  if (c.bytes !== undefined) row.gbps = c.bytes / ms / 1e6;
  if (c.tokens !== undefined) row.tok_s = (c.tokens / ms) * 1e3;
  row.reps = times.length;
  return row;
}
