// Interop check for issue 22: a LoRA adapter trained over a q4_0 base, merged
// into the float base and exported as a q8_0 GGUF, loads in real llama.cpp
// (node-llama-cpp's prebuilt, CPU only), and llama.cpp's log-probabilities at
// the last position of a fixed sequence agree with ours for the same file,
// and with the unmerged adapter on the float base (up to q8_0 rounding).
// A tiny random Llama with a trained byte-level tokenizer; a few LoRA steps
// on random tokens with a large learning rate, so the adapter matters.
//   SLM_NODE_LLAMA_CPP=/work/interop node --import tsx bench/interop/lora-merge.ts
// Without SLM_NODE_LLAMA_CPP it prints a skip message and exits 0.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import { exportModel } from "../../src/formats/convert.ts";
import { writeLlamaGguf } from "../../src/formats/gguf-llama.ts";
import { loadModel, saveModelDir } from "../../src/formats/hf-dir.ts";
import { loadAdapter, saveAdapter } from "../../src/formats/peft.ts";
import { randomModel, tinyByteLevel } from "../../src/formats/testing.ts";
import { attachLora } from "../../src/models/index.ts";
import { AdamW, Tape } from "../../src/tensor/index.ts";
import { batchLoss } from "../../src/train/trainer.ts";
import { Rng } from "../../src/util/rng.ts";
import { compareLogprobs, interopConfig, ourLastLogprobs } from "./models.ts";

const root = process.env.SLM_NODE_LLAMA_CPP;
const pkgDir = root ? join(root, "node_modules", "node-llama-cpp") : "";
if (!root || !existsSync(join(pkgDir, "package.json"))) {
  console.log(JSON.stringify({ skipped: "node-llama-cpp not found (set SLM_NODE_LLAMA_CPP, see bench/interop/llamacpp.ts)" }));
  process.exit(0);
}
const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
const nlc = await import(pathToFileURL(join(pkgDir, pkg.exports?.["."]?.import ?? pkg.main ?? "dist/index.js")).href);

const dir = mkdtempSync(join(tmpdir(), "slm-lora-merge-"));
try {
  const tok = await tinyByteLevel(400);
  const config = interopConfig("bytelevel", tok);
  const f32 = join(dir, "base.f32.gguf"),
    base = join(dir, "base");
  writeLlamaGguf(f32, randomModel(config, 42), { dtype: "f32", tokenizer: tok });
  const loaded = loadModel(f32);
  saveModelDir(base, loaded.model, { tokenizer: loaded.tokenizer, generation: loaded.generation });

  // Train adapters over the base quantized to q4_0 at load.
  const q = loadModel(base, { dtype: "q4_0" });
  const lora = attachLora(q.model, { r: 8, alpha: 16 }, 1);
  const opt = new AdamW(lora.namedParameters(), { lr: 2e-2, weightDecay: 0 });
  const rng = new Rng(5);
  const B = 4,
    T = 32,
    n = B * T;
  let first = 0,
    last = 0;
  const inputs = Int32Array.from({ length: n }, () => rng.int(config.vocabSize));
  const targets = Int32Array.from(inputs, (t) => (t * 7 + 1) % config.vocabSize); // a fixed mapping to learn
  for (let s = 0; s < 30; s++) {
    const g = new Tape();
    const loss = batchLoss(q.model, g, { inputs, targets, batch: B, seqLen: T }, true);
    g.backward(loss);
    opt.step();
    opt.zeroGrad();
    if (s === 0) first = loss.data[0]!;
    last = loss.data[0]!;
  }
  const adapter = join(dir, "adapter");
  saveAdapter(adapter, lora, { baseModel: base });

  // Merge into the float base, export q8_0.
  const m = loadModel(base);
  loadAdapter(adapter, m.model).mergeAndDetach();
  const merged = join(dir, "merged.q8_0.gguf");
  exportModel(m, merged, { format: "gguf", dtype: "q8_0" });

  // Unmerged adapter on the float base: our reference for the merged file.
  const seq = Array.from(inputs.subarray(0, 12));
  const withAdapter = loadModel(base);
  loadAdapter(adapter, withAdapter.model);
  const V = config.vocabSize;
  const lg = withAdapter.model.forward(new Tape({ grad: false }), Int32Array.from(seq), 1, seq.length).data.subarray((seq.length - 1) * V);
  let mx = -Infinity,
    sum = 0;
  for (const x of lg) mx = Math.max(mx, x);
  for (const x of lg) sum += Math.exp(x - mx);
  const unmerged = Array.from(lg, (x) => x - mx - Math.log(sum));

  const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: "error" });
  const model = await llama.loadModel({ modelPath: merged });
  const ctx = await model.createContext({ contextSize: 64, threads: 2 });
  const input = seq.map((t, i) =>
    i === seq.length - 1 ? [t, { generateNext: { probabilities: true, token: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] : t,
  );
  const out = await ctx.getSequence().controlledEvaluate(input);
  const probs: Map<number, number> = out[seq.length - 1]?.next?.probabilities ?? new Map();
  const theirs: (number | null)[] = new Array(V).fill(null);
  for (const [t, p] of probs) theirs[t] = Math.log(p);
  const ours = ourLastLogprobs(merged, seq);
  const vsOurs = compareLogprobs(ours, theirs),
    vsUnmerged = compareLogprobs(Float64Array.from(unmerged), theirs);
  const base0 = compareLogprobs(ourLastLogprobs(f32, seq), theirs);
  console.log(
    JSON.stringify({
      trainLoss: { first, last },
      loadedByLlamaCpp: true,
      probabilitiesReturned: probs.size,
      llamaCppVsOursSameFile: vsOurs.maxAbsDiff,
      sameArgmax: vsOurs.sameArgmax,
      llamaCppVsUnmergedAdapterF32: vsUnmerged.maxAbsDiff,
      sameArgmaxAsUnmerged: vsUnmerged.sameArgmax,
      llamaCppVsBaseWithoutAdapter: base0.maxAbsDiff,
      note: "log-probabilities at the last of 12 tokens; max |Δ log p| over the vocabulary",
    }),
  );
  await ctx.dispose();
  await model.dispose();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
