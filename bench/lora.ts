// LoRA against full fine-tuning on one preset (default mini), in one run:
// each trial runs in a fresh process (alternating full, lora, full, lora…),
// takes a few training steps (forward, backward, clip, AdamW) on random
// tokens and reports tokens/s and the bytes of gradient buffers + optimizer
// moments. Prints both and the ratios lora/full (memory) and lora/full
// (tokens/s). The base weights are frozen under LoRA, so backward skips
// their weight-gradient matmuls; that is the speedup.
//
//   node --import tsx bench/lora.ts [--preset mini] [--rank 8] [--steps 6] [--rounds 2] [--batch 4] [--context 128] [--json]
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { attachLora, createModel, presetConfig } from "../src/models/index.ts";
import { AdamW, Tape, clipGradNorm, crossEntropy, gradientBytes, type Parameter } from "../src/tensor/index.ts";
import { Rng } from "../src/util/rng.ts";

const { values: v } = parseArgs({
  options: {
    preset: { type: "string" },
    rank: { type: "string" },
    steps: { type: "string" },
    rounds: { type: "string" },
    batch: { type: "string" },
    context: { type: "string" },
    vocab: { type: "string" },
    trial: { type: "string" },
    json: { type: "boolean" },
  },
});
const preset = v.preset ?? "mini";
const rank = Number(v.rank ?? 8);
const steps = Number(v.steps ?? 6);
const B = Number(v.batch ?? 4),
  T = Number(v.context ?? 128),
  V = Number(v.vocab ?? 8192);

interface Trial {
  method: string;
  tokensPerS: number;
  gradBytes: number;
  optBytes: number;
  trainable: number;
}

function trial(method: "full" | "lora"): Trial {
  const model = createModel(presetConfig(preset, V), 0);
  let params: [string, Parameter][] = model.namedParameters();
  if (method === "lora") params = attachLora(model, { r: rank, alpha: 2 * rank }, 1).namedParameters();
  const opt = new AdamW(params, { lr: 1e-4 });
  const trainable = params.map(([, p]) => p);
  const rng = new Rng(3);
  const ids = new Int32Array(B * T),
    tg = new Int32Array(B * T);
  const tape = new Tape();
  let t0 = 0;
  for (let s = 0; s <= steps; s++) {
    if (s === 1) t0 = performance.now(); // step 0 pays one-off allocation
    for (let i = 0; i < ids.length; i++) {
      ids[i] = rng.int(V);
      tg[i] = rng.int(V);
    }
    tape.reset();
    const loss = crossEntropy(tape, model.forward(tape, ids, B, T), tg, { inPlaceGrad: true });
    tape.backward(loss);
    clipGradNorm(trainable, 1);
    opt.step();
    opt.zeroGrad();
  }
  const dt = (performance.now() - t0) / 1000;
  return {
    method,
    tokensPerS: (steps * B * T) / dt,
    gradBytes: gradientBytes([...model.parameters(), ...trainable]),
    optBytes: opt.stateBytes(),
    trainable: trainable.reduce((a, p) => a + p.size, 0),
  };
}

if (v.trial) {
  console.log(JSON.stringify(trial(v.trial as "full" | "lora")));
} else {
  const rounds = Number(v.rounds ?? 2);
  const self = fileURLToPath(import.meta.url);
  const results: Record<string, Trial[]> = { full: [], lora: [] };
  for (let r = 0; r < rounds; r++) {
    for (const m of ["full", "lora"]) {
      const args = [
        "--import",
        "tsx",
        self,
        "--trial",
        m,
        "--preset",
        preset,
        "--rank",
        String(rank),
        "--steps",
        String(steps),
        "--batch",
        String(B),
        "--context",
        String(T),
        "--vocab",
        String(V),
      ];
      const p = spawnSync(process.execPath, args, { encoding: "utf8" });
      if (p.status !== 0) throw new Error(`trial ${m} failed: ${p.stderr}`);
      results[m]!.push(JSON.parse(p.stdout.trim().split("\n").pop()!) as Trial);
    }
  }
  const best = (m: string) => results[m]!.reduce((a, b) => (b.tokensPerS > a.tokensPerS ? b : a));
  const full = best("full"),
    lora = best("lora");
  const mem = (t: Trial) => t.gradBytes + t.optBytes;
  const out = {
    preset,
    rank,
    batch: B,
    context: T,
    vocab: V,
    steps,
    rounds,
    full: { tokensPerS: Math.round(full.tokensPerS), gradPlusOptimizerBytes: mem(full), trainable: full.trainable },
    lora: { tokensPerS: Math.round(lora.tokensPerS), gradPlusOptimizerBytes: mem(lora), trainable: lora.trainable },
    memoryRatio: mem(lora) / mem(full),
    speedRatio: lora.tokensPerS / full.tokensPerS,
    allTrials: Object.fromEntries(Object.entries(results).map(([k, ts]) => [k, ts.map((t) => Math.round(t.tokensPerS))])),
  };
  if (v.json) console.log(JSON.stringify(out));
  else {
    console.log(`${preset} (vocab ${V}, batch ${B}×${T}), LoRA r=${rank} on q,k,v,o,gate,up,down; best of ${rounds} fresh-process trials`);
    console.log(`  full: ${out.full.tokensPerS} tok/s, gradients + AdamW ${(mem(full) / 2 ** 20).toFixed(1)} MiB (${full.trainable} trainable)`);
    console.log(`  lora: ${out.lora.tokensPerS} tok/s, gradients + AdamW ${(mem(lora) / 2 ** 20).toFixed(2)} MiB (${lora.trainable} trainable)`);
    console.log(
      `  memory lora/full = ${out.memoryRatio.toFixed(4)}   speed lora/full = ${out.speedRatio.toFixed(2)}×   (trials: ${JSON.stringify(out.allTrials)})`,
    );
  }
}
