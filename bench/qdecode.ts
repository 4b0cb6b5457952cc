// Decode micro-benchmark for the Q4_0 / Q8_0 integer kernels: y = x·Wᵀ with m = 1
// (or --m) on Qwen2.5-0.5B's decode shapes, timed "cold" (each call takes the next
// of many copies of W, ~1 GiB in all, so W streams from DRAM as in a real decode
// step) and "hot" (the same W again and again: from L2 / L3, so the kernel's own
// speed shows), with 1 and 2 threads. The yardstick, measured in the same run just
// before each thread count's cases: plain memory reads (memchr over 1 GiB via
// Buffer.indexOf, split over the same number of threads, workers for the others).
// --baseline ADDON times a second build of the addon (e.g. a copy of
// build/Release/slm.node from before a change) on the same weights, alternating
// with ours call batch by call batch, and prints ours/baseline speed per case.
//
//   node --import tsx bench/qdecode.ts [--threads 1,2] [--types Q4_0,Q8_0] [--m 1]
//       [--rounds 5] [--pool-mb 1024] [--shape TEXT] [--baseline ADDON] [--json]
//
// Per case: ms per call (median over rounds; a round times passes over the pool for
// at least 0.15 s), GB/s of weight bytes per call, ns per 32-value block and row per
// thread (wall time × threads / blocks), cold GB/s over the read yardstick, and the
// process's CPU ms per call (with 1 thread the steadiest figure on a loaded machine;
// with more it includes the pool workers' spinning).
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { Worker } from "node:worker_threads";
import { parseArgs } from "node:util";

import { traits, type GgmlTypeName } from "../src/formats/quant.ts";
import { randomWeight } from "../src/native/bench/qgemm.ts";
import { median } from "../src/native/bench/run.ts";
import type { Backend } from "../src/native/backend.ts";
import { backend, nativeLoadError } from "../src/native/load.ts";
import { qweight, type QType, type QWeight } from "../src/native/ops/qgemm.ts";
import { Rng } from "../src/util/rng.ts";

const SHAPES: [number, number, string][] = [
  [4864, 896, "gate/up 4864x896"],
  [896, 4864, "down 896x4864"],
  [151936, 896, "head 151936x896"],
];

/** memchr over a shared buffer, split over `threads` (this thread plus workers): GB/s of bytes read. */
class ReadYardstick {
  private readonly sab: SharedArrayBuffer;
  private readonly ctrl: Int32Array;
  private workers: Worker[] = [];

  constructor(bytes: number) {
    this.sab = new SharedArrayBuffer(bytes);
    new Uint8Array(this.sab).fill(7); // touch every page; the byte searched for (1) never occurs
    this.ctrl = new Int32Array(new SharedArrayBuffer(8)); // [generation, workers done]
  }

  /** GB/s reading the whole buffer once with `threads` threads (median of `rounds`). */
  measure(threads: number, rounds: number): number {
    // workers are made per thread count (each knows its share) and stopped by stop()
    this.stop();
    this.workers = [];
    Atomics.store(this.ctrl, 0, 0);
    const len = Math.floor(this.sab.byteLength / threads);
    const mine = Buffer.from(this.sab, 0, len);
    for (let i = 1; i < threads; i++) {
      const src = this.workerSource();
      const w = new Worker(src, { eval: true, workerData: { sab: this.sab, ctrl: this.ctrl.buffer, part: i, parts: threads } });
      w.unref();
      this.workers.push(w);
    }
    const times: number[] = [];
    for (let r = 0; r < rounds + 1; r++) {
      Atomics.store(this.ctrl, 1, 0);
      const t0 = performance.now();
      Atomics.add(this.ctrl, 0, 1);
      Atomics.notify(this.ctrl, 0);
      if (mine.indexOf(1) !== -1) throw new Error("unexpected byte");
      while (Atomics.load(this.ctrl, 1) < threads - 1) Atomics.wait(this.ctrl, 1, Atomics.load(this.ctrl, 1), 1);
      const dt = performance.now() - t0;
      if (r > 0 || threads === 1) times.push(dt); // the first round also waits for the workers to start
    }
    return (len * threads) / median(times) / 1e6;
  }

  private workerSource(): string {
    return `
      const { workerData } = require("node:worker_threads");
      const { sab, ctrl, part, parts } = workerData;
      const c = new Int32Array(ctrl);
      const len = Math.floor(sab.byteLength / parts);
      const buf = Buffer.from(sab, part * len, len);
      let gen = 0;
      for (;;) {
        Atomics.wait(c, 0, gen);
        gen = Atomics.load(c, 0);
        if (gen < 0) break;
        if (buf.indexOf(1) !== -1) throw new Error("unexpected byte");
        Atomics.add(c, 1, 1);
        Atomics.notify(c, 1);
      }`;
  }

  stop(): void {
    Atomics.store(this.ctrl, 0, -1);
    Atomics.notify(this.ctrl, 0);
    for (const w of this.workers) void w.terminate();
  }
}

/** `copies` views of one random W laid end to end in one buffer (distinct addresses, same bytes). */
function weightPool(type: QType, rows: number, cols: number, poolBytes: number): QWeight[] {
  const one = randomWeight(type, rows, cols);
  const n = one.data.byteLength;
  const copies = Math.max(1, Math.ceil(poolBytes / n));
  const buf = new Uint8Array(n * copies);
  for (let i = 0; i < copies; i++) buf.set(one.data, i * n);
  return Array.from({ length: copies }, (_, i) => qweight(type, buf.subarray(i * n, (i + 1) * n), rows, cols));
}

type Kernel = Pick<Backend, "qgemm" | "setThreads" | "getThreads">;

/**
 * Wall ms per call for passes over `ws` repeated until at least minMs has passed (after a
 * short warm-up), and process CPU ms per call (with 1 thread: the kernel's own time, which a
 * loaded machine disturbs far less than wall time).
 */
function timePass(k: Kernel, ws: QWeight[], typeId: number, x: Float32Array, y: Float32Array, m: number, minMs: number): { wall: number; cpu: number } {
  for (let i = 0; i < Math.min(ws.length, 4); i++) k.qgemm(y, x, m, typeId, ws[i]!.data, ws[i]!.rows, ws[i]!.cols);
  let calls = 0,
    dt = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  do {
    for (const w of ws) k.qgemm(y, x, m, typeId, w.data, w.rows, w.cols);
    calls += ws.length;
    dt = performance.now() - t0;
  } while (dt < minMs || calls < 8);
  const c = process.cpuUsage(c0);
  return { wall: dt / calls, cpu: (c.user + c.system) / 1e3 / calls };
}

/** Lets the other addon's pool workers finish spinning and go to sleep before timing this one. */
function settle(): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30);
}

function main(): number {
  const { values } = parseArgs({
    options: {
      threads: { type: "string" },
      types: { type: "string" },
      m: { type: "string" },
      rounds: { type: "string" },
      "pool-mb": { type: "string" },
      shape: { type: "string" },
      baseline: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(
      "usage: node --import tsx bench/qdecode.ts [--threads 1,2] [--types Q4_0,Q8_0] [--m 1] [--rounds 5] [--pool-mb 1024] [--shape TEXT] [--baseline ADDON] [--json]\n",
    );
    return 0;
  }
  const b = backend();
  if (b.name !== "native") {
    process.stderr.write(`native addon unavailable (${nativeLoadError()}); run \`npm run build:native\` first\n`);
    return 1;
  }
  const threadList = (values.threads ?? "1,2").split(",").map(Number);
  const types = (values.types ?? "Q4_0,Q8_0").split(",") as QType[];
  const m = Number(values.m ?? 1),
    rounds = Number(values.rounds ?? 5),
    poolBytes = Number(values["pool-mb"] ?? 1024) * 2 ** 20;
  if (
    threadList.some((t) => !Number.isInteger(t) || t < 1) ||
    !Number.isInteger(m) ||
    m < 1 ||
    m > 8 ||
    !Number.isInteger(rounds) ||
    rounds < 1 ||
    !(poolBytes > 0)
  ) {
    process.stderr.write("--threads: positive integers; --m: 1..8; --rounds: a positive integer; --pool-mb: positive\n");
    return 2;
  }
  for (const t of types)
    if (t !== "Q4_0" && t !== "Q8_0" && t !== "Q5_0" && t !== "Q5_1") {
      process.stderr.write(`--types: Q4_0, Q8_0, Q5_0, Q5_1; got ${t}\n`);
      return 2;
    }
  const shapes = SHAPES.filter(([, , name]) => !values.shape || name.includes(values.shape));
  const base: Kernel | null = values.baseline ? (createRequire(import.meta.url)(resolve(values.baseline)) as Kernel) : null;

  const yard = new ReadYardstick(1 << 30);
  const rows: Record<string, unknown>[] = [];
  const before = b.getThreads();
  try {
    for (const threads of threadList) {
      const readGbps = yard.measure(threads, rounds);
      rows.push({ op: "read", threads, gbps: readGbps });
      b.setThreads(threads);
      base?.setThreads(threads);
      for (const type of types) {
        const t = traits(type as GgmlTypeName);
        for (const [r, c, name] of shapes) {
          const ws = weightPool(type, r, c, poolBytes);
          const x = new Rng(2).fillNormal(new Float32Array(m * c)),
            y = new Float32Array(m * r);
          const bytes = ws[0]!.data.byteLength,
            blockRows = (r * c) / t.blockSize;
          const runs = {
            cold: [] as { wall: number; cpu: number }[],
            hot: [] as { wall: number; cpu: number }[],
            baseCold: [] as { wall: number; cpu: number }[],
            baseHot: [] as { wall: number; cpu: number }[],
          };
          for (let k = 0; k < rounds; k++) {
            const ours = () => {
              settle();
              runs.cold.push(timePass(b, ws, t.id, x, y, m, 150));
              runs.hot.push(timePass(b, ws.slice(0, 1), t.id, x, y, m, 150));
            };
            const theirs = () => {
              if (!base) return;
              settle();
              runs.baseCold.push(timePass(base, ws, t.id, x, y, m, 150));
              runs.baseHot.push(timePass(base, ws.slice(0, 1), t.id, x, y, m, 150));
            };
            if (k % 2 === 0) ours(), theirs();
            else theirs(), ours();
          }
          const wall = (xs: { wall: number }[]) => xs.map((v) => v.wall),
            cpu = (xs: { cpu: number }[]) => xs.map((v) => v.cpu);
          const cold = median(wall(runs.cold)),
            hot = median(wall(runs.hot));
          const row: Record<string, unknown> = {
            op: "qdecode",
            type,
            shape: name,
            m,
            threads,
            isa: b.getIsa(),
            cold_ms: cold,
            cold_gbps: bytes / cold / 1e6,
            hot_ms: hot,
            hot_gbps: bytes / hot / 1e6,
            hot_ns_per_block_row: (hot * 1e6 * threads) / blockRows,
            cold_ns_per_block_row: (cold * 1e6 * threads) / blockRows,
            cold_vs_read: bytes / cold / 1e6 / readGbps,
            cold_cpu_ms: median(cpu(runs.cold)),
            hot_cpu_ms: median(cpu(runs.hot)),
          };
          if (base) {
            // paired per round: each pair ran back to back, so a change in machine load hits both
            const ratio = (a: number[], b: number[]) => median(a.map((v, i) => b[i]! / v));
            row.base_cold_ms = median(wall(runs.baseCold));
            row.base_hot_ms = median(wall(runs.baseHot));
            row.cold_speedup = ratio(wall(runs.cold), wall(runs.baseCold));
            row.hot_speedup = ratio(wall(runs.hot), wall(runs.baseHot));
            row.base_cold_cpu_ms = median(cpu(runs.baseCold));
            row.base_hot_cpu_ms = median(cpu(runs.baseHot));
            row.cold_cpu_speedup = ratio(cpu(runs.cold), cpu(runs.baseCold));
            row.hot_cpu_speedup = ratio(cpu(runs.hot), cpu(runs.baseHot));
          }
          rows.push(row);
        }
      }
    }
  } finally {
    b.setThreads(before);
    yard.stop();
  }
  if (values.json) {
    for (const row of rows) process.stdout.write(`${JSON.stringify(row)}\n`);
    return 0;
  }
  const f = (v: unknown, d = 2) => (typeof v === "number" ? v.toFixed(d) : "");
  const lines: string[] = [`qdecode m=${m}, isa ${b.getIsa()}, pool ${poolBytes / 2 ** 20} MiB per case${base ? `, baseline ${values.baseline}` : ""}`];
  lines.push(
    `${"type".padEnd(5)} ${"shape".padEnd(17)} thr  ${"cold ms".padStart(8)} ${"GB/s".padStart(6)} ${"hot ms".padStart(8)} ${"GB/s".padStart(6)} ${"ns/blk·row".padStart(10)} ${"cold/read".padStart(9)}` +
      (base ? `  ${"base cold".padStart(9)} ${"base hot".padStart(9)} ${"cold ×".padStart(6)} ${"hot ×".padStart(6)}` : "") +
      `  ${"cpu ms cold".padStart(11)} ${"hot".padStart(7)}` +
      (base ? ` ${"cpu × cold".padStart(10)} ${"hot".padStart(5)}` : ""),
  );
  for (const row of rows) {
    if (row.op === "read") {
      lines.push(`read yardstick (memchr), ${row.threads} thread(s): ${f(row.gbps, 1)} GB/s`);
      continue;
    }
    lines.push(
      `${String(row.type).padEnd(5)} ${String(row.shape).padEnd(17)} ${String(row.threads).padStart(3)}  ${f(row.cold_ms, 3).padStart(8)} ${f(row.cold_gbps, 1).padStart(6)} ${f(row.hot_ms, 3).padStart(8)} ${f(row.hot_gbps, 1).padStart(6)} ${f(row.hot_ns_per_block_row, 3).padStart(10)} ${f(row.cold_vs_read, 2).padStart(9)}` +
        (base
          ? `  ${f(row.base_cold_ms, 3).padStart(9)} ${f(row.base_hot_ms, 3).padStart(9)} ${f(row.cold_speedup).padStart(6)} ${f(row.hot_speedup).padStart(6)}`
          : "") +
        `  ${f(row.cold_cpu_ms, 3).padStart(11)} ${f(row.hot_cpu_ms, 3).padStart(7)}` +
        (base ? ` ${f(row.cold_cpu_speedup).padStart(10)} ${f(row.hot_cpu_speedup).padStart(5)}` : ""),
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

process.exitCode = main();
