// Decode-step benchmark on a real GGUF file: the model's own forwardCached, one token at a
// time (batch 1) over a KV cache, in one process, alternating round by round between
// configurations of the native decode path, so that every configuration sees the same load:
//   plan    every layer in one native call (src/models/decode-step.ts), idle prefetch on: the default
//   fused   the layers' kernels called one by one from JavaScript, q/k/v and gate/up each in one
//           native call (qgemmMulti), idle prefetch on
//   noidle  the same with the idle prefetch off (qgemmIdlePrefetch(0))
//   split   every matrix its own call (qgemmMulti replaced by one qgemm per weight) and no idle
//           prefetch: the decode path as it was before either
// Per configuration: wall ms per token (median over rounds), process CPU ms per token (with 2
// threads it includes the pool worker's spinning), and its speed over `split` as the median of
// the per-round ratios. All three compute the same logits bit for bit (qgemm.test.ts), so only
// time differs. The order within a round alternates.
//
//   node --import tsx bench/decode-step.ts --model FILE.gguf [--threads 2] [--rounds 15]
//       [--tokens 4] [--modes plan,fused,noidle,split] [--json]
import { parseArgs } from "node:util";

import { loadModel } from "../src/formats/hf-dir.ts";
import { useDecodePlans } from "../src/models/decode-step.ts";
import { KvCache } from "../src/models/index.ts";
import { median } from "../src/native/bench/run.ts";
import { backend, nativeLoadError } from "../src/native/load.ts";
import { Tape } from "../src/tensor/index.ts";

const MODES = ["plan", "fused", "noidle", "split"] as const;
type Mode = (typeof MODES)[number];

function main(): number {
  const { values } = parseArgs({
    options: {
      model: { type: "string" },
      threads: { type: "string" },
      rounds: { type: "string" },
      tokens: { type: "string" },
      modes: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.help || !values.model) {
    process.stdout.write(
      "usage: node --import tsx bench/decode-step.ts --model FILE.gguf [--threads 2] [--rounds 15] [--tokens 4] [--modes plan,fused,noidle,split] [--json]\n",
    );
    return values.help ? 0 : 2;
  }
  const b = backend();
  if (b.name !== "native" || !b.qgemmIdlePrefetch) {
    process.stderr.write(`native addon unavailable (${nativeLoadError()}); run \`npm run build:native\` first\n`);
    return 1;
  }
  const threads = Number(values.threads ?? 2),
    rounds = Number(values.rounds ?? 15),
    perRound = Number(values.tokens ?? 4);
  const modes = (values.modes ?? MODES.join(",")).split(",") as Mode[];
  if (![threads, rounds, perRound].every((n) => Number.isInteger(n) && n >= 1) || modes.some((m) => !MODES.includes(m))) {
    process.stderr.write(`--threads, --rounds, --tokens: positive integers; --modes: some of ${MODES.join(",")}\n`);
    return 2;
  }
  b.setThreads(threads);
  const loaded = loadModel(values.model, { keepQuantized: true });
  const model = loaded.model;
  const cache = new KvCache(loaded.config, 1, Math.min(loaded.config.maxSeqLen, 2048));
  const multi = b.qgemmMulti;
  const split: typeof multi = (ys, x, m, ids, datas, rows, cols) => {
    for (let k = 0; k < ys.length; k++) b.qgemm(ys[k]!, x, m, ids[k]!, datas[k]!, rows[k]!, cols);
  };
  const idleBefore = b.qgemmIdlePrefetch(-1);
  const use = (mode: Mode) => {
    b.qgemmMulti = mode === "split" ? split : multi;
    b.qgemmIdlePrefetch!(mode === "fused" || mode === "plan" ? 1 : 0);
    useDecodePlans(mode === "plan");
  };
  // Positions cycle below the cache length (a shorter history than a real run's: attention is a
  // small part of a step at these lengths either way).
  let pos = 0;
  const step = () => {
    const p = pos++ % Math.min(cache.maxSeqLen, 512);
    model.forwardCached(new Tape({ grad: false }), Int32Array.of(1 + (p % 97)), 1, 1, cache, Int32Array.of(p), { logits: "last" });
  };
  const wall = new Map<Mode, number[]>(modes.map((m) => [m, []]));
  const cpu = new Map<Mode, number[]>(modes.map((m) => [m, []]));
  try {
    for (const m of modes) {
      use(m);
      for (let i = 0; i < 3; i++) step();
    } // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const m of r % 2 ? [...modes].reverse() : modes) {
        use(m);
        step(); // the first step after a switch runs with the other configuration's hints
        const c0 = process.cpuUsage(),
          t0 = performance.now();
        for (let i = 0; i < perRound; i++) step();
        const c = process.cpuUsage(c0);
        wall.get(m)!.push((performance.now() - t0) / perRound);
        cpu.get(m)!.push((c.user + c.system) / 1e3 / perRound);
      }
    }
  } finally {
    b.qgemmMulti = multi;
    b.qgemmIdlePrefetch(idleBefore ? 1 : 0);
    useDecodePlans(true);
  }
  const baseline = modes.includes("split") ? "split" : modes[modes.length - 1]!;
  const rows = modes.map((m) => ({
    bench: "decode-step",
    model: values.model,
    mode: m,
    threads,
    rounds,
    tokens_per_round: perRound,
    ms_per_token: median(wall.get(m)!),
    cpu_ms_per_token: median(cpu.get(m)!),
    speedup_vs_baseline: median(wall.get(m)!.map((w, i) => wall.get(baseline)![i]! / w)),
    baseline,
  }));
  if (values.json) {
    for (const row of rows) process.stdout.write(`${JSON.stringify(row)}\n`);
  } else {
    process.stdout.write(`decode step, ${values.model}, ${threads} threads, ${rounds} rounds of ${perRound} tokens\n`);
    for (const row of rows) {
      process.stdout.write(
        `${row.mode.padEnd(7)} ${row.ms_per_token.toFixed(2).padStart(8)} ms/token  cpu ${row.cpu_ms_per_token.toFixed(2).padStart(7)} ms  ×${row.speedup_vs_baseline.toFixed(3)} vs ${baseline}\n`,
      );
    }
  }
  return 0;
}

process.exitCode = main();
