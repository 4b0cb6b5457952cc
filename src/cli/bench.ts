// `slm bench kernels`: times every native kernel benchmark case (or a chosen
// group/op) and prints an aligned table or JSON lines. Thin: the cases live in
// src/native/bench/*, the timing in src/native/bench/run.ts.
import { ConfigError, UsageError } from "../errors.ts";
import type { Isa } from "../native/backend.ts";
import { allCases } from "../native/bench/index.ts";
import { runCase } from "../native/bench/run.ts";
import type { BenchRow } from "../native/bench/types.ts";
import { backend, nativeLoadError } from "../native/load.ts";
import { intFlag, numFlag, parse, type Command, type CommandContext } from "./command.ts";

const ISAS: readonly Isa[] = ["avx512", "avx2", "scalar"];

/** Formats rows as an aligned text table (op, shape, ms, rate, threads, isa). */
export function formatTable(rows: BenchRow[]): string {
  const head = ["op", "shape", "ms", "GFLOP/s", "GB/s", "tok/s", "threads", "isa"];
  const cells = rows.map((r) => [
    r.op,
    r.shape,
    r.ms < 1 ? r.ms.toFixed(4) : r.ms.toFixed(2),
    r.gflops === undefined ? "" : r.gflops.toFixed(1),
    r.gbps === undefined ? "" : r.gbps.toFixed(1),
    r.tok_s === undefined ? "" : r.tok_s.toFixed(1),
    String(r.threads),
    r.isa,
  ]);
  const used = head.map((_, i) => i < 2 || i > 5 || cells.some((c) => c[i] !== ""));
  const cols = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((s, i) => (used[i] ? (i < 2 || i === 7 ? s.padEnd(cols[i]!) : s.padStart(cols[i]!)) : null))
      .filter((s) => s !== null)
      .join("  ")
      .trimEnd();
  return [line(head), ...cells.map(line)].join("\n");
}

export const benchKernelsCommand: Command = {
  name: "bench kernels",
  summary: "time the native kernels (matmul, qmatmul, ...) and print GFLOP/s per shape",
  help: `Usage: slm bench kernels [--op NAME] [--threads N] [--isa avx512|avx2|scalar] [--seconds S] [--json]

Times each kernel benchmark case on the native backend: a warm-up, then
repeated calls for about --seconds; reports the median call. One row per op
and shape with milliseconds, GFLOP/s (or GB/s), threads and instruction set.

Options:
  --op NAME       only cases whose op or group is NAME (e.g. matmul, gemm)
  --shape TEXT    only shapes containing TEXT (e.g. 4096x384)
  --threads N     threads for the kernels (default: SLM_THREADS or all CPUs)
  --isa NAME      instruction set: avx512, avx2 or scalar (default: the best available)
  --seconds S     timed seconds per case after warm-up (default 0.5)
  --json          one JSON object per line: {"op","shape","ms","gflops","threads","isa",...}

Matmul shapes read MxNxK (C (M,N) = A (M,K) . B (K,N)); ",tA"/",tB" mark
transposed operands (the backward products dA = dC.B^T and dB = A^T.dC).
For a comparison with OpenBLAS on the same shapes: node --import tsx bench/matmul.ts
Quantized products (--op qmatmul): "TYPE mM name" on Qwen2.5-0.5B's shapes, GB/s of
weight bytes read, tok/s for whole-model decode steps, and a "copy" row with the
machine's memory bandwidth; e.g. --op qmatmul --shape "m1 " for decode only.

Examples:
  slm bench kernels
  slm bench kernels --op matmul --threads 1 --isa scalar --json
  slm bench kernels --op qmatmul --shape Q4_0`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values } = parse(
      argv,
      {
        op: { type: "string" },
        shape: { type: "string" },
        threads: { type: "string" },
        isa: { type: "string" },
        seconds: { type: "string" },
        json: { type: "boolean" },
      },
      false,
    );
    const seconds = numFlag("seconds", values.seconds, 0, Infinity, "min") ?? 0.5;
    const threads = values.threads === undefined ? undefined : intFlag("threads", values.threads, 1);
    const isa = values.isa;
    if (isa !== undefined && !(ISAS as readonly string[]).includes(isa)) {
      throw new UsageError(`--isa must be one of ${ISAS.join(", ")}, got "${isa}"`);
    }
    const b = backend();
    if (b.name !== "native") {
      ctx.err(`warning: native addon unavailable (${nativeLoadError() ?? "unknown reason"}); timing the TypeScript reference`);
    }
    if (isa !== undefined && !b.setIsa(isa as Isa)) {
      throw new ConfigError(`this CPU (or backend) cannot run --isa ${isa}; best available is ${b.bestIsa()}`);
    }
    if (threads !== undefined) b.setThreads(threads);

    const groups = allCases();
    const cases = groups.flatMap((g) =>
      g.cases.filter(
        (c) => (values.op === undefined || c.op === values.op || g.group === values.op) && (values.shape === undefined || c.shape.includes(values.shape)),
      ),
    );
    if (cases.length === 0) {
      const ops = [...new Set(groups.flatMap((g) => [g.group, ...g.cases.map((c) => c.op)]))];
      throw new UsageError(
        `no benchmark case matches${values.op ? ` --op ${values.op}` : ""}${values.shape ? ` --shape ${values.shape}` : ""}; ops: ${ops.join(", ")}`,
      );
    }
    const rows: BenchRow[] = [];
    for (const c of cases) {
      const row = runCase(c, { seconds });
      rows.push(row);
      if (values.json) ctx.out(JSON.stringify(row));
      else if (ctx.tty) ctx.err(`  ${c.op} ${c.shape}: ${row.ms.toFixed(3)} ms`);
    }
    if (!values.json) ctx.out(formatTable(rows));
    // Attention is judged against our own matmul rate, measured in this run.
    const mm = rows.filter((r) => r.op === "matmul" && r.gflops !== undefined && !/^1x/.test(r.shape));
    const att = rows.find((r) => r.op === "attention fwd+bwd" && r.gflops !== undefined);
    if (mm.length > 0 && att) {
      const mean = mm.reduce((a, r) => a + r.gflops!, 0) / mm.length;
      const ratio = { op: "attention fwd+bwd / matmul", shape: att.shape, attention_gflops: att.gflops, matmul_gflops: mean, ratio: att.gflops! / mean };
      if (values.json) ctx.out(JSON.stringify(ratio));
      else
        ctx.out(
          `\nattention fwd+bwd ${att.shape}: ${att.gflops!.toFixed(1)} GFLOP/s = ${(ratio.ratio * 100).toFixed(0)}% of our matmul (mean of ${mm.length} training shapes: ${mean.toFixed(1)} GFLOP/s)`,
        );
    }
    return 0;
  },
};
