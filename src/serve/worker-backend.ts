// The inference backends the server uses. createWorkerBackend runs the model,
// tokenizer and batching engine in a worker thread (inference-worker.ts), so
// the HTTP event loop never waits on a forward pass; this side only passes
// messages (worker-protocol.ts): requests out, streamed text, results, errors
// and queue/slot counts back. A worker that crashes or exits rejects every
// pending request with a clear error and leaves the main thread running.
// createLocalBackend (local-backend.ts, re-exported here) runs the same
// backend on the calling thread. Knows nothing about HTTP.
import { Worker } from "node:worker_threads";

import { OverloadedError, UsageError } from "../errors.ts";
import type {
  BackendOptions,
  BackendStats,
  EmbeddingResult,
  GenerationInput,
  GenerationRequest,
  GenerationResult,
  InferenceBackend,
  ModelCard,
  TextLogprob,
} from "./backend.ts";
import { DEFAULT_CLOSE_GRACE_MS } from "./local-backend.ts";
import { fromWire, type FromWorker, type ToWorker, type WorkerInit } from "./worker-protocol.ts";

export { createLocalBackend, DEFAULT_CLOSE_GRACE_MS } from "./local-backend.ts";

/** Extra time the worker gets to answer close() before it is terminated. */
const CLOSE_MARGIN_MS = 5_000;

interface Pending {
  resolve: (v: never) => void;
  reject: (e: unknown) => void;
  onText?: (delta: string, logprobs?: TextLogprob[]) => void;
  /** An error thrown by onText: the request is aborted and rejects with it. */
  error?: unknown;
  cleanup: () => void;
}

export class WorkerBackend implements InferenceBackend {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private latest: BackendStats;
  private dead: Error | null = null;
  private closing: Promise<void> | null = null;
  private onClosed: (() => void) | null = null;

  /** Use createWorkerBackend. `worker` is exposed for tests and diagnostics (threadId, resourceLimits). */
  constructor(
    readonly worker: Worker,
    readonly card: ModelCard,
    stats: BackendStats,
  ) {
    this.latest = stats;
    worker.on("message", (m: FromWorker) => this.onMessage(m));
    worker.on("error", (e) => this.fail(new Error(`the inference worker crashed: ${e?.message ?? String(e)}`, { cause: e })));
    worker.on("exit", (code) => {
      if (this.onClosed) this.onClosed();
      else this.fail(new Error(`the inference worker exited unexpectedly (exit code ${code})`));
    });
  }

  stats(): BackendStats {
    return { ...this.latest };
  }

  generate(req: GenerationRequest): Promise<GenerationResult> {
    const { input, maxTokens, stop, sampling, responseFormat, logprobs, promptLogprobs } = req;
    return this.call<GenerationResult>(
      (id) => ({
        type: "generate",
        id,
        req: { input, maxTokens, stop, sampling: sampling ?? {}, responseFormat, logprobs, promptLogprobs },
        stream: req.onText !== undefined,
      }),
      req.signal,
      req.onText,
    );
  }

  embed(inputs: string[], signal?: AbortSignal): Promise<EmbeddingResult> {
    return this.call<EmbeddingResult>((id) => ({ type: "embed", id, inputs }), signal);
  }

  countTokens(input: GenerationInput): Promise<number> {
    return this.call<number>((id) => ({ type: "count", id, input }));
  }

  close(graceMs = DEFAULT_CLOSE_GRACE_MS): Promise<void> {
    if (this.closing) return this.closing;
    if (this.dead) return (this.closing = Promise.resolve());
    this.closing = new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate(), Math.max(0, graceMs) + CLOSE_MARGIN_MS);
      this.onClosed = () => {
        clearTimeout(timer);
        this.rejectAll(new Error("the inference backend is closed"));
        this.dead ??= new OverloadedError("the inference backend is closed", 1);
        this.latest = { ...this.latest, queued: 0, active: 0 };
        resolve();
      };
      this.post({ type: "close", graceMs: Number.isFinite(graceMs) ? graceMs : undefined });
    });
    return this.closing;
  }

  private call<T>(make: (id: number) => ToWorker, signal?: AbortSignal, onText?: (delta: string, logprobs?: TextLogprob[]) => void): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    if (this.closing) return Promise.reject(new OverloadedError("the inference backend is shutting down", 1));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => this.post({ type: "abort", id });
      const p: Pending = { resolve: resolve as (v: never) => void, reject, onText, cleanup: () => signal?.removeEventListener("abort", onAbort) };
      this.pending.set(id, p);
      try {
        const m = make(id);
        this.worker.postMessage(signal?.aborted && (m.type === "generate" || m.type === "embed") ? { ...m, aborted: true } : m);
      } catch (e) {
        // Not structured-cloneable (a function, a symbol…): the request itself is wrong.
        this.pending.delete(id);
        reject(new UsageError(`the request cannot be sent to the inference worker: ${(e as Error).message}`));
        return;
      }
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private post(m: ToWorker): void {
    if (this.dead) return;
    try {
      this.worker.postMessage(m);
    } catch {
      // The worker is gone; its exit handler rejects what is pending.
    }
  }

  private onMessage(m: FromWorker): void {
    switch (m.type) {
      case "text": {
        const p = this.pending.get(m.id);
        if (!p?.onText || p.error !== undefined) return;
        try {
          p.onText(m.delta, m.logprobs);
        } catch (e) {
          p.error = e;
          this.post({ type: "abort", id: m.id });
        }
        return;
      }
      case "result":
      case "error": {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        p.cleanup();
        if (p.error !== undefined) p.reject(p.error);
        else if (m.type === "result") p.resolve(m.value as never);
        else p.reject(fromWire(m.error));
        return;
      }
      case "stats":
        this.latest = m.stats;
        return;
      case "closed":
        void this.worker.terminate();
        return;
      default:
        return;
    }
  }

  private rejectAll(e: Error): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.cleanup();
      p.reject(e);
    }
  }

  private fail(e: Error): void {
    if (this.dead) return;
    this.dead = e;
    this.latest = { ...this.latest, queued: 0, active: 0 };
    this.rejectAll(e);
    void this.worker.terminate();
  }
}

/**
 * Loads the model directory in a new worker thread and resolves once it is ready to serve
 * (rejects with the load error, e.g. FormatError or ConfigError, otherwise). close() stops the worker.
 */
export async function createWorkerBackend(modelDir: string, opts: BackendOptions = {}): Promise<InferenceBackend> {
  if (typeof modelDir !== "string" || modelDir.length === 0) throw new UsageError("createWorkerBackend: modelDir must be a path");
  const init: WorkerInit = { modelDir, opts };
  const worker = new Worker(new URL("./inference-worker-entry.mjs", import.meta.url), { workerData: init });
  return new Promise<InferenceBackend>((resolve, reject) => {
    const onMessage = (m: FromWorker) => {
      if (m.type !== "ready" && m.type !== "init-error") return;
      settle();
      if (m.type === "ready") resolve(new WorkerBackend(worker, m.card, m.stats));
      else {
        void worker.terminate();
        reject(fromWire(m.error));
      }
    };
    const onError = (e: Error) => {
      settle();
      void worker.terminate();
      reject(new Error(`the inference worker failed to start: ${e?.message ?? String(e)}`, { cause: e }));
    };
    const onExit = (code: number) => {
      settle();
      reject(new Error(`the inference worker exited while starting (exit code ${code})`));
    };
    const settle = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
  });
}
