// Speculative decoding (issue 24 point 5): decode tokens/s of the batching
// engine with and without speculation, in one run, greedy, with the outputs
// checked identical token for token.
//   1. prompt lookup: a `micro` model pretrained briefly on the 18F handbook and
//      fine-tuned with `slm finetune --task grounded-qa`, answering the corpus's
//      qa.jsonl questions from `slm ask`'s grounded prompt (3 retrieved sections);
//   2. draft model: a `mini` target and a `nano` student made by `slm distill`
//      from it (same tokenizer), on the same grounded prompts and on plain
//      handbook text continuations.
// The models are built once with the real CLI (node bin/slm.js) in --cache and
// reused; training is kept short (minutes) because the machine is small and shared.
// Each configuration runs every prompt once, one request at a time (the
// single-user case) and then all at once (--concurrency, continuous batching);
// the baseline and the speculative run alternate prompt by prompt, so load
// changes on the shared machine hit both alike.
//
//   node --import tsx bench/speculative.ts [--cache DIR] [--questions N] [--build-only] [--concurrency 4] [--json]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: v } = parseArgs({
  options: {
    cache: { type: "string" }, questions: { type: "string" }, "build-only": { type: "boolean" }, concurrency: { type: "string" }, json: { type: "boolean" },
    "micro-time": { type: "string" }, "mini-time": { type: "string" }, "sft-steps": { type: "string" }, "distill-steps": { type: "string" },
  },
});
const corpus = resolve(repo, "..", "shared", "corpora", "18f-handbook");
if (!existsSync(corpus)) {
  console.error(`bench/speculative: ${corpus} is absent; nothing to run`);
  process.exit(0);
}
const cache = resolve(v.cache ?? "/tmp/slmkit-bench-speculative");
mkdirSync(cache, { recursive: true });

function slm(step: string, args: string[], cwd = cache): void {
  const t0 = performance.now();
  console.error(`[${step}] slm ${args.join(" ")}`);
  const r = spawnSync(process.execPath, [join(repo, "bin", "slm.js"), ...args], { cwd, stdio: ["ignore", "ignore", "inherit"] });
  console.error(`[${step}] ${((performance.now() - t0) / 1000).toFixed(0)} s (load ${loadavg()[0]!.toFixed(1)})`);
  if (r.status !== 0) throw new Error(`${step}: slm ${args.join(" ")} exited with ${r.status}`);
}

const data = join(cache, "18f"), index = join(cache, "18f.index");
const microLm = join(cache, "micro-lm"), microSft = join(cache, "micro-sft");
const miniLm = join(cache, "mini-lm"), nanoKd = join(cache, "nano-kd");
export const paths = { data, index, micro: join(microSft, "model"), mini: join(miniLm, "model"), nano: join(nanoKd, "model") };

/** Each step runs once: skipped when its output is already in the cache. */
function build(): void {
  const done = (dir: string) => existsSync(join(dir, "config.json")) || existsSync(join(dir, "manifest.json")) || existsSync(join(dir, "model", "config.json"));
  if (!done(data)) slm("ingest", ["ingest", "pages", "--out", data, "--vocab-size", "8192", "--no-cache"], corpus);
  if (!existsSync(index)) slm("index", ["index", data, "--out", index]);
  if (!done(microLm)) slm("pretrain micro", ["train", "--data", data, "--preset", "micro", "--time-budget", v["micro-time"] ?? "5m", "--eval-every", "1000", "--out", microLm]);
  if (!done(microSft)) {
    slm("grounded-qa finetune micro", ["finetune", "--task", "grounded-qa", "--base", join(microLm, "model"), "--index", index, "--synthetic", "1200", "--method", "full",
      "--lr", "1e-3", "--max-steps", v["sft-steps"] ?? "150", "--batch", "8", "--context", "256", "--out", microSft]);
  }
  if (!done(miniLm)) slm("pretrain mini", ["train", "--data", data, "--preset", "mini", "--time-budget", v["mini-time"] ?? "6m", "--eval-every", "1000", "--out", miniLm]);
  if (!done(nanoKd)) {
    slm("distill nano from mini", ["distill", "--teacher", join(miniLm, "model"), "--student", "nano", "--data", data, "--max-steps", v["distill-steps"] ?? "300",
      "--batch", "8", "--context", "256", "--eval-every", "100", "--checkpoint-every", "0", "--out", nanoKd]);
  }
}

build();
if (v["build-only"]) process.exit(0);
