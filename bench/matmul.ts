// Matmul benchmark against OpenBLAS: times every shape of src/native/bench/gemm.ts
// through our native kernel and through OpenBLAS's cblas_sgemm, in the same run
// (alternating per shape), and prints ours/OpenBLAS per shape and the geometric mean.
//
//   node --import tsx bench/matmul.ts [--threads N] [--seconds S] [--rounds R] [--shape TEXT] [--json]
//
// OpenBLAS is a benchmark-only baseline, never a run-time or test-time dependency:
// bench/openblas/sgemm_bench.c is compiled into a temp dir with `cc -O2 ... -lopenblas`;
// when cblas.h or libopenblas is missing this script installs Debian's
// libopenblas-dev with apt-get (after `apt-get update`). OpenBLAS runs with
// OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from its environment (they can
// pin it to an older, slower kernel) and with the same thread count as ours; the
// kernel it picked (openblas_get_corename()) is printed with the results.
// --rounds R alternates ours and OpenBLAS R times per shape; the ratio printed is
// the median of the R per-round ratios (a paired comparison, which steadies the
// figures on a shared machine), the GFLOP/s columns the medians over rounds.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { gemmCase, gemmShapes, shapeLabel, type GemmShape } from "../src/native/bench/gemm.ts";
import { runCase } from "../src/native/bench/run.ts";
import { backend, nativeLoadError } from "../src/native/load.ts";

const here = dirname(fileURLToPath(import.meta.url));

interface OpenBlasRow {
  ms: number;
  gflops: number;
  core: string;
  config: string;
}

const HEADERS = ["/usr/include/cblas.h", "/usr/include/x86_64-linux-gnu/cblas.h", "/usr/include/openblas/cblas.h"];
const LIBS = ["/usr/lib/x86_64-linux-gnu/libopenblas.so", "/usr/lib/libopenblas.so", "/usr/lib64/libopenblas.so"];

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: env ?? process.env, maxBuffer: 1 << 24 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.status}):\n${r.stderr}`);
  return r.stdout;
}

/** Makes sure cblas.h and libopenblas are present, installing libopenblas-dev if not. */
function ensureOpenBlas(): void {
  if (HEADERS.some(existsSync) && LIBS.some(existsSync)) return;
  process.stderr.write("OpenBLAS headers or library missing: apt-get update && apt-get install -y libopenblas-dev\n");
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  const apt = (args: string[]) => (sudo.length ? run("sudo", ["apt-get", ...args]) : run("apt-get", args));
  apt(["update"]);
  apt(["install", "-y", "libopenblas-dev"]);
  if (!HEADERS.some(existsSync)) throw new Error("libopenblas-dev installed but cblas.h still not found");
}

/** Compiles the OpenBLAS timing program into a temp dir; returns its path and the dir. */
function buildOpenBlasBench(): { exe: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "slm-openblas-"));
  const exe = join(dir, "sgemm_bench");
  run("cc", ["-O2", "-o", exe, join(here, "openblas", "sgemm_bench.c"), "-lopenblas"]);
  return { exe, dir };
}

function openBlasEnv(threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads) };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  delete env.OPENBLAS_VERBOSE;
  return env;
}

function timeOpenBlas(exe: string, s: GemmShape, threads: number, seconds: number): OpenBlasRow {
  const spec = `${s.m},${s.n},${s.k},${s.transA ? 1 : 0},${s.transB ? 1 : 0}`;
  const out = run(exe, [String(threads), String(seconds), spec], openBlasEnv(threads));
  return JSON.parse(out.trim().split("\n")[0]!) as OpenBlasRow;
}

function main(): number {
  const { values } = parseArgs({
    options: {
      threads: { type: "string" },
      seconds: { type: "string" },
      rounds: { type: "string" },
      shape: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write("usage: node --import tsx bench/matmul.ts [--threads N] [--seconds S] [--rounds R] [--shape TEXT] [--json]\n");
    return 0;
  }
  const b = backend();
  if (b.name !== "native") {
    process.stderr.write(`native addon unavailable (${nativeLoadError()}); run \`npm run build:native\` first\n`);
    return 1;
  }
  const threads = values.threads ? Number(values.threads) : b.getThreads();
  const seconds = values.seconds ? Number(values.seconds) : 0.5;
  const rounds = values.rounds ? Number(values.rounds) : 5;
  if (!Number.isInteger(threads) || threads < 1 || !(seconds > 0) || !Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write("--threads and --rounds must be positive integers, --seconds a positive number\n");
    return 2;
  }
  b.setThreads(threads);
  const shapes = gemmShapes.filter((s) => !values.shape || shapeLabel(s).includes(values.shape));
  if (shapes.length === 0) {
    process.stderr.write(`no shape matches "${values.shape}"\n`);
    return 2;
  }

  ensureOpenBlas();
  const { exe, dir } = buildOpenBlasBench();
  try {
    const ours = new Map<GemmShape, number[]>();
    const theirs = new Map<GemmShape, number[]>();
    let core = "",
      config = "";
    // Per shape, ours and OpenBLAS alternate `rounds` times back to back (ours first in
    // even rounds, OpenBLAS first in odd ones), and the ratio is the median of the
    // per-round ratios: each pair is measured a second apart, so a change in machine
    // load (this 2-core VM's throughput drifts by ±20% over tens of seconds) hits both
    // sides of a pair alike. The GFLOP/s columns are the medians over rounds.
    for (const s of shapes) {
      ours.set(s, []);
      theirs.set(s, []);
      for (let r = 0; r < rounds; r++) {
        const mine = () => ours.get(s)!.push(runCase(gemmCase(s), { seconds }).gflops!);
        const blas = () => {
          const ob = timeOpenBlas(exe, s, threads, seconds);
          theirs.get(s)!.push(ob.gflops);
          core = ob.core;
          config = ob.config;
        };
        if (r % 2 === 0) mine(), blas();
        else blas(), mine();
        if (!values.json && process.stderr.isTTY) process.stderr.write(`  ${shapeLabel(s)} round ${r + 1}/${rounds}   \r`);
      }
    }
    const median = (xs: number[]) => {
      const v = [...xs].sort((a, b) => a - b);
      return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
    };
    const results = shapes.map((s) => {
      const o = ours.get(s)!,
        t = theirs.get(s)!;
      return {
        shape: shapeLabel(s),
        role: s.role,
        ours_gflops: median(o),
        openblas_gflops: median(t),
        ratio: median(o.map((x, i) => x / t[i]!)),
        ours_best_gflops: Math.max(...o),
        openblas_best_gflops: Math.max(...t),
      };
    });
    const geomean = (xs: number[]) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
    const ratios = results.map((x) => x.ratio);
    const training = results.filter((x) => x.role !== "decode").map((x) => x.ratio);
    const summary = {
      geomean: geomean(ratios),
      geomean_training: training.length ? geomean(training) : null,
      min_ratio: Math.min(...ratios),
      threads,
      isa: b.getIsa(),
      openblas_core: core,
      openblas_config: config,
      rounds,
      seconds,
    };
    if (values.json) {
      for (const x of results) process.stdout.write(`${JSON.stringify({ op: "matmul", ...x, threads, isa: b.getIsa(), openblas_core: core })}\n`);
      process.stdout.write(`${JSON.stringify({ summary: true, ...summary })}\n`);
      return 0;
    }
    const w = Math.max(5, ...results.map((x) => x.shape.length));
    const lines = [
      `matmul fp32, ${threads} thread(s), ours: ${b.getIsa()}, OpenBLAS: ${core} (${config})`,
      `${"shape".padEnd(w)}  ${"role".padEnd(11)}  ${"ours GF/s".padStart(9)}  ${"OpenBLAS".padStart(9)}  ${"ratio".padStart(6)}`,
      ...results.map(
        (x) =>
          `${x.shape.padEnd(w)}  ${x.role.padEnd(11)}  ${x.ours_gflops.toFixed(1).padStart(9)}  ${x.openblas_gflops.toFixed(1).padStart(9)}  ${x.ratio.toFixed(2).padStart(6)}`,
      ),
      `geometric mean of ours/OpenBLAS: ${summary.geomean.toFixed(3)} (all ${ratios.length} shapes)` +
        (summary.geomean_training !== null && training.length !== ratios.length ? `, ${summary.geomean_training.toFixed(3)} (training shapes only)` : "") +
        `; lowest ${summary.min_ratio.toFixed(3)}`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = main();
