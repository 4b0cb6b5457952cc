// Continuous batching, measured: the same N generation requests through the
// engine (src/infer/engine.ts) all at once (they share decode steps, up to
// --concurrency at a time) and one at a time (the baseline), in one run,
// alternating over --rounds, on a preset with random weights. Prints the
// aggregate generated tokens/s of both (median over rounds) and their ratio.
//
//   node --import tsx bench/engine.ts [--preset micro] [--requests 16] [--concurrency 8]
//        [--prompt-tokens 32] [--tokens 64] [--temperature 0.8] [--rounds 3] [--threads N] [--json]
//
// Tokens/s count generated tokens only (prefill time is included in the wall time).
// Also per CPU second of the process: on a shared, busy machine the wall-clock rates
// swing with other load, and the CPU-time ratio is the steadier comparison.
import { parseArgs } from "node:util";

import { Engine, type EngineRequest } from "../src/infer/engine.ts";
import { createModel, presetConfig } from "../src/models/index.ts";
import { backend } from "../src/native/load.ts";
import { Rng } from "../src/util/rng.ts";

const { values: v } = parseArgs({
  options: {
    preset: { type: "string" },
    requests: { type: "string" },
    concurrency: { type: "string" },
    "prompt-tokens": { type: "string" },
    tokens: { type: "string" },
    temperature: { type: "string" },
    rounds: { type: "string" },
    threads: { type: "string" },
    vocab: { type: "string" },
    json: { type: "boolean" },
  },
});
const preset = v.preset ?? "micro";
const N = Number(v.requests ?? 16);
const concurrency = Number(v.concurrency ?? 8);
const promptTokens = Number(v["prompt-tokens"] ?? 32);
const tokens = Number(v.tokens ?? 64);
const temperature = Number(v.temperature ?? 0.8);
const rounds = Number(v.rounds ?? 3);
const vocab = Number(v.vocab ?? 8192);
if (v.threads !== undefined) backend().setThreads(Number(v.threads));

const model = createModel(presetConfig(preset, vocab), 1);
const engine = new Engine(model, { maxConcurrency: concurrency, maxQueue: N });
const rng = new Rng(3);
const requests: EngineRequest[] = Array.from({ length: N }, (_, i) => ({
  prompt: Array.from({ length: promptTokens }, () => Math.floor(rng.uniform() * vocab)),
  maxTokens: tokens,
  sampling: { temperature },
  seed: i,
}));

/** Generated tokens per wall second, and per CPU second of this process (steadier on a shared machine). */
async function timed(run: () => Promise<{ completionTokens: number }[]>): Promise<{ tokensPerSecond: number; tokensPerCpuSecond: number }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const res = await run();
  const cpu = process.cpuUsage(c0);
  const seconds = (performance.now() - t0) / 1000;
  const generated = res.reduce((n, r) => n + r.completionTokens, 0);
  return { tokensPerSecond: generated / seconds, tokensPerCpuSecond: generated / ((cpu.user + cpu.system) / 1e6) };
}
const together = () => timed(() => Promise.all(requests.map((r) => engine.submit(r))));
const oneByOne = () =>
  timed(async () => {
    const out = [];
    for (const r of requests) out.push(await engine.submit(r));
    return out;
  });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

await engine.submit({ ...requests[0]!, maxTokens: 4 }); // warm-up
const seq: number[] = [],
  con: number[] = [],
  seqCpu: number[] = [],
  conCpu: number[] = [];
for (let r = 0; r < rounds; r++) {
  const a = await oneByOne();
  const b = await together();
  seq.push(a.tokensPerSecond), seqCpu.push(a.tokensPerCpuSecond);
  con.push(b.tokensPerSecond), conCpu.push(b.tokensPerCpuSecond);
}
const s = engine.stats();
const row = {
  preset,
  requests: N,
  concurrency,
  promptTokens,
  tokens,
  temperature,
  rounds,
  oneAtATimeTokensPerSecond: +median(seq).toFixed(1),
  concurrentTokensPerSecond: +median(con).toFixed(1),
  ratio: +(median(con) / median(seq)).toFixed(2),
  oneAtATimeTokensPerCpuSecond: +median(seqCpu).toFixed(1),
  concurrentTokensPerCpuSecond: +median(conCpu).toFixed(1),
  cpuRatio: +(median(conCpu) / median(seqCpu)).toFixed(2),
  avgDecodeBatch: +(s.decodeTokens / s.decodeSteps).toFixed(2),
  kvCacheMiB: +(engine.cacheBytes / 2 ** 20).toFixed(1),
};
if (v.json) console.log(JSON.stringify(row));
else {
  console.log(
    `engine, ${preset} (random weights, vocab ${vocab}), ${N} requests of ${promptTokens} prompt + ${tokens} generated tokens, temperature ${temperature}, ${concurrency} slots (KV cache ${row.kvCacheMiB} MiB)`,
  );
  console.log(
    `  one at a time: ${row.oneAtATimeTokensPerSecond} tokens/s   all at once: ${row.concurrentTokensPerSecond} tokens/s   ratio ${row.ratio}x   (median of ${rounds} rounds)`,
  );
  console.log(`  per CPU second: ${row.oneAtATimeTokensPerCpuSecond} vs ${row.concurrentTokensPerCpuSecond} tokens   ratio ${row.cpuRatio}x`);
  console.log(JSON.stringify(row));
}
