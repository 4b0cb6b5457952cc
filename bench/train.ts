// Training throughput, ours beside PyTorch, in one run: for each preset, runs
// `slm bench train --json` and bench/pytorch/train_baseline.py (the plain
// PyTorch models in tools/reference, same shapes, batch, context, AdamW,
// fp32 and thread count) in fresh processes, alternating, and prints
// tokens/s of both and our/PyTorch ratio.
//
//   node --import tsx bench/train.ts [--presets nano,mini] [--steps 10] [--rounds 2] [--threads 2] [--json]
//
// PyTorch is a benchmark-only baseline: Debian's python3-torch, run from
// /usr/bin/python3 (installed with apt-get when missing). It gets its best
// setting here: OMP_WAIT_POLICY=PASSIVE, and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE
// removed from its environment.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { presetConfig, toHfConfig } from "../src/models/config.ts";

const here = dirname(fileURLToPath(import.meta.url));
const { values: v } = parseArgs({
  options: {
    presets: { type: "string" },
    steps: { type: "string" },
    rounds: { type: "string" },
    threads: { type: "string" },
    batch: { type: "string" },
    vocab: { type: "string" },
    json: { type: "boolean" },
  },
});
const presets = (v.presets ?? "nano,mini").split(",");
const steps = v.steps ?? "10";
const rounds = Number(v.rounds ?? 2);
const threads = v.threads ?? "2";
const batch = v.batch ?? "8";
const vocab = Number(v.vocab ?? 8192);
const python = "/usr/bin/python3";

function ensureTorch(): void {
  const ok = spawnSync(python, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
  if (ok) return;
  console.error("bench/train: installing Debian's python3-torch (benchmark-only)…");
  spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
  const r = spawnSync("apt-get", ["install", "-y", "-qq", "python3-torch"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  if (r.status !== 0) throw new Error("could not install python3-torch");
}

function lastJson(out: string): Record<string, number> {
  const line = out
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .pop();
  if (!line) throw new Error(`no JSON in output:\n${out}`);
  return JSON.parse(line);
}

ensureTorch();
const tmp = mkdtempSync(join(tmpdir(), "slm-bench-train-"));
const rows: Record<string, unknown>[] = [];
try {
  for (const preset of presets) {
    const config = presetConfig(preset, vocab);
    const cfgPath = join(tmp, `${preset}.json`);
    writeFileSync(cfgPath, JSON.stringify(toHfConfig(config)));
    const context = String(Math.min(config.maxSeqLen, 256));
    let ours = 0,
      torch = 0,
      mfu = 0;
    for (let r = 0; r < rounds; r++) {
      const a = spawnSync(
        process.execPath,
        [
          join(here, "..", "bin", "slm.js"),
          "bench",
          "train",
          "--preset",
          preset,
          "--steps",
          steps,
          "--batch",
          batch,
          "--context",
          context,
          "--vocab",
          String(vocab),
          "--threads",
          threads,
          "--json",
        ],
        { encoding: "utf8" },
      );
      if (a.status !== 0) throw new Error(`slm bench train failed: ${a.stderr}`);
      const ja = lastJson(a.stdout);
      if (ja.tokens_per_s > ours) [ours, mfu] = [ja.tokens_per_s, ja.mfu];
      const env = { ...process.env, OMP_WAIT_POLICY: "PASSIVE" } as NodeJS.ProcessEnv;
      delete env.OPENBLAS_CORETYPE;
      delete env.OPENBLAS_L2_SIZE;
      const b = spawnSync(
        python,
        [join(here, "pytorch", "train_baseline.py"), "--config", cfgPath, "--batch", batch, "--context", context, "--steps", steps, "--threads", threads],
        { encoding: "utf8", env },
      );
      if (b.status !== 0) throw new Error(`PyTorch baseline failed: ${b.stderr}`);
      torch = Math.max(torch, lastJson(b.stdout).tokens_per_s);
    }
    const row = {
      preset,
      batch: Number(batch),
      context: Number(context),
      vocab,
      threads: Number(threads),
      ours_tokens_per_s: ours,
      pytorch_tokens_per_s: torch,
      ratio: ours / torch,
      ours_mfu: mfu,
    };
    rows.push(row);
    if (v.json) console.log(JSON.stringify(row));
    else
      console.log(
        `${preset.padEnd(6)} ours ${ours.toFixed(0).padStart(6)} tok/s   PyTorch ${torch.toFixed(0).padStart(6)} tok/s   ratio ${(ours / torch).toFixed(2)}×   (our MFU ${(mfu * 100).toFixed(0)}%)`,
      );
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
