// The inference worker thread: loads the model directory, runs a LocalBackend
// (model + tokenizer + batching engine) and answers worker-backend.ts's
// messages, so the long native calls never block the HTTP server's event loop.
// The message protocol is in worker-protocol.ts. Loaded by inference-worker-entry.mjs (which registers tsx). Knows nothing
// about HTTP.
import { parentPort, workerData } from "node:worker_threads";

import type { EmbeddingResult, GenerationResult } from "./backend.ts";
import { createLocalBackend, type LocalBackend } from "./local-backend.ts";
import { toWire, type FromWorker, type ToWorker, type WorkerInit } from "./worker-protocol.ts";

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const post = (m: FromWorker) => port.postMessage(m);
  const init = workerData as WorkerInit;
  let backend: LocalBackend;
  try {
    backend = await createLocalBackend(init.modelDir, init.opts);
  } catch (e) {
    post({ type: "init-error", error: toWire(e) });
    port.close();
    return;
  }
  // Publish queue/slot counts whenever they change (the main thread's stats() reads the latest).
  backend.onStatsChange = (stats) => post({ type: "stats", stats });
  const aborts = new Map<number, AbortController>();
  const run = async (id: number, work: (signal: AbortSignal) => Promise<GenerationResult | EmbeddingResult | number>, aborted = false) => {
    const ac = new AbortController();
    if (aborted) ac.abort();
    aborts.set(id, ac);
    try {
      post({ type: "result", id, value: await work(ac.signal) });
    } catch (e) {
      post({ type: "error", id, error: toWire(e) });
    } finally {
      aborts.delete(id);
    }
  };
  port.on("message", (m: ToWorker) => {
    switch (m.type) {
      case "generate":
        void run(
          m.id,
          (signal) =>
            backend.generate({ ...m.req, signal, onText: m.stream ? (delta, logprobs) => post({ type: "text", id: m.id, delta, logprobs }) : undefined }),
          m.aborted,
        );
        break;
      case "embed":
        void run(m.id, (signal) => backend.embed(m.inputs, signal), m.aborted);
        break;
      case "count":
        void run(m.id, () => backend.countTokens(m.input));
        break;
      case "abort":
        aborts.get(m.id)?.abort();
        break;
      case "close":
        void backend.close(m.graceMs).then(() => {
          post({ type: "closed" });
          port.close();
        });
        break;
    }
  });
  post({ type: "ready", card: backend.card, stats: backend.stats() });
}

await main();
