// Quantized prefill benchmark: y (m × rows) = x (m × cols) · Wᵀ for m = 512 on
// Qwen2.5-0.5B's matrix shapes (q/o 896×896, gate/up 4864×896, down 896×4864), with
// the AMX tile GEMM and the AVX-512 VNNI GEMM (the baseline) in the same process,
// alternating per round, at each thread count. Prints, per case, GFLOP/s of both
// (best wall time of the round's calls, median over rounds), GFLOP per CPU-second
// (process CPU time, all threads), and VNNI time / AMX time as the median of the
// per-round ratios (a paired comparison, steadier on a shared machine).
//
//   node --import tsx bench/qprefill.ts [--types Q4_0,Q8_0] [--threads 1,2] [--m 512]
//                                       [--rounds 5] [--seconds 0.3] [--json]
//   node --import tsx bench/qprefill.ts --model FILE.gguf [--threads 2] [--m 512] [--rounds 5] [--json]
//
// --model runs a whole-model prefill instead (at the first --threads value) (the GGUF loaded once, weights kept
// quantized; an m-token prompt, one token generated), AMX and VNNI alternating in the same
// process: prefill tok/s (median over rounds) and CPU-seconds per prefill for each.
//
// Needs the native addon's AVX-512 build on a CPU with AMX-INT8 for the AMX column;
// without it the AMX column is left out and only the VNNI (or fallback) figures print.
// K-quants fit only the 896×4864 shape (cols a multiple of 256). Weights are random
// valid blocks (values do not change the speed).
import { parseArgs } from "node:util";

import { loadModel } from "../src/formats/hf-dir.ts";
import { generateWithStats } from "../src/infer/generate.ts";
import { median } from "../src/native/bench/run.ts";
import { randomWeight } from "../src/native/bench/qgemm.ts";
import { backend, nativeLoadError } from "../src/native/load.ts";
import { qmatmul, QTYPES, type QType } from "../src/native/ops/qgemm.ts";
import { Rng } from "../src/util/rng.ts";

const SHAPES: [number, number, string][] = [
  [896, 896, "q/o 896x896"],
  [4864, 896, "gate/up 4864x896"],
  [896, 4864, "down 896x4864"],
];

const { values } = parseArgs({
  options: {
    types: { type: "string", default: "Q4_0,Q8_0" },
    threads: { type: "string", default: "1,2" },
    m: { type: "string", default: "512" },
    rounds: { type: "string", default: "5" },
    seconds: { type: "string", default: "0.3" },
    json: { type: "boolean", default: false },
    model: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  process.stdout.write("usage: node --import tsx bench/qprefill.ts [--types Q4_0,Q8_0] [--threads 1,2] [--m 512] [--rounds 5] [--seconds 0.3] [--json]\n");
  process.exit(0);
}

const b = backend();
if (b.name !== "native") throw new Error(`the native addon did not load (${nativeLoadError() ?? "unknown reason"}): nothing to compare`);
const types = values.types.split(",").map((s) => s.trim()) as QType[];
for (const t of types) if (!QTYPES.includes(t)) throw new Error(`--types: unknown type "${t}" (one of ${QTYPES.join(", ")})`);
const threadList = values.threads.split(",").map(Number);
const m = Number(values.m),
  rounds = Number(values.rounds),
  seconds = Number(values.seconds);
if (!(m > 8) || !(rounds >= 1) || !(seconds > 0) || threadList.some((n) => !(n >= 1)))
  throw new Error("--m must be > 8, --rounds >= 1, --seconds > 0, --threads positive integers");

const amxSwitch = b.qgemmAmx;
const hadAmx = amxSwitch ? amxSwitch(-1) : false;
const hasAmx = amxSwitch ? amxSwitch(1) : false;
const modes: ("amx" | "vnni")[] = hasAmx ? ["amx", "vnni"] : ["vnni"];

interface Timing {
  wallMs: number;
  cpuMs: number;
}

/** Whole-model prefill, AMX and VNNI alternating; prints one line (or JSON) and returns. */
async function modelPrefill(file: string): Promise<void> {
  const threads = threadList[0]!;
  b.setThreads(threads);
  const loaded = loadModel(file, { keepQuantized: true });
  const r = new Rng(3);
  const prompt = Array.from({ length: m }, () => r.int(loaded.config.vocabSize));
  const run = async (): Promise<{ tokS: number; cpuS: number }> => {
    const c0 = process.cpuUsage();
    const out = await generateWithStats(loaded.model, [prompt], { maxTokens: 1, sampling: { temperature: 0 } });
    const cpu = process.cpuUsage(c0);
    return { tokS: out.stats.prefillTokens / out.stats.prefillSeconds, cpuS: (cpu.user + cpu.system) / 1e6 };
  };
  await run(); // warm-up
  const got: Record<string, { tokS: number; cpuS: number }[]> = { amx: [], vnni: [] };
  for (let k = 0; k < rounds; k++) {
    for (const mode of k % 2 ? [...modes].reverse() : modes) {
      if (amxSwitch) amxSwitch(mode === "amx" ? 1 : 0);
      got[mode]!.push(await run());
    }
  }
  const row: Record<string, unknown> = { model: file, m, threads };
  for (const mode of modes) row[mode] = { prefillTokS: median(got[mode]!.map((g) => g.tokS)), cpuSeconds: median(got[mode]!.map((g) => g.cpuS)) };
  if (values.json) process.stdout.write(`${JSON.stringify(row)}\n`);
  else {
    const f = (mode: string) => {
      const g = row[mode] as { prefillTokS: number; cpuSeconds: number } | undefined;
      return g ? `${g.prefillTokS.toFixed(1)} tok/s (${g.cpuSeconds.toFixed(2)} CPU-s)` : "-";
    };
    process.stdout.write(`${file}: ${m}-token prefill, ${threads} threads: AMX ${f("amx")}  VNNI ${f("vnni")}\n`);
  }
}

/** Calls fn for `seconds` (at least 3 times) after one warm-up call; best wall ms and mean CPU ms per call. */
function time(fn: () => void): Timing {
  fn();
  let best = Infinity,
    calls = 0;
  const c0 = process.cpuUsage(),
    t0 = performance.now();
  while (calls < 3 || performance.now() - t0 < seconds * 1e3) {
    const s = performance.now();
    fn();
    best = Math.min(best, performance.now() - s);
    calls++;
  }
  const cpu = process.cpuUsage(c0);
  return { wallMs: best, cpuMs: (cpu.user + cpu.system) / 1e3 / calls };
}

interface Row {
  type: QType;
  shape: string;
  m: number;
  threads: number;
  gflops: Partial<Record<"amx" | "vnni", number>>;
  gflopPerCpuS: Partial<Record<"amx" | "vnni", number>>;
  speedup?: number;
}

const rows: Row[] = [];
const threadsBefore = b.getThreads();
try {
  if (values.model) await modelPrefill(values.model);
  else
    for (const type of types) {
      for (const [r, c, name] of SHAPES) {
        if (c % (type.endsWith("_K") ? 256 : 32) !== 0) continue;
        const w = randomWeight(type, r, c);
        const x = new Rng(2).fillNormal(new Float32Array(m * c));
        const y = new Float32Array(m * r);
        const flops = 2 * m * r * c;
        for (const threads of threadList) {
          b.setThreads(threads);
          const per: Record<string, Timing[]> = { amx: [], vnni: [] };
          const ratios: number[] = [];
          for (let k = 0; k < rounds; k++) {
            const order = k % 2 ? [...modes].reverse() : modes;
            const got: Record<string, Timing> = {};
            for (const mode of order) {
              if (amxSwitch) amxSwitch(mode === "amx" ? 1 : 0);
              got[mode] = time(() => qmatmul(y, x, m, w));
              per[mode]!.push(got[mode]!);
            }
            if (hasAmx) ratios.push(got.vnni!.wallMs / got.amx!.wallMs);
          }
          const row: Row = { type, shape: name, m, threads, gflops: {}, gflopPerCpuS: {} };
          for (const mode of modes) {
            row.gflops[mode] = flops / median(per[mode]!.map((t) => t.wallMs)) / 1e6;
            row.gflopPerCpuS[mode] = flops / median(per[mode]!.map((t) => t.cpuMs)) / 1e6;
          }
          if (hasAmx) row.speedup = median(ratios);
          rows.push(row);
          if (!values.json) {
            const f = (v?: number) => (v === undefined ? "-" : v.toFixed(1));
            process.stdout.write(
              `${type.padEnd(5)} m${m} ${name.padEnd(17)} ${threads}T  AMX ${f(row.gflops.amx).padStart(7)} GFLOP/s (${f(row.gflopPerCpuS.amx)} per CPU-s)` +
                `  VNNI ${f(row.gflops.vnni).padStart(7)} GFLOP/s (${f(row.gflopPerCpuS.vnni)} per CPU-s)  AMX/VNNI speed ${row.speedup === undefined ? "-" : `${row.speedup.toFixed(2)}x`}\n`,
            );
          }
        }
      }
    }
} finally {
  b.setThreads(threadsBefore);
  if (amxSwitch) amxSwitch(hadAmx ? 1 : 0);
}
if (!values.model) {
  if (values.json) process.stdout.write(`${JSON.stringify({ amx: hasAmx, isa: b.getIsa(), rows })}\n`);
  else if (!hasAmx) process.stdout.write("AMX not usable here (build, CPU or OS): VNNI column only\n");
}
