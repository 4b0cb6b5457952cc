// The HTTP app (fastify): OpenAI-compatible routes over an InferenceBackend,
// bearer-key auth, Prometheus metrics and the access log, OpenAI-style error
// objects for every 4xx/5xx (fastify's own included). This file composes the
// app: options, the hooks that see every request, the error handlers, and the
// routes, one concern per file: routes-models.ts (health, metrics, model list),
// routes-completions.ts (chat and text completions, JSON or SSE, planned in
// completion-plan.ts), routes-embeddings.ts, routes-web.ts (the static web UI
// and the cited sections). Knows nothing about models, tokenizers or threads:
// it speaks text to the backend (backend.ts); does not listen on a port itself
// (server.ts does), so tests drive it with app.inject. With an assistant (a
// document index, src/assistant/served.ts) it also serves the assistant as a
// second chat model whose answers carry `citations`.
import { createHash, timingSafeEqual } from "node:crypto";

import Fastify, { type FastifyInstance } from "fastify";

import type { ServedAssistant } from "../assistant/served.ts";
import { classify, sendError } from "./api-error.ts";
import type { AppContext } from "./app-context.ts";
import type { InferenceBackend } from "./backend.ts";
import { ServerMetrics } from "./metrics.ts";
import { completionRoutes } from "./routes-completions.ts";
import { embeddingRoutes } from "./routes-embeddings.ts";
import { modelRoutes } from "./routes-models.ts";
import { loadStaticFiles, sectionRoutes, webRoutes } from "./routes-web.ts";

export interface AppOptions {
  backend: InferenceBackend;
  /** When set, /v1/* and /metrics need `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
  /** Largest request body accepted (413 beyond). Default 1 MiB. */
  bodyLimitBytes?: number;
  /** A generation or embedding running longer than this is cancelled (504). 0 = no limit. Default 120 000. */
  requestTimeoutMs?: number;
  /** Folder with the web UI (index.html and its assets), read once at startup. Undefined = no web UI. */
  webRoot?: string;
  /** One line per answered request ("POST /v1/chat/completions 200 12.3ms"). Default: silent. */
  logger?: (line: string) => void;
  /** A document index served as the chat model `assistant.id`, with the section routes. Default: none. */
  assistant?: ServedAssistant;
}

const DEFAULT_BODY_LIMIT = 1 << 20;
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** Metrics and the access log, for every answered request (hijacked SSE ones too). */
function accessLog(app: FastifyInstance, ctx: AppContext): void {
  const { metrics, logger } = ctx;
  app.addHook("onRequest", async (req, reply) => {
    const t0 = process.hrtime.bigint();
    reply.raw.once("close", () => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const route = req.routeOptions.url ?? "unmatched";
      const status = reply.raw.headersSent ? reply.raw.statusCode : 499;
      metrics.requests.inc({ route, method: req.method, status: String(status) });
      metrics.requestSeconds.observe(seconds, { route });
      logger?.(`${req.method} ${req.url} ${status} ${(seconds * 1000).toFixed(1)}ms`);
    });
  });
}

/** Bearer key on the API and the metrics; the web UI and /health stay open. */
function bearerAuth(app: FastifyInstance, apiKey: string): void {
  const keyDigest = digest(apiKey);
  app.addHook("onRequest", async (req, reply) => {
    if (!(req.url.startsWith("/v1/") || req.url === "/v1" || req.url.startsWith("/metrics"))) return;
    const h = req.headers.authorization;
    const m = typeof h === "string" ? /^Bearer\s+(.+)$/i.exec(h.trim()) : null;
    if (!m) return sendError(reply.header("www-authenticate", "Bearer"), 401, "missing API key: send Authorization: Bearer <key>", "invalid_api_key");
    if (!timingSafeEqual(digest(m[1]!), keyDigest)) return sendError(reply.header("www-authenticate", "Bearer"), 401, "incorrect API key", "invalid_api_key");
  });
}

/** OpenAI-style errors for unknown routes and for anything a route throws (429 with Retry-After when overloaded). */
function errorHandlers(app: FastifyInstance, ctx: AppContext): void {
  app.setNotFoundHandler((req, reply) => {
    sendError(reply, 404, `no route for ${req.method} ${req.url.split("?")[0]}`, "not_found");
  });
  app.setErrorHandler((err, _req, reply) => {
    const c = classify(err);
    if (c.status === 429) ctx.metrics.rejected.inc({ reason: "overloaded" });
    if (c.retryAfter !== undefined) reply.header("retry-after", String(c.retryAfter));
    if (reply.raw.headersSent) return;
    sendError(reply, c.status === 499 ? 400 : c.status, c.message, c.code);
  });
}

export function buildApp(opts: AppOptions): FastifyInstance {
  const { backend } = opts;
  const ctx: AppContext = {
    backend,
    card: backend.card,
    assistant: opts.assistant,
    timeoutMs: opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    web: loadStaticFiles(opts.webRoot),
    logger: opts.logger,
    metrics: new ServerMetrics({
      queued: () => backend.stats().queued,
      active: () => backend.stats().active,
      maxQueue: () => backend.stats().maxQueue,
      maxConcurrency: () => backend.stats().maxConcurrency,
      promptCacheBytes: () => backend.stats().promptCache?.bytes ?? 0,
    }),
  };

  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT,
    return503OnClosing: true,
    forceCloseConnections: "idle",
  });
  // JSON only: a text/plain body is refused with 415 rather than parsed as a string.
  app.removeContentTypeParser("text/plain");

  accessLog(app, ctx);
  if (opts.apiKey) bearerAuth(app, opts.apiKey);
  errorHandlers(app, ctx);

  modelRoutes(app, ctx);
  completionRoutes(app, ctx);
  embeddingRoutes(app, ctx);
  sectionRoutes(app, ctx);
  webRoutes(app, ctx);
  return app;
}
