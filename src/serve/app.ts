// The HTTP app (fastify): OpenAI-compatible routes over an InferenceBackend,
// Server-Sent Events for streaming, bearer-key auth, Prometheus metrics, the
// static web UI, and OpenAI-style error objects for every 4xx/5xx (fastify's
// own included). Each request gets an AbortSignal that fires on client
// disconnect or timeout. Knows nothing about models, tokenizers or threads:
// it speaks text to the backend (src/serve/backend.ts); does not listen on a
// port itself (server.ts does), so tests drive it with app.inject. With an
// assistant (a document index, src/serve/assistant.ts) it also serves the
// assistant as a second chat model whose answers carry `citations`, and the
// cited sections (GET /v1/sections/:id as JSON, /sections/:id as a page).
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { ServerResponse } from "node:http";

import { isSlmError, type OverloadedError } from "../errors.ts";
import type { ServedAssistant, CitationJson } from "./assistant.ts";
import type { GenerationInput, GenerationRequest, GenerationResult, InferenceBackend, TextLogprob } from "./backend.ts";
import { PROMETHEUS_CONTENT_TYPE, ServerMetrics } from "./metrics.ts";
import {
  allowedTools,
  callSchema,
  forcedCallPrefix,
  parseForcedCall,
  parseToolCalls,
  toolMessages,
  type ParsedCall,
  type Tool,
  type ToolChoice,
} from "./tools.ts";
import {
  chatInput,
  chatRequestSchema,
  completionInput,
  completionRequestSchema,
  embeddingRequestSchema,
  parseBody,
  responseFormatOf,
  samplingOf,
  stopsOf,
  type ChatRequest,
  type CompletionRequest,
} from "./schemas.ts";

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

/** max_tokens of an assistant answer when the request sets none (also capped at a quarter of the context, so the sources fit). */
export const DEFAULT_ASSISTANT_MAX_TOKENS = 128;

export const DEFAULT_BODY_LIMIT = 1 << 20;
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;
/** Default max_tokens of /v1/completions when the request sets none (OpenAI's default). */
export const DEFAULT_COMPLETION_MAX_TOKENS = 16;

/** An OpenAI error object: {error: {message, type, param, code}}. */
export interface ApiError {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const TYPE_OF_STATUS: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  404: "not_found_error",
  408: "timeout_error",
  413: "invalid_request_error",
  415: "invalid_request_error",
  429: "rate_limit_error",
  503: "server_error",
  504: "timeout_error",
};

export function apiError(status: number, message: string, code: string | null = null, param: string | null = null): ApiError {
  return { error: { message, type: TYPE_OF_STATUS[status] ?? (status >= 500 ? "server_error" : "invalid_request_error"), param, code } };
}

function sendError(reply: FastifyReply, status: number, message: string, code: string | null = null, param: string | null = null): FastifyReply {
  return reply
    .code(status)
    .type("application/json; charset=utf-8")
    .send(apiError(status, message, code, param));
}

/** A thrown error → HTTP status, OpenAI error code and message. */
function classify(e: unknown): { status: number; code: string | null; message: string; retryAfter?: number } {
  if (isSlmError(e)) {
    const message = e.hint ? `${e.message} (${e.hint})` : e.message;
    switch (e.code) {
      case "USAGE":
      case "CONFIG":
      case "SHAPE":
        return { status: 400, code: "invalid_request", message };
      case "NOT_FOUND":
        return { status: 404, code: "not_found", message };
      case "OVERLOADED":
        return { status: 429, code: "overloaded", message, retryAfter: Math.max(1, Math.ceil((e as OverloadedError).retryAfterSeconds)) };
      case "CANCELLED":
        return { status: 499, code: "cancelled", message };
      default:
        return { status: 500, code: e.code.toLowerCase(), message };
    }
  }
  const fe = e as { statusCode?: number; code?: string; message?: string };
  if (typeof fe?.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code =
      fe.code === "FST_ERR_CTP_BODY_TOO_LARGE" ? "body_too_large" : fe.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE" ? "unsupported_media_type" : "invalid_request";
    let message = fe.message ?? "bad request";
    if (fe.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") message = `${message}; send Content-Type: application/json`;
    if (e instanceof SyntaxError || fe.code === "FST_ERR_CTP_INVALID_JSON_BODY") message = `the request body is not valid JSON: ${fe.message}`;
    return { status: fe.statusCode, code, message };
  }
  return { status: 500, code: "internal_error", message: `internal error: ${(e as Error)?.message ?? String(e)}` };
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".woff2": "font/woff2",
};

/** Every regular file under root (no dotfiles), by its '/'-separated relative path. */
export function loadStaticFiles(root: string | undefined): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  if (!root || !existsSync(root)) return files;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name.startsWith(".")) continue;
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) {
        const rel = relative(root, p).split(sep).join("/");
        files.set(rel, { body: readFileSync(p), type: CONTENT_TYPES[extname(name).toLowerCase()] ?? "application/octet-stream" });
      }
    }
  };
  walk(root);
  return files;
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

function newId(prefix: string): string {
  return `${prefix}-${randomUUID().replace(/-/g, "").slice(0, 24)}`;
}

/** Why a request's signal fired (undefined: it did not, or the backend cancelled on its own, e.g. at shutdown). */
type AbortCause = "disconnect" | "timeout";

interface RequestControl {
  signal: AbortSignal;
  cause(): AbortCause | undefined;
  /** True once the client has gone (nothing more can be written). */
  gone(): boolean;
  done(): void;
}

/** An AbortSignal that fires when the client disconnects before the response ends, or after timeoutMs. */
function requestControl(raw: ServerResponse, timeoutMs: number): RequestControl {
  const ac = new AbortController();
  let cause: AbortCause | undefined;
  let gone = false;
  const onClose = () => {
    if (raw.writableFinished) return;
    gone = true;
    if (!ac.signal.aborted) {
      cause = "disconnect";
      ac.abort(new Error("client disconnected"));
    }
  };
  raw.on("close", onClose);
  const timer =
    timeoutMs > 0
      ? setTimeout(() => {
          if (!ac.signal.aborted) {
            cause = "timeout";
            ac.abort(new Error("request timed out"));
          }
        }, timeoutMs)
      : undefined;
  timer?.unref();
  return {
    signal: ac.signal,
    cause: () => cause,
    gone: () => gone,
    done: () => {
      if (timer) clearTimeout(timer);
      raw.removeListener("close", onClose);
    },
  };
}

export function buildApp(opts: AppOptions): FastifyInstance {
  const { backend, assistant } = opts;
  const card = backend.card;
  const timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const keyDigest = opts.apiKey ? digest(opts.apiKey) : undefined;
  const web = loadStaticFiles(opts.webRoot);
  const metrics = new ServerMetrics({
    queued: () => backend.stats().queued,
    active: () => backend.stats().active,
    maxQueue: () => backend.stats().maxQueue,
    maxConcurrency: () => backend.stats().maxConcurrency,
    promptCacheBytes: () => backend.stats().promptCache?.bytes ?? 0,
  });

  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT,
    return503OnClosing: true,
    forceCloseConnections: "idle",
  });
  // JSON only: a text/plain body is refused with 415 rather than parsed as a string.
  app.removeContentTypeParser("text/plain");

  // Metrics and the access log, for every answered request (hijacked SSE ones too).
  app.addHook("onRequest", async (req, reply) => {
    const t0 = process.hrtime.bigint();
    reply.raw.once("close", () => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const route = req.routeOptions.url ?? "unmatched";
      const status = reply.raw.headersSent ? reply.raw.statusCode : 499;
      metrics.requests.inc({ route, method: req.method, status: String(status) });
      metrics.requestSeconds.observe(seconds, { route });
      opts.logger?.(`${req.method} ${req.url} ${status} ${(seconds * 1000).toFixed(1)}ms`);
    });
  });

  // Bearer key on the API and the metrics; the web UI and /health stay open.
  if (keyDigest) {
    app.addHook("onRequest", async (req, reply) => {
      if (!(req.url.startsWith("/v1/") || req.url === "/v1" || req.url.startsWith("/metrics"))) return;
      const h = req.headers.authorization;
      const m = typeof h === "string" ? /^Bearer\s+(.+)$/i.exec(h.trim()) : null;
      if (!m) return sendError(reply.header("www-authenticate", "Bearer"), 401, "missing API key: send Authorization: Bearer <key>", "invalid_api_key");
      if (!timingSafeEqual(digest(m[1]!), keyDigest)) return sendError(reply.header("www-authenticate", "Bearer"), 401, "incorrect API key", "invalid_api_key");
    });
  }

  app.setNotFoundHandler((req, reply) => {
    sendError(reply, 404, `no route for ${req.method} ${req.url.split("?")[0]}`, "not_found");
  });

  app.setErrorHandler((err, _req, reply) => {
    const c = classify(err);
    if (c.status === 429) metrics.rejected.inc({ reason: "overloaded" });
    if (c.retryAfter !== undefined) reply.header("retry-after", String(c.retryAfter));
    if (reply.raw.headersSent) return;
    sendError(reply, c.status === 499 ? 400 : c.status, c.message, c.code);
  });

  const served = assistant ? `"${card.id}" and "${assistant.id}"` : `"${card.id}"`;
  const checkModel = (reply: FastifyReply, model: string, endpoint: "chat" | "other" = "other"): boolean => {
    if (model === card.id) return true;
    if (assistant && model === assistant.id) {
      if (endpoint === "chat") return true;
      sendError(reply, 400, `the model "${model}" answers chat completions only (POST /v1/chat/completions)`, "invalid_request", "model");
      return false;
    }
    sendError(reply, 404, `the model "${model}" does not exist; this server serves ${served}`, "model_not_found", "model");
    return false;
  };

  const modelObject = () => ({ id: card.id, object: "model", created: card.created, owned_by: "slmkit", slm: card });
  const assistantObject = (a: ServedAssistant) => ({
    id: a.id,
    object: "model",
    created: card.created,
    owned_by: "slmkit",
    slm: { ...card, id: a.id, assistant: a.describe() },
  });

  app.get("/health", async () => {
    const s = backend.stats();
    return { status: "ok", model: card.id, queued: s.queued, active: s.active };
  });

  app.get("/metrics", async (_req, reply) => {
    reply.type(PROMETHEUS_CONTENT_TYPE);
    return metrics.registry.text();
  });

  app.get("/v1/models", async () => ({ object: "list", data: assistant ? [modelObject(), assistantObject(assistant)] : [modelObject()] }));
  app.get<{ Params: { model: string } }>("/v1/models/:model", async (req, reply) => {
    if (assistant && req.params.model === assistant.id) return assistantObject(assistant);
    if (!checkModel(reply, req.params.model)) return reply;
    return modelObject();
  });

  /** Shared by chat and text completions: validation, budget, generation, the JSON or SSE answer. */
  async function completion(kind: "chat" | "text", req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const parsed = kind === "chat" ? parseBody(chatRequestSchema, req.body) : parseBody(completionRequestSchema, req.body);
    if (!parsed.ok) return sendError(reply, 400, parsed.issue.message, "invalid_request", parsed.issue.param);
    const body = parsed.value as ChatRequest & CompletionRequest;
    if (!checkModel(reply, body.model, kind === "chat" ? "chat" : "other")) return reply;
    const asking = kind === "chat" && assistant !== undefined && body.model === assistant.id ? assistant : undefined;
    let maxTokens = kind === "chat" ? (body.max_completion_tokens ?? body.max_tokens) : (body.max_tokens ?? DEFAULT_COMPLETION_MAX_TOKENS);
    const maxField = kind === "chat" && body.max_completion_tokens !== undefined ? "max_completion_tokens" : "max_tokens";
    if (maxTokens !== undefined && maxTokens >= card.contextLength) {
      return sendError(
        reply,
        400,
        `${maxField} is ${maxTokens}, but the model's context holds ${card.contextLength} tokens (prompt included)`,
        "context_length_exceeded",
        maxField,
      );
    }
    let input: GenerationInput = kind === "chat" ? chatInput(body) : completionInput(body);
    let stop = stopsOf(body);
    const sampling = samplingOf(body);
    let responseFormat = responseFormatOf(body);
    const endpoint = kind === "chat" ? "chat" : "completions";
    const modelId = asking ? asking.id : card.id;
    // The assistant: retrieval and the grounded prompt here; generation (if any) through the same backend.
    let generate = (r: GenerationRequest) => backend.generate(r);
    // Which method answered ("extractive", "reader", "model"; "not_found" when nothing was answered) and why: the web UI shows it.
    let citationsOf: ((text: string) => { citations: CitationJson[]; not_found: boolean; answered_by: { method: string; reason: string } }) | undefined;
    // Log-probabilities: chat `logprobs: true` (+ `top_logprobs`), completions `logprobs: N` (+ `echo` for the prompt's).
    if (kind === "chat" && body.top_logprobs !== undefined && body.logprobs !== true)
      return sendError(reply, 400, "top_logprobs needs logprobs: true", "invalid_request", "top_logprobs");
    const topN = kind === "chat" ? (body.logprobs === true ? (body.top_logprobs ?? 0) : undefined) : (body.logprobs ?? undefined);
    if (asking && topN !== undefined)
      return sendError(
        reply,
        400,
        `the model "${asking.id}" does not report logprobs (its answers are often extracts, not samples)`,
        "invalid_request",
        "logprobs",
      );
    // Function calling (src/serve/tools.ts): tools into the prompt, a forced call constrained to its schema.
    const tools: Tool[] = kind === "chat" ? ((body.tools ?? []) as Tool[]) : [];
    const toolChoice: ToolChoice = kind === "chat" ? ((body.tool_choice as ToolChoice | undefined) ?? (tools.length > 0 ? "auto" : "none")) : "none";
    if (tools.length === 0 && toolChoice !== "none" && kind === "chat" && body.tool_choice !== undefined)
      return sendError(reply, 400, `tool_choice is ${JSON.stringify(toolChoice)}, but the request has no tools`, "invalid_request", "tool_choice");
    if (asking && tools.length > 0)
      return sendError(reply, 400, `the model "${asking.id}" answers from its documents; tools are not supported for it`, "invalid_request", "tools");
    const callTools = allowedTools(tools, toolChoice);
    const forcedCall = toolChoice === "required" || typeof toolChoice === "object";
    if (forcedCall && responseFormat)
      return sendError(
        reply,
        400,
        "response_format cannot be combined with a required tool call (the call's arguments follow the function's parameters)",
        "invalid_request",
        "response_format",
      );
    const fmt = card.toolCallFormat;
    if (!asking && input.kind === "chat" && (tools.length > 0 || input.messages.some((m) => m.tool_calls || m.role === "tool"))) {
      const tm = toolMessages(input.messages, toolChoice === "none" ? [] : tools, card.toolTemplate);
      input = { kind: "chat", messages: tm.messages, templateVars: tm.extra, prefix: forcedCall && forcedCallPrefix(fmt) ? forcedCallPrefix(fmt) : undefined };
      if (forcedCall) responseFormat = { type: "json_schema", schema: callSchema(callTools, fmt) };
    }
    /** The reply as OpenAI message fields: tool calls parsed out when tools are in play. */
    const replyOf = (text: string): { content: string | null; tool_calls?: { id: string; type: "function"; function: ParsedCall }[] } => {
      if (callTools.length === 0) return { content: text };
      const calls = forcedCall
        ? [parseForcedCall(text, callTools, fmt)].filter((c): c is ParsedCall => c !== null)
        : parseToolCalls(text, callTools, fmt).calls;
      if (calls.length === 0) return { content: text };
      const content = forcedCall ? null : parseToolCalls(text, callTools, fmt).content;
      return { content, tool_calls: calls.map((c) => ({ id: newId("call").replace("call-", "call_"), type: "function", function: c })) };
    };
    if (asking && responseFormat)
      return sendError(
        reply,
        400,
        `the model "${asking.id}" answers in prose with citations; response_format is not supported for it`,
        "invalid_request",
        "response_format",
      );
    if (asking) {
      const messages = input.kind === "chat" ? input.messages : [];
      const question = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
      if (question.trim() === "")
        return sendError(reply, 400, "the assistant answers the last user message, and there is none (or it is empty)", "invalid_request", "messages");
      maxTokens = Math.max(1, Math.min(maxTokens ?? DEFAULT_ASSISTANT_MAX_TOKENS, Math.floor(card.contextLength / 4)));
      if (sampling.temperature === undefined) sampling.temperature = 0;
      const plan = await asking.prepare(question, backend, maxTokens);
      if (plan.kind === "answer") {
        // Not found, or the extractive answerer: no model call; the text is streamed as one piece.
        generate = async (r) => {
          r.onText?.(plan.text);
          return { text: plan.text, finishReason: "stop", promptTokens: 0, completionTokens: 0 };
        };
        const method = plan.notFound ? "not_found" : asking.answerer;
        citationsOf = () => ({
          citations: plan.citations,
          not_found: plan.notFound,
          answered_by: { method, reason: plan.notFound ? "no section matched the question well enough" : asking.answererReason },
        });
      } else {
        input = plan.input;
        stop = [...stop, ...plan.stop];
        citationsOf = (text) => {
          const f = asking.finish(text, plan.sources);
          return { citations: f.citations, not_found: f.notFound, answered_by: { method: "model", reason: asking.answererReason } };
        };
      }
    }
    const id = newId(kind === "chat" ? "chatcmpl" : "cmpl");
    const created = Math.floor(Date.now() / 1000);
    const echo = kind === "text" && body.echo === true && input.kind === "text" ? input.prompt : "";
    const ctl = requestControl(reply.raw, timeoutMs);
    const t0 = performance.now();
    const promptLogprobs = kind === "text" && echo !== "" && topN !== undefined;
    const genReq: GenerationRequest = { input, maxTokens, stop, sampling, responseFormat, logprobs: topN, promptLogprobs, signal: ctl.signal };
    // OpenAI's shapes: chat {content: [{token, logprob, bytes, top_logprobs}], refusal}; completions
    // {tokens, token_logprobs, top_logprobs: {token: logprob}, text_offset} (offsets continue across stream chunks).
    let textOffset = 0;
    const chatLogprobs = (e: TextLogprob[]) => ({
      content: e.map((x) => ({
        token: x.token,
        logprob: x.logprob,
        bytes: x.bytes,
        top_logprobs: x.top.map((t) => ({ token: t.token, logprob: t.logprob, bytes: t.bytes })),
      })),
      refusal: null,
    });
    const textLogprobs = (e: TextLogprob[]) => {
      const offsets = e.map((x) => {
        const o = textOffset;
        textOffset += x.token.length;
        return o;
      });
      return {
        tokens: e.map((x) => x.token),
        token_logprobs: e.map((x) => x.logprob),
        top_logprobs: e.map((x) => (x.logprob === null ? null : Object.fromEntries(x.top.map((t) => [t.token, t.logprob])))),
        text_offset: offsets,
      };
    };
    const logprobsOf = (e: TextLogprob[] | undefined) => (topN === undefined ? null : kind === "chat" ? chatLogprobs(e ?? []) : textLogprobs(e ?? []));

    const account = (r: GenerationResult) => {
      metrics.promptTokens.inc({ endpoint }, r.promptTokens);
      metrics.completionTokens.inc({ endpoint }, r.completionTokens);
      metrics.completionTokensPerRequest.observe(r.completionTokens);
      if (r.cachedTokens) {
        metrics.cachedPromptTokens.inc({ endpoint }, r.cachedTokens);
        metrics.promptCacheHits.inc({ endpoint });
      }
    };
    const usage = (r: GenerationResult) => ({
      prompt_tokens: r.promptTokens,
      completion_tokens: r.completionTokens,
      total_tokens: r.promptTokens + r.completionTokens,
      prompt_tokens_details: { cached_tokens: r.cachedTokens ?? 0 },
    });
    const cancelledAnswer = (): { status: number; message: string; code: string } =>
      ctl.cause() === "timeout"
        ? { status: 504, message: `the request took longer than ${timeoutMs} ms and was cancelled`, code: "timeout" }
        : { status: 503, message: "the generation was cancelled (the server is shutting down)", code: "cancelled" };

    try {
      if (!body.stream) {
        const r = await generate(genReq);
        account(r);
        if (r.finishReason === "cancelled") {
          metrics.rejected.inc({ reason: ctl.cause() ?? "cancelled" });
          if (ctl.gone()) return reply.hijack();
          const c = cancelledAnswer();
          return sendError(reply, c.status, c.message, c.code);
        }
        const text = echo + r.text;
        const lps = logprobsOf([...(r.promptLogprobs ?? []), ...(r.logprobs ?? [])]);
        const msg = kind === "chat" ? replyOf(text) : { content: text };
        const choice =
          kind === "chat"
            ? { index: 0, message: { role: "assistant", ...msg, refusal: null }, logprobs: lps, finish_reason: msg.tool_calls ? "tool_calls" : r.finishReason }
            : { index: 0, text, logprobs: lps, finish_reason: r.finishReason };
        return reply.send({
          id,
          object: kind === "chat" ? "chat.completion" : "text_completion",
          created,
          model: modelId,
          choices: [choice],
          usage: usage(r),
          ...citationsOf?.(r.text),
        });
      }

      // Streaming. Headers go out with the first piece of text, so that errors raised before
      // generation starts (queue full, prompt too long) are still plain HTTP errors.
      const raw = reply.raw;
      let started = false;
      const object = kind === "chat" ? "chat.completion.chunk" : "text_completion";
      const write = (data: unknown) => {
        if (!ctl.gone() && !raw.writableEnded) raw.write(`data: ${JSON.stringify(data)}\n\n`);
      };
      let streamedLps = 0;
      const chunk = (delta: string | null, finish: string | null, lps: TextLogprob[] | undefined = undefined) =>
        kind === "chat"
          ? {
              id,
              object,
              created,
              model: modelId,
              choices: [{ index: 0, delta: delta === null ? {} : { content: delta }, logprobs: lps ? logprobsOf(lps) : null, finish_reason: finish }],
            }
          : { id, object, created, model: modelId, choices: [{ index: 0, text: delta ?? "", logprobs: lps ? logprobsOf(lps) : null, finish_reason: finish }] };
      const start = () => {
        if (started) return;
        started = true;
        reply.hijack();
        raw.writeHead(200, {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache",
          connection: "keep-alive",
          "x-accel-buffering": "no",
        });
        if (kind === "chat")
          write({
            id,
            object,
            created,
            model: modelId,
            choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }],
          });
        if (echo) write(chunk(echo, null));
      };
      // With tools in play a reply is text or calls, known only at its end: it is sent whole then.
      const buffered = callTools.length > 0;
      const r = await generate({
        ...genReq,
        onText: buffered
          ? undefined
          : (delta, lps) => {
              if (delta.length === 0) return;
              if (!started) metrics.firstTokenSeconds.observe((performance.now() - t0) / 1000);
              start();
              if (lps) streamedLps += lps.length;
              // Streamed completions with echo: the prompt's log-probabilities come with the last chunk (they are known at the end).
              write(chunk(delta, null, topN === undefined ? undefined : (lps ?? [])));
            },
      });
      account(r);
      if (r.finishReason === "cancelled") {
        metrics.rejected.inc({ reason: ctl.cause() ?? "cancelled" });
        if (ctl.gone()) {
          if (!started) reply.hijack();
          return;
        }
        const c = cancelledAnswer();
        if (!started) return sendError(reply, c.status, c.message, c.code);
        write(apiError(c.status, c.message, c.code));
        raw.end("data: [DONE]\n\n");
        return;
      }
      start();
      // The assistant's citations ride on the final chunk (the one with finish_reason): only the whole text says which [n] it used.
      // The last chunk carries the entries of tokens whose text came out empty (and the prompt's, with echo).
      const rest = topN === undefined ? undefined : [...(r.promptLogprobs ?? []), ...(r.logprobs ?? []).slice(streamedLps)];
      let finishReason: string = r.finishReason;
      if (buffered) {
        const msg = replyOf(r.text);
        if (msg.content) write(chunk(msg.content, null));
        if (msg.tool_calls) {
          const delta = { tool_calls: msg.tool_calls.map((c, index) => ({ index, ...c })) };
          write({ id, object, created, model: modelId, choices: [{ index: 0, delta, logprobs: null, finish_reason: null }] });
          finishReason = "tool_calls";
        }
      }
      write({ ...chunk(null, finishReason, rest), ...citationsOf?.(r.text) });
      if (body.stream_options?.include_usage) write({ id, object, created, model: modelId, choices: [], usage: usage(r) });
      raw.end("data: [DONE]\n\n");
      return;
    } catch (e) {
      if (isSlmError(e) && e.code === "CANCELLED" && !reply.raw.headersSent) {
        // A backend may reject instead of returning a "cancelled" result (e.g. aborted while queued).
        metrics.rejected.inc({ reason: ctl.cause() ?? "cancelled" });
        if (ctl.gone()) return reply.sent ? undefined : reply.hijack();
        const c = cancelledAnswer();
        return sendError(reply, c.status, c.message, c.code);
      }
      if (!reply.sent && !reply.raw.headersSent) throw e;
      // Mid-stream failure: the status line is gone; report it in the stream, then end it.
      const c = classify(e);
      if (!ctl.gone() && !reply.raw.writableEnded) {
        reply.raw.write(`data: ${JSON.stringify(apiError(c.status, c.message, c.code))}\n\n`);
        reply.raw.end("data: [DONE]\n\n");
      }
      opts.logger?.(`stream failed: ${c.message}`);
      return;
    } finally {
      ctl.done();
    }
  }

  app.post("/v1/chat/completions", (req, reply) => completion("chat", req, reply));
  app.post("/v1/completions", (req, reply) => completion("text", req, reply));

  app.post("/v1/embeddings", async (req, reply) => {
    const parsed = parseBody(embeddingRequestSchema, req.body);
    if (!parsed.ok) return sendError(reply, 400, parsed.issue.message, "invalid_request", parsed.issue.param);
    const body = parsed.value;
    if (!checkModel(reply, body.model)) return reply;
    const inputs = typeof body.input === "string" ? [body.input] : body.input;
    const empty = inputs.findIndex((s) => s.length === 0);
    if (empty >= 0) return sendError(reply, 400, `input${typeof body.input === "string" ? "" : `[${empty}]`} is an empty string`, "invalid_request", "input");
    if (body.dimensions !== undefined && body.dimensions !== card.dModel) {
      return sendError(
        reply,
        400,
        `dimensions must be ${card.dModel} (this model's hidden size) or left out, got ${body.dimensions}`,
        "invalid_request",
        "dimensions",
      );
    }
    const ctl = requestControl(reply.raw, timeoutMs);
    try {
      const r = await backend.embed(inputs, ctl.signal);
      if (ctl.signal.aborted) {
        metrics.rejected.inc({ reason: ctl.cause() ?? "cancelled" });
        if (ctl.gone()) return reply.hijack();
        return sendError(reply, 504, `the request took longer than ${timeoutMs} ms and was cancelled`, "timeout");
      }
      metrics.promptTokens.inc({ endpoint: "embeddings" }, r.promptTokens);
      const base64 = body.encoding_format === "base64";
      return reply.send({
        object: "list",
        data: r.embeddings.map((v, index) => ({
          object: "embedding",
          index,
          embedding: base64 ? Buffer.from(Float32Array.from(v).buffer).toString("base64") : v,
        })),
        model: card.id,
        usage: { prompt_tokens: r.promptTokens, total_tokens: r.promptTokens },
      });
    } catch (e) {
      if (isSlmError(e) && e.code === "CANCELLED") {
        metrics.rejected.inc({ reason: ctl.cause() ?? "cancelled" });
        if (ctl.gone()) return reply.hijack();
        if (ctl.cause() === "timeout") return sendError(reply, 504, `the request took longer than ${timeoutMs} ms and was cancelled`, "timeout");
      }
      throw e;
    } finally {
      ctl.done();
    }
  });

  // The sections an assistant cites: JSON under /v1 (key-protected), and a page that shows it.
  const noIndex = (reply: FastifyReply) => sendError(reply, 404, "this server has no document index (start it with --index INDEX)", "not_found");
  const noSection = (reply: FastifyReply, id: string) => sendError(reply, 404, `no section ${JSON.stringify(id)} in the index`, "section_not_found", "id");
  app.get<{ Params: { id: string } }>("/v1/sections/:id", async (req, reply) => {
    if (!assistant) return noIndex(reply);
    const s = assistant.section(req.params.id);
    if (!s) return noSection(reply, req.params.id);
    return {
      object: "section",
      id: s.id,
      source_path: s.source,
      heading_path: s.headingPath,
      heading: s.heading,
      title: s.title,
      text: s.text,
      url: `/sections/${encodeURIComponent(s.id)}`,
    };
  });
  // The page is a static shell (web/section.html) that fetches the JSON with the UI's stored key,
  // so links work with and without an API key; the text is inserted as text, never as HTML.
  app.get<{ Params: { id: string } }>("/sections/:id", async (req, reply) => {
    if (!assistant) return noIndex(reply);
    if (!assistant.section(req.params.id)) return noSection(reply, req.params.id);
    const f = web.get("section.html");
    if (!f) return sendError(reply, 404, "the web UI is not installed (no section.html); use GET /v1/sections/:id", "not_found");
    return reply.type(f.type).header("cache-control", "no-cache").send(f.body);
  });

  // The web UI: index.html at /, its other files under /web/. Only files read at startup are served.
  app.get("/", async (_req, reply) => {
    const f = web.get("index.html");
    if (!f) return sendError(reply, 404, "the web UI is not installed (no index.html); the API is under /v1/", "not_found");
    return reply.type(f.type).header("cache-control", "no-cache").send(f.body);
  });
  app.get<{ Params: { "*": string } }>("/web/*", async (req, reply) => {
    const f = web.get(req.params["*"]);
    if (!f) return sendError(reply, 404, `no web UI file ${JSON.stringify(req.params["*"])}`, "not_found");
    return reply.type(f.type).header("cache-control", "no-cache").send(f.body);
  });

  return app;
}
