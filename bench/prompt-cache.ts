// The engine's prompt cache (src/infer/prompt-cache.ts), measured on a preset
// with random weights (default `mini`, its context raised to fit the prefix).
//
// 1. Time to first token: a request of a shared --prefix (1,000 tokens) + a
//    short suffix, then a second request of the same prefix + another suffix,
//    on an engine with the cache; the baseline is that second request on an
//    engine without it, in the same run. A fresh random prefix each round;
//    medians over --rounds. Target: first / second >= 5x.
// 2. Memory: --requests (500) requests with random prefixes (half start with
//    one of a few shared heads, half share nothing) under a small bound
//    (--bound-mb): the cache's bytes after every request, its peak against
//    the bound, and the process RSS.
//
//   node --import tsx bench/prompt-cache.ts [--preset mini] [--prefix 1000] [--suffix 16] [--rounds 5]
//        [--requests 500] [--bound-mb 4] [--kv-dtype f32] [--vocab 8192] [--threads N] [--json]
import { parseArgs } from "node:util";

import { Engine } from "../src/infer/engine.ts";
import { createModel, parseKvDtype, presetConfig } from "../src/models/index.ts";
import { backend } from "../src/native/load.ts";
import { Rng } from "../src/util/rng.ts";

const { values: v } = parseArgs({
  options: {
    preset: { type: "string" },
    prefix: { type: "string" },
    suffix: { type: "string" },
    rounds: { type: "string" },
    requests: { type: "string" },
    "bound-mb": { type: "string" },
    "kv-dtype": { type: "string" },
    vocab: { type: "string" },
    threads: { type: "string" },
    json: { type: "boolean" },
  },
});
const preset = v.preset ?? "mini";
const prefixLen = Number(v.prefix ?? 1000);
const suffixLen = Number(v.suffix ?? 16);
const rounds = Number(v.rounds ?? 5);
const nRequests = Number(v.requests ?? 500);
const boundBytes = Math.floor(Number(v["bound-mb"] ?? 4) * 2 ** 20);
const kvDtype = parseKvDtype(v["kv-dtype"] ?? "f32");
const vocab = Number(v.vocab ?? 8192);
if (v.threads !== undefined) backend().setThreads(Number(v.threads));

const context = Math.max(presetConfig(preset, vocab).maxSeqLen, prefixLen + 2 * suffixLen + 8);
const model = createModel(presetConfig(preset, vocab, { maxSeqLen: context }), 1);
const rng = new Rng(7);
const randomIds = (n: number) => Array.from({ length: n }, () => Math.floor(rng.uniform() * vocab));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const mib = (b: number) => +(b / 2 ** 20).toFixed(2);

/** Milliseconds from submit to the first generated token. */
async function ttft(engine: Engine, prompt: number[]): Promise<{ ms: number; cached: number }> {
  const t0 = performance.now();
  let first = 0;
  const r = await engine.submit({ prompt, maxTokens: 2, sampling: { temperature: 0 }, onToken: () => void (first ||= performance.now()) });
  return { ms: first - t0, cached: r.cachedTokens ?? 0 };
}

// ---- 1. time to first token ----
const cached = new Engine(model, { maxConcurrency: 2, contextLength: context, kvDtype, promptCacheBytes: 256 * 2 ** 20 });
const plain = new Engine(model, { maxConcurrency: 2, contextLength: context, kvDtype });
// Warm-up: the arenas grow to the largest prefill once.
const warm = randomIds(prefixLen + suffixLen);
await ttft(cached, warm);
await ttft(plain, warm);
const first: number[] = [],
  second: number[] = [],
  baseline: number[] = [];
let cachedTokens = 0;
for (let r = 0; r < rounds; r++) {
  const prefix = randomIds(prefixLen);
  const a = await ttft(cached, [...prefix, ...randomIds(suffixLen)]);
  const suffixB = randomIds(suffixLen);
  const b = await ttft(cached, [...prefix, ...suffixB]);
  const c = await ttft(plain, [...prefix, ...suffixB]);
  first.push(a.ms), second.push(b.ms), baseline.push(c.ms);
  cachedTokens = b.cached;
}
const ttftRow = {
  preset,
  context,
  kvDtype,
  prefix: prefixLen,
  suffix: suffixLen,
  rounds,
  firstMs: +median(first).toFixed(1),
  secondMs: +median(second).toFixed(1),
  secondWithoutCacheMs: +median(baseline).toFixed(1),
  ratio: +(median(first) / median(second)).toFixed(1),
  ratioVsBaseline: +(median(baseline) / median(second)).toFixed(1),
  cachedTokens,
};

// ---- 2. memory over many requests ----
const engine = new Engine(model, { maxConcurrency: 4, maxQueue: nRequests, contextLength: context, kvDtype, promptCacheBytes: boundBytes });
const heads = Array.from({ length: 4 }, () => randomIds(32 + Math.floor(rng.uniform() * 64)));
const rss0 = process.memoryUsage().rss;
let peakRss = rss0,
  peakHeld = 0,
  overBound = 0;
const rssEvery100: number[] = []; // RSS (MiB) after each 100 requests: flat once the arenas have grown
const t0 = performance.now();
for (let done = 0; done < nRequests; ) {
  const batch = Math.min(8, nRequests - done);
  await Promise.all(
    Array.from({ length: batch }, () => {
      const head = rng.uniform() < 0.5 ? heads[Math.floor(rng.uniform() * heads.length)]! : randomIds(8 + Math.floor(rng.uniform() * 88));
      return engine.submit({
        prompt: [...head, ...randomIds(1 + Math.floor(rng.uniform() * 16))],
        maxTokens: 1 + Math.floor(rng.uniform() * 4),
        sampling: { temperature: 0 },
      });
    }),
  );
  done += batch;
  const held = engine.stats().promptCache!.bytes;
  peakHeld = Math.max(peakHeld, held);
  if (held > boundBytes) overBound++;
  const rss = process.memoryUsage().rss;
  peakRss = Math.max(peakRss, rss);
  if (Math.floor(done / 100) > Math.floor((done - batch) / 100)) rssEvery100.push(mib(rss));
}
const pc = engine.stats().promptCache!;
const memRow = {
  requests: nRequests,
  seconds: +((performance.now() - t0) / 1000).toFixed(1),
  boundMiB: mib(boundBytes),
  peakMiB: mib(pc.peakBytes),
  heldMiB: mib(pc.bytes),
  overBound,
  entries: pc.entries,
  hits: pc.hits,
  lookups: pc.lookups,
  cachedTokens: pc.cachedTokens,
  evictions: pc.evictions,
  kvBytesPerToken: engine.cacheBytes / (4 * context),
  rssStartMiB: mib(rss0),
  rssPeakMiB: mib(peakRss),
  rssEndMiB: mib(process.memoryUsage().rss),
  rssEvery100,
  engineKvCacheMiB: mib(engine.cacheBytes),
};

if (v.json) console.log(JSON.stringify({ ttft: ttftRow, memory: memRow }));
else {
  console.log(`prompt cache, ${preset} (random weights, vocab ${vocab}, context ${context}, ${kvDtype} KV), ${backend().getThreads()} threads`);
  console.log(`1. time to first token, ${prefixLen}-token shared prefix + ${suffixLen}-token suffix (median of ${rounds} rounds)`);
  console.log(`   request                      TTFT ms`);
  console.log(`   first (prefills all)         ${ttftRow.firstMs}`);
  console.log(`   second, with the cache       ${ttftRow.secondMs}   (${cachedTokens} tokens cached)`);
  console.log(`   second, without the cache    ${ttftRow.secondWithoutCacheMs}`);
  console.log(`   ratio first / second: ${ttftRow.ratio}x (target >= 5x); without-cache / with-cache: ${ttftRow.ratioVsBaseline}x`);
  console.log(`2. ${nRequests} requests with random prefixes, bound ${memRow.boundMiB} MiB (${memRow.kvBytesPerToken} KV bytes per token)`);
  console.log(
    `   cache peak ${memRow.peakMiB} MiB vs bound ${memRow.boundMiB} MiB (over the bound after ${overBound} batches); held at the end ${memRow.heldMiB} MiB in ${memRow.entries} entries`,
  );
  console.log(`   hits ${memRow.hits} of ${memRow.lookups} lookups, ${memRow.cachedTokens} tokens reused, ${memRow.evictions} evictions, ${memRow.seconds} s`);
  console.log(
    `   process RSS: ${memRow.rssStartMiB} MiB before, peak ${memRow.rssPeakMiB}, end ${memRow.rssEndMiB}; after each 100 requests ${rssEvery100.join(", ")} (engine KV cache ${memRow.engineKvCacheMiB} MiB)`,
  );
  console.log(JSON.stringify({ ttft: ttftRow, memory: memRow }));
}
