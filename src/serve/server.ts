// Starts the OpenAI-compatible server: loads the model into a worker-thread
// backend, builds the HTTP app over it, listens (127.0.0.1 by default), and
// returns its URL and a graceful close (stop accepting, let running requests
// finish within a grace period, then cancel them, stop the worker). Knows
// nothing about routes (app.ts) or inference (the backend); never prints:
// log lines go to onLog.
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

import { ConfigError, UsageError } from "../errors.ts";
import { buildApp, DEFAULT_REQUEST_TIMEOUT_MS } from "./app.ts";
import type { BackendOptions, InferenceBackend, ModelCard } from "./backend.ts";
import { createWorkerBackend } from "./worker-backend.ts";
import { ServedAssistant, type AnswererChoice } from "../assistant/served.ts";

/** What the server passes on to its backend (documented, with their defaults, on BackendOptions). */
const BACKEND_OPTIONS = [
  "maxConcurrency",
  "maxQueue",
  "threads",
  "modelId",
  "adapter",
  "load",
  "kvDtype",
  "promptCacheBytes",
  "draft",
  "promptLookup",
] as const;

export interface ServerOptions extends Pick<BackendOptions, (typeof BACKEND_OPTIONS)[number]> {
  /** Model directory (config.json, model.safetensors, tokenizer.json…). */
  modelDir: string;
  /** Interface to bind. Default 127.0.0.1 (loopback only). */
  host?: string;
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Bearer key required on /v1/* and /metrics. Default: none. */
  apiKey?: string;
  /** A request running longer than this is cancelled (504). 0 = no limit. Default 120 000. */
  requestTimeoutMs?: number;
  /** Largest request body in bytes. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** Folder of the web UI. Default: src/serve/web beside this file. */
  webRoot?: string;
  /** How long close() lets running requests finish before cancelling them. Default 10 000 ms. */
  graceMs?: number;
  /** A document index (made by `slm index`): the server also serves `<model id>-assistant`. */
  index?: string;
  /** Who writes the assistant's answers: "auto" (default: the model if it was trained to answer, else extractive), "model", "extractive" (no model) or "reader" (needs `reader`). */
  answerer?: AnswererChoice;
  /** A reader directory (`slm train-reader`): the assistant answers with the sentence it picks (answerer "reader"). */
  reader?: string;
  /** The assistant's answer-confidence threshold (confidence.ts; default DEFAULT_MIN_CONFIDENCE). */
  minConfidence?: number;
  /** Receives one line per request and lifecycle events. */
  onLog?: (line: string) => void;
  /** Replaces the worker backend (tests drive the server over a scripted one). */
  createBackend?: (modelDir: string, opts: BackendOptions) => Promise<InferenceBackend>;
}

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8080 (the API is under /v1). */
  url: string;
  card: ModelCard;
  /** The assistant's model id when started with an index. */
  assistantId?: string;
  /** Graceful: stops accepting, finishes or (after graceMs) cancels running requests, stops the worker. Idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 8080;
export const DEFAULT_GRACE_MS = 10_000;
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL("./web/", import.meta.url));

function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return host === "::" ? "[::1]" : "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const host = opts.host ?? DEFAULT_HOST;
  const port = opts.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`port must be an integer in 0..65535, got ${port}`);
  const backendOpts: BackendOptions = Object.fromEntries(BACKEND_OPTIONS.filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]]));
  // The index opens first: a bad path fails before the model is loaded.
  let assistant: ServedAssistant | undefined;
  const assistantOf = (modelId: string, modelWrites?: { ok: boolean; reason: string }) =>
    opts.index === undefined
      ? undefined
      : ServedAssistant.open({
          indexPath: opts.index,
          modelId,
          modelWrites,
          ...(opts.reader !== undefined ? { answerer: "reader" as const, readerDir: opts.reader } : opts.answerer ? { answerer: opts.answerer } : {}),
          ...(opts.minConfidence !== undefined ? { minConfidence: opts.minConfidence } : {}),
        });
  assistantOf("probe")?.close();
  const backend = await (opts.createBackend ?? createWorkerBackend)(opts.modelDir, backendOpts);
  try {
    assistant = assistantOf(backend.card.id, backend.card.writesAnswers);
  } catch (e) {
    await backend.close(0);
    throw e;
  }
  const app = buildApp({
    assistant,
    backend,
    apiKey: opts.apiKey,
    bodyLimitBytes: opts.bodyLimitBytes,
    requestTimeoutMs: opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    webRoot: opts.webRoot ?? DEFAULT_WEB_ROOT,
    logger: opts.onLog,
  });
  try {
    await app.listen({ host, port });
  } catch (e) {
    await Promise.allSettled([app.close(), backend.close(0)]);
    assistant?.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new ConfigError(`port ${port} on ${host} is already in use`, { hint: "pass another --port, or --port 0 for a free one" });
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") throw new ConfigError(`cannot bind to host ${host}: no such local address`);
    if (code === "EACCES") throw new ConfigError(`no permission to listen on port ${port}`, { hint: "ports below 1024 need privileges; use e.g. --port 8080" });
    throw e;
  }
  const addr = app.server.address() as AddressInfo;
  const url = `http://${urlHost(host)}:${addr.port}`;
  opts.onLog?.(
    `serving ${backend.card.id} at ${url}${assistant ? ` (and ${assistant.id}: ${assistant.index.size} sections, ${assistant.answerer} answers: ${assistant.answererReason})` : ""}`,
  );
  let closing: Promise<void> | undefined;
  return {
    url,
    card: backend.card,
    ...(assistant ? { assistantId: assistant.id } : {}),
    close() {
      closing ??= (async () => {
        opts.onLog?.("shutting down: finishing running requests");
        // The app stops accepting and waits for running responses; the backend finishes
        // them within the grace period and cancels the rest, which ends those responses.
        const results = await Promise.allSettled([app.close(), backend.close(opts.graceMs ?? DEFAULT_GRACE_MS)]);
        assistant?.close();
        const failed = results.find((r) => r.status === "rejected");
        if (failed) throw (failed as PromiseRejectedResult).reason;
        opts.onLog?.("stopped");
      })();
      return closing;
    },
  };
}
