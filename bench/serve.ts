// Load benchmark of `slm serve` (loopback only, bounded in time and requests):
// spawns the server in a child process on a `micro` model with random weights
// (or --model DIR), then per run drives it with 1 client for --seconds, then
// with --clients concurrent clients for --seconds, each client sending
// non-streaming chat completions back to back. Prints generated tokens/s of
// both phases and their ratio (target >= 3x), the count of 5xx and other
// failures (target 0), and the server's RSS after each run (memory growth
// across repeated runs should be ~0).
//   node --import tsx bench/serve.ts [--model DIR] [--clients 32] [--seconds 30] [--runs 2]
//        [--max-tokens 32] [--max-requests 20000] [--threads N] [--max-concurrency N] [--json]
// --max-concurrency is passed to the server (sequences decoding together); by
// default the server's own default (8), i.e. what `slm serve` users get; the
// other clients wait in its queue (sized to hold them all).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { saveModelDir } from "../src/formats/hf-dir.ts";
import { createModel, presetConfig } from "../src/models/index.ts";
import { trainBpe } from "../src/tokenizer/index.ts";

const TARGET_RATIO = 3;
const here = dirname(fileURLToPath(import.meta.url));

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    clients: { type: "string", default: "32" },
    "max-concurrency": { type: "string" },
    seconds: { type: "string", default: "30" },
    runs: { type: "string", default: "2" },
    "max-tokens": { type: "string", default: "32" },
    "max-requests": { type: "string", default: "20000" },
    threads: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const clients = Number(values.clients);
const seconds = Number(values.seconds);
const runs = Number(values.runs);
const maxTokens = Number(values["max-tokens"]);
const maxRequests = Number(values["max-requests"]);

const PROMPTS = [
  "Tell me about the cat.",
  "What is a handbook?",
  "Write one line about the sea.",
  "Hello! How are you today?",
  "List three colours.",
  "Why is the sky blue?",
];

async function makeMicroModel(dir: string): Promise<string> {
  const text = `${PROMPTS.join(" ")} the cat sat on the mat. a dog ran in the park. the sea is wide and blue.`;
  const texts = function* () {
    for (let i = 0; i < 50; i++) yield text;
  };
  const tok = await trainBpe(texts(), { vocabSize: 512 });
  const model = createModel(presetConfig("micro", tok.vocabSize), 1);
  const out = join(dir, "micro");
  saveModelDir(out, model, { tokenizer: tok });
  return out;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function startServer(modelDir: string): Promise<{ child: ChildProcess; url: string; modelId: string }> {
  const args = [
    join(here, "..", "bin", "slm.js"),
    "serve",
    "--model",
    modelDir,
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--quiet",
    "--max-queue",
    String(clients * 2),
  ];
  if (values["max-concurrency"]) args.push("--max-concurrency", values["max-concurrency"]);
  if (values.threads) args.push("--threads", values.threads);
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const rl = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`slm serve exited with ${code} before listening`)));
    rl.on("line", (line) => {
      const m = /^slm serve: (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (m) resolve(m[1]!);
    });
  });
  const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string }> };
  return { child, url, modelId: models.data[0]!.id };
}

interface Phase {
  clients: number;
  seconds: number;
  requests: number;
  tokens: number;
  tokensPerSecond: number;
  status5xx: number;
  status4xx: number;
  failures: number;
  p50ms: number;
  p95ms: number;
}

async function phase(url: string, modelId: string, n: number, budgetRequests: number): Promise<Phase> {
  const deadline = performance.now() + seconds * 1000;
  let requests = 0;
  let tokens = 0;
  let s5 = 0;
  let s4 = 0;
  let failures = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  const client = async (c: number) => {
    let i = 0;
    while (performance.now() < deadline && requests < budgetRequests) {
      requests++;
      const body = {
        model: modelId,
        messages: [{ role: "user", content: PROMPTS[(c + i++) % PROMPTS.length] }],
        max_tokens: maxTokens,
        temperature: 1,
        seed: c * 100_000 + i,
      };
      const t = performance.now();
      try {
        const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
        const j = (await res.json()) as { usage?: { completion_tokens: number } };
        if (res.status >= 500) s5++;
        else if (res.status >= 400) s4++;
        else tokens += j.usage?.completion_tokens ?? 0;
        latencies.push(performance.now() - t);
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: n }, (_, c) => client(c)));
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!) : NaN);
  return {
    clients: n,
    seconds: +elapsed.toFixed(2),
    requests,
    tokens,
    tokensPerSecond: +(tokens / elapsed).toFixed(1),
    status5xx: s5,
    status4xx: s4,
    failures,
    p50ms: q(0.5),
    p95ms: q(0.95),
  };
}

const tmp = mkdtempSync(join(tmpdir(), "slm-bench-serve-"));
let server: Awaited<ReturnType<typeof startServer>> | undefined;
try {
  const modelDir = values.model ?? (await makeMicroModel(tmp));
  server = await startServer(modelDir);
  const pid = server.child.pid!;
  const rssStart = rssMb(pid);
  const results: Array<{ run: number; single: Phase; concurrent: Phase; ratio: number; rssMb: number }> = [];
  for (let run = 1; run <= runs; run++) {
    const single = await phase(server.url, server.modelId, 1, maxRequests);
    const concurrent = await phase(server.url, server.modelId, clients, maxRequests);
    const ratio = +(concurrent.tokensPerSecond / single.tokensPerSecond).toFixed(2);
    const rss = +rssMb(pid).toFixed(1);
    results.push({ run, single, concurrent, ratio, rssMb: rss });
    if (!values.json) {
      console.log(
        `run ${run}: 1 client ${single.tokensPerSecond} tok/s (${single.requests} req, p50 ${single.p50ms} ms) | ${clients} clients ${concurrent.tokensPerSecond} tok/s (${concurrent.requests} req, p50 ${concurrent.p50ms} ms, p95 ${concurrent.p95ms} ms) | ratio ${ratio}x (target >= ${TARGET_RATIO}x) | 5xx ${single.status5xx + concurrent.status5xx}, 4xx ${single.status4xx + concurrent.status4xx}, failed ${single.failures + concurrent.failures} | server RSS ${rss} MB`,
      );
    }
  }
  const health = await fetch(`${server.url}/health`);
  const summary = {
    model: values.model ?? "micro (random weights)",
    clients,
    seconds,
    maxTokens,
    loadavg: loadavg().map((x) => +x.toFixed(2)),
    rssStartMb: +rssStart.toFixed(1),
    rssAfterRunsMb: results.map((r) => r.rssMb),
    rssGrowthFirstToLastMb: +(results.at(-1)!.rssMb - results[0]!.rssMb).toFixed(1),
    total5xx: results.reduce((a, r) => a + r.single.status5xx + r.concurrent.status5xx, 0),
    healthyAfter: health.status === 200,
    ratios: results.map((r) => r.ratio),
    targetRatio: TARGET_RATIO,
    runs: results,
  };
  if (values.json) console.log(JSON.stringify(summary));
  else
    console.log(
      `summary: ratios ${summary.ratios.join(", ")} (target >= ${TARGET_RATIO}); 5xx ${summary.total5xx}; RSS ${summary.rssStartMb} MB at start, ${summary.rssAfterRunsMb.join(" → ")} MB after each run (growth ${summary.rssGrowthFirstToLastMb} MB); healthy after: ${summary.healthyAfter}; load average ${summary.loadavg.join(" ")}`,
    );
} finally {
  if (server) {
    const exited = new Promise((r) => server!.child.once("exit", r));
    server.child.kill("SIGTERM");
    await exited;
  }
  rmSync(tmp, { recursive: true, force: true });
}
