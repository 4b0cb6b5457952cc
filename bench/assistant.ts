// The domain assistant end to end, timed: ingest the 18F handbook (and train
// its tokenizer) -> pretrain a nano model -> extend its context to 512 (rotary
// positions: only max_position_embeddings changes) -> grounded-QA fine-tuning
// on synthetic questions from the documents -> index 18F and Northwind ->
// `slm eval qa` on both (the Northwind handbook is never used for training or
// tuning), with the model (copy and free decoding) and the extractive baseline.
// Runs the real CLI (node bin/slm.js) in child processes and prints each step's
// wall time and a table of the figures. Needs ../shared/corpora/18f-handbook.
//
//   node --import tsx bench/assistant.ts [--shared ../shared] [--out /tmp/slm-assistant] [--skip-train] [--pretrain 3m] [--sft-steps 260] [--synthetic 2600]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, cpSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: v } = parseArgs({
  options: { shared: { type: "string" }, out: { type: "string" }, pretrain: { type: "string" }, "sft-steps": { type: "string" }, synthetic: { type: "string" }, "skip-train": { type: "boolean" } },
});
const corpus = join(resolve(v.shared ?? join(repo, "..", "shared")), "corpora", "18f-handbook");
const out = resolve(v.out ?? "/tmp/slm-assistant");
const pretrain = v.pretrain ?? "3m";
const sftSteps = v["sft-steps"] ?? "260";
const synthetic = v.synthetic ?? "2600";
if (!existsSync(corpus)) {
  console.error(`bench/assistant: ${corpus} is absent; nothing to run`);
  process.exit(0);
}
mkdirSync(out, { recursive: true });

const times: { step: string; s: number; training: boolean }[] = [];
function slm(step: string, args: string[], opts: { cwd?: string; training?: boolean } = {}): string {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(repo, "bin", "slm.js"), ...args], { cwd: opts.cwd ?? out, encoding: "utf8", maxBuffer: 1 << 28 });
  const s = (performance.now() - t0) / 1000;
  times.push({ step, s, training: opts.training ?? false });
  console.error(`[${step}] ${s.toFixed(1)} s (load ${loadavg()[0]!.toFixed(1)})`);
  if (r.status !== 0) {
    console.error(r.stderr);
    throw new Error(`${step}: slm ${args.join(" ")} exited with ${r.status}`);
  }
  return r.stdout;
}

const ds18 = join(out, "18f"), dsNw = join(out, "northwind");
const pre = join(out, "pre"), base = join(out, "base-512"), sft = join(out, "sft");
if (!v["skip-train"]) {
  for (const d of [ds18, pre, base, sft]) rmSync(d, { recursive: true, force: true });
  slm("ingest 18F + tokenizer", ["ingest", "pages", "--out", ds18, "--vocab-size", "8192"], { cwd: corpus, training: true });
  slm(`pretrain nano (${pretrain})`, ["train", "--data", ds18, "--preset", "nano", "--time-budget", pretrain, "--eval-every", "1000", "--out", pre], { training: true });
  // Context 256 -> 512: Llama has rotary positions and no learned position weights.
  cpSync(join(pre, "model"), base, { recursive: true });
  const cfgPath = join(base, "config.json");
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
  cfg.max_position_embeddings = 512;
  writeFileSync(cfgPath, JSON.stringify(cfg, null, 2) + "\n");
  slm("index 18F", ["index", ds18, "--out", join(out, "18f.index")], { training: true });
  slm(`grounded-qa SFT (${synthetic} synthetic, ${sftSteps} steps)`, ["finetune", "--task", "grounded-qa", "--base", base, "--index", join(out, "18f.index"), "--synthetic", synthetic,
    "--out", sft, "--method", "full", "--lr", "1e-3", "--context", "512", "--max-steps", sftSteps, "--batch", "8", "--eval-every", "65"], { training: true });
}
if (!existsSync(join(out, "northwind.index"))) {
  rmSync(dsNw, { recursive: true, force: true });
  slm("ingest Northwind", ["ingest", "handbook", "--out", dsNw], { cwd: join(repo, "examples") });
  slm("index Northwind", ["index", dsNw, "--out", join(out, "northwind.index")]);
}

interface Summary {
  accuracy: number; falseNotFound: number; citationCorrect: number | null; recall: Record<string, Record<string, number>>;
  unanswerable: { notFoundRate: number } | null; latencyMs: { mean: number; p95: number };
}
const sets = [
  { name: "18F (tuned on)", index: "18f.index", q: "examples/qa/18f-handbook.jsonl", u: "examples/qa/18f-unanswerable.jsonl" },
  { name: "Northwind (never tuned on)", index: "northwind.index", q: "examples/qa/handbook.jsonl", u: "examples/qa/handbook-unanswerable.jsonl" },
];
const answerers = [
  { name: "model, copy decoding", args: ["--model", join(sft, "model"), "--decode", "copy"] },
  { name: "model, copy-answer decoding", args: ["--model", join(sft, "model"), "--decode", "copy-answer"] },
  { name: "model, free decoding", args: ["--model", join(sft, "model"), "--max-tokens", "64"] },
  { name: "extractive baseline", args: [] as string[] },
];
const rows: string[] = [];
const pct = (x: number | null | undefined) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`);
for (const set of sets) {
  for (const a of answerers) {
    const tag = `${set.name.split(" ")[0]}-${a.name.split(",")[0]}${a.args.includes("copy") ? "-copy" : a.args.includes("copy-answer") ? "-copyanswer" : a.args.length ? "-free" : ""}`.replace(/\s+/g, "");
    const s = JSON.parse(slm(`eval ${set.name}: ${a.name}`, ["eval", "qa", "--index", join(out, set.index), "--questions", join(repo, set.q), "--unanswerable", join(repo, set.u),
      ...a.args, "--json", "--out", join(out, "reports", tag)])) as Summary;
    rows.push(`| ${set.name} | ${a.name} | ${pct(s.recall.hybrid?.["@3"])} | ${pct(s.accuracy)} | ${pct(s.citationCorrect)} | ${pct(s.falseNotFound)} | ${pct(s.unanswerable?.notFoundRate)} | ${s.latencyMs.mean.toFixed(0)} / ${s.latencyMs.p95.toFixed(0)} ms |`);
  }
}
const trainS = times.filter((t) => t.training).reduce((a, t) => a + t.s, 0);
let params = "?";
try {
  params = String(JSON.parse(readFileSync(join(sft, "summary.json"), "utf8")).params);
} catch { /* no summary */ }
console.log(`\nmachine: ${cpus().length} cores, load ${loadavg().map((x) => x.toFixed(1)).join(" ")}; model ${params} parameters`);
console.log("\n| step | wall time |\n|---|---|");
for (const t of times) console.log(`| ${t.step}${t.training ? " (training)" : ""} | ${t.s.toFixed(1)} s |`);
if (trainS > 0) console.log(`| **training in all** | **${(trainS / 60).toFixed(1)} min** |`);
console.log("\n| set | answerer | hybrid recall@3 | accuracy | cites gold | false not-found | unanswerable → not found | latency mean / p95 |\n|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
