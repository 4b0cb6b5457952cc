// LoRA fine-tuning of a real-size model on a CPU (issue 22): a Qwen2.5-0.5B
// shape (random weights, vocabulary 151,936), r 16 on every linear layer of
// every block, 4 sequences × 512 tokens, 2 threads, over a float32, a q8_0 and
// a q4_0 base, and the same shape and settings in plain PyTorch 1.13
// (tools/reference/lora_bench.py: float32 base, full logits, no checkpointing)
// in the same run. Each trial is a fresh process; the figures are tokens/s
// over the timed steps and the process's peak RSS (what the kernel reports),
// with our pre-run estimate (src/train/memory.ts) beside it. Ratios: each base
// against our float32 base and against PyTorch.
// The quantized bases are GGUF files made once (random weights quantized by
// our exporter) and cached in --cache; the float32 base is made in the trial.
//
//   node --import tsx bench/finetune.ts [--bases f32,q8_0,q4_0] [--torch] [--batch 4] [--context 512]
//        [--rank 16] [--steps 2] [--warmup 1] [--threads 2] [--no-checkpointing] [--layers 24] [--vocab 151936] [--json]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { modelWeights } from "../src/formats/convert.ts";
import { writeLlamaGguf } from "../src/formats/gguf-llama.ts";
import { loadModel } from "../src/formats/hf-dir.ts";
import { attachLora, createModel, fromHfConfig, weightStorage, type CausalLM } from "../src/models/index.ts";
import { AdamW, Tape, clipGradNorm } from "../src/tensor/index.ts";
import { estimateTrainingMemory } from "../src/train/memory.ts";
import { batchLoss } from "../src/train/trainer.ts";
import { Rng } from "../src/util/rng.ts";

const { values: v } = parseArgs({
  options: {
    bases: { type: "string" }, torch: { type: "boolean" }, batch: { type: "string" }, context: { type: "string" }, rank: { type: "string" },
    steps: { type: "string" }, warmup: { type: "string" }, threads: { type: "string" }, "no-checkpointing": { type: "boolean" },
    layers: { type: "string" }, vocab: { type: "string" }, cache: { type: "string" }, trial: { type: "string" }, make: { type: "string" }, json: { type: "boolean" },
  },
});
const B = Number(v.batch ?? 4), T = Number(v.context ?? 512), rank = Number(v.rank ?? 16);
const steps = Number(v.steps ?? 2), warmup = Number(v.warmup ?? 1), threads = Number(v.threads ?? 2);
const layers = Number(v.layers ?? 24), vocab = Number(v.vocab ?? 151_936);
const checkpointing = !v["no-checkpointing"];
const cache = v.cache ?? "/tmp/slmkit-bench-finetune";

/** Qwen2.5-0.5B's config.json fields (shape only), with the layer count and vocabulary as asked. */
const config = fromHfConfig({
  model_type: "qwen2", hidden_size: 896, intermediate_size: 4864, num_hidden_layers: layers, num_attention_heads: 14,
  num_key_value_heads: 2, vocab_size: vocab, max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 1e6,
  tie_word_embeddings: true, hidden_act: "silu", bos_token_id: Math.min(151643, vocab - 1), eos_token_id: Math.min(151643, vocab - 1),
});
const ggufPath = (dtype: string) => join(cache, `qwen2.5-0.5b-shape-L${layers}-V${vocab}.${dtype}.gguf`);

interface Trial { base: string; tokensPerS: number; peakRssBytes: number; estimateBytes?: number; weightsBytes?: number; trainable: number }

function makeBase(dtype: string): void {
  const model = createModel(config, 7);
  const p = ggufPath(dtype), tmp = p + ".tmp";
  writeLlamaGguf(tmp, modelWeights(model), { dtype: dtype as "q4_0" | "q8_0" });
  renameSync(tmp, p);
}

function trial(base: string): Trial {
  const model: CausalLM = base === "f32" ? createModel(config, 7) : loadModel(ggufPath(base), { keepQuantized: true }).model;
  const lora = attachLora(model, { r: rank, alpha: 2 * rank }, 1);
  const params = lora.namedParameters();
  const opt = new AdamW(params, { lr: 1e-4, weightDecay: 0 });
  const trainable = params.map(([, p]) => p);
  const estimate = estimateTrainingMemory(model, { batch: B, seqLen: T, trainableValues: lora.numParameters(), loraRank: rank, adaptersPerLayer: 7, checkpointing, chunkedLoss: true });
  const rng = new Rng(3);
  const inputs = new Int32Array(B * T), targets = new Int32Array(B * T);
  const tape = new Tape({ checkpoint: checkpointing });
  let t0 = performance.now();
  for (let s = 0; s < warmup + steps; s++) {
    if (s === warmup) t0 = performance.now();
    for (let i = 0; i < inputs.length; i++) {
      inputs[i] = rng.int(vocab);
      targets[i] = rng.int(vocab);
    }
    tape.reset();
    const loss = batchLoss(model, tape, { inputs, targets, batch: B, seqLen: T }, true);
    tape.backward(loss);
    clipGradNorm(trainable, 1);
    opt.step();
    opt.zeroGrad();
  }
  const dt = (performance.now() - t0) / 1000;
  return {
    base, tokensPerS: (steps * B * T) / dt, peakRssBytes: process.resourceUsage().maxRSS * 1024,
    estimateBytes: estimate.totalBytes, weightsBytes: weightStorage(model).bytes, trainable: lora.numParameters(),
  };
}

function child(args: string[], env: NodeJS.ProcessEnv, cmd = process.execPath): string {
  const p = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 1 << 24 });
  if (p.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${p.status ?? p.signal}): ${p.stderr}`);
  return p.stdout.trim().split("\n").pop()!;
}

const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;

if (v.make) makeBase(v.make);
else if (v.trial) console.log(JSON.stringify(trial(v.trial)));
else {
  const self = fileURLToPath(import.meta.url);
  const common = ["--batch", String(B), "--context", String(T), "--rank", String(rank), "--steps", String(steps), "--warmup", String(warmup), "--layers", String(layers), "--vocab", String(vocab), "--cache", cache, ...(checkpointing ? [] : ["--no-checkpointing"])];
  const env = { SLM_THREADS: String(threads) };
  const bases = (v.bases ?? "f32,q8_0,q4_0").split(",");
  mkdirSync(cache, { recursive: true });
  for (const b of bases) if (b !== "f32" && !existsSync(ggufPath(b))) child(["--import", "tsx", self, "--make", b, ...common], env);
  const results: Trial[] = [];
  for (const b of bases) {
    results.push(JSON.parse(child(["--import", "tsx", self, "--trial", b, ...common], env)) as Trial);
    if (!v.json) console.error(`  ${b}: ${results.at(-1)!.tokensPerS.toFixed(1)} tok/s, peak RSS ${gb(results.at(-1)!.peakRssBytes)}`);
  }
  let torch: Trial | null = null;
  if (v.torch) {
    const script = join(fileURLToPath(new URL("..", import.meta.url)), "tools", "reference", "lora_bench.py");
    const t = JSON.parse(child([script, "--threads", String(threads), "--batch", String(B), "--context", String(T), "--rank", String(rank), "--steps", String(steps), "--warmup", String(warmup), "--layers", String(layers), "--vocab", String(vocab)], { OMP_WAIT_POLICY: "PASSIVE", OMP_NUM_THREADS: String(threads) }, "/usr/bin/python3")) as Trial & { torch: string };
    torch = { ...t, base: `pytorch ${t.torch} f32` };
    if (!v.json) console.error(`  ${torch.base}: ${torch.tokensPerS.toFixed(1)} tok/s, peak RSS ${gb(torch.peakRssBytes)}`);
  }
  const f32 = results.find((r) => r.base === "f32");
  const out = {
    shape: "qwen2.5-0.5b", layers, vocab, batch: B, context: T, rank, threads, steps, warmup, checkpointing,
    results: results.map((r) => ({ ...r, vsF32: f32 ? r.tokensPerS / f32.tokensPerS : null, vsTorch: torch ? r.tokensPerS / torch.tokensPerS : null })),
    torch,
  };
  if (v.json) console.log(JSON.stringify(out));
  else {
    console.log(`Qwen2.5-0.5B shape (${layers} layers, vocab ${vocab}), LoRA r ${rank} on q,k,v,o,gate,up,down, ${B}×${T} tokens, ${threads} threads, checkpointing ${checkpointing ? "on" : "off"}, chunked loss; ${steps} timed steps after ${warmup}`);
    for (const r of out.results) {
      console.log(`  slmkit ${r.base.padEnd(5)} base: ${r.tokensPerS.toFixed(1).padStart(7)} tok/s  peak RSS ${gb(r.peakRssBytes)} (estimate ${gb(r.estimateBytes!)}, weights ${gb(r.weightsBytes!)})` +
        `${r.vsF32 !== null ? `  ×${r.vsF32.toFixed(2)} of f32` : ""}${r.vsTorch !== null ? `  ×${r.vsTorch.toFixed(2)} of PyTorch` : ""}`);
    }
    if (torch) console.log(`  ${torch.base} (full logits, no checkpointing): ${torch.tokensPerS.toFixed(1)} tok/s  peak RSS ${gb(torch.peakRssBytes)}`);
  }
}
