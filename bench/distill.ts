// Does distillation help? A `micro` student distilled from a `mini` teacher
// against the same `micro` trained from scratch: same seed, steps, batch,
// context and data order (both use WindowSampler with the same seed), so the
// two runs see exactly the same tokens. Each run is a fresh `slm` process.
// Prints both validation-loss curves (from their metrics.jsonl) and the
// ratio of final val losses (distilled / scratch; < 1 means distillation won).
//
//   node --import tsx bench/distill.ts --out runs/kd-bench                      # everything, ~1 h on 2 cores
//   node --import tsx bench/distill.ts --out runs/kd-bench --data D --teacher runs/t/model --steps 60
//
// Without --data, ../shared/corpora/18f-handbook/pages is ingested with an 8192-token
// tokenizer; without --teacher, a `mini` teacher is trained for --teacher-time (default 20m).
// Distillation settings: --alpha (0.5) --temperature (1) --divergence (forward) --top-k (32).
// --only-report prints the curves of runs already in --out (--distilled NAME: which subdirectory).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..");
const slm = join(repo, "bin", "slm.js");
const { values: v } = parseArgs({
  options: {
    out: { type: "string" },
    data: { type: "string" },
    teacher: { type: "string" },
    "teacher-time": { type: "string" },
    steps: { type: "string" },
    batch: { type: "string" },
    context: { type: "string" },
    seed: { type: "string" },
    "eval-every": { type: "string" },
    alpha: { type: "string" },
    temperature: { type: "string" },
    divergence: { type: "string" },
    "top-k": { type: "string" },
    "only-report": { type: "boolean" },
    distilled: { type: "string" },
  },
});
if (!v.out) {
  console.error("usage: node --import tsx bench/distill.ts --out DIR [--data DATASET] [--teacher MODEL_DIR] [--steps N] …");
  process.exit(2);
}
const out = resolve(v.out);
mkdirSync(out, { recursive: true });
const common = [
  "--max-steps",
  v.steps ?? "80",
  "--batch",
  v.batch ?? "4",
  "--context",
  v.context ?? "256",
  "--seed",
  v.seed ?? "0",
  "--eval-every",
  v["eval-every"] ?? "10",
  "--log-every",
  "5",
  "--checkpoint-every",
  "0",
];

function slmRun(args: string[]): void {
  console.error(`$ slm ${args.join(" ")}`);
  const r = spawnSync(process.execPath, [slm, ...args], { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) throw new Error(`slm ${args[0]} failed with exit code ${r.status}`);
}

const data = v.data ? resolve(v.data) : join(out, "data");
const teacher = v.teacher ? resolve(v.teacher) : join(out, "teacher", "model");
const scratch = join(out, "micro-scratch"),
  kd = join(out, v.distilled ?? "micro-distilled");
if (!v["only-report"]) {
  if (!v.data && !existsSync(join(data, "manifest.json"))) {
    const corpus = join(repo, "..", "shared", "corpora", "18f-handbook", "pages");
    if (!existsSync(corpus)) throw new Error(`${corpus} is missing: pass --data DATASET`);
    slmRun(["ingest", corpus, "--out", data, "--vocab-size", "8192", "--no-cache"]);
  }
  if (!v.teacher && !existsSync(join(teacher, "config.json"))) {
    slmRun(["train", "--data", data, "--preset", "mini", "--time-budget", v["teacher-time"] ?? "20m", "--eval-every", "50", "--out", join(out, "teacher")]);
  }
  slmRun(["train", "--data", data, "--preset", "micro", "--out", scratch, ...common]);
  slmRun([
    "distill",
    "--teacher",
    teacher,
    "--student",
    "micro",
    "--data",
    data,
    "--out",
    kd,
    ...common,
    "--alpha",
    v.alpha ?? "0.5",
    "--temperature",
    v.temperature ?? "1",
    "--divergence",
    v.divergence ?? "forward",
    "--top-k",
    v["top-k"] ?? "32",
  ]);
}

type Line = {
  type: string;
  step?: number;
  valLoss?: number;
  student?: { valLoss: number | null; tokensPerSec: number; params: number };
  teacher?: { valLoss: number | null; tokensPerSec: number | null; params: number };
  maxRssMiB?: number;
};
const read = (dir: string): Line[] =>
  readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Line);
const evals = (ls: Line[]) => new Map(ls.filter((l) => l.type === "eval").map((l) => [l.step!, l.valLoss!]));
const a = read(scratch),
  b = read(kd);
const ea = evals(a),
  eb = evals(b);
console.log("step  scratch  distilled  ratio");
for (const step of [...new Set([...ea.keys(), ...eb.keys()])].sort((x, y) => x - y)) {
  const x = ea.get(step),
    y = eb.get(step);
  console.log(`${String(step).padStart(4)}  ${x?.toFixed(4) ?? "   -  "}   ${y?.toFixed(4) ?? "   -  "}    ${x && y ? (y / x).toFixed(4) : "-"}`);
}
const lastA = [...ea.values()].at(-1)!,
  lastB = [...eb.values()].at(-1)!;
const summary = b.find((l) => l.type === "distill_summary") ?? b.find((l) => l.type === "summary" && l.teacher !== undefined);
console.log(
  JSON.stringify({
    bench: "distill",
    scratchValLoss: lastA,
    distilledValLoss: lastB,
    ratio: lastB / lastA,
    teacher: summary?.teacher,
    student: summary?.student,
    maxRssMiB: summary?.maxRssMiB,
  }),
);
