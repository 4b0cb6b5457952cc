// Test helpers for the HTTP layer: a scripted InferenceBackend (no model: its
// "tokens" are characters, its replies derive from the prompt), a list of
// malformed requests that must each get a 4xx, and an SSE parser. The fake
// keeps the backend contract (bounded queue → OverloadedError, abort → a
// "cancelled" result, prompt + max_tokens beyond the context → UsageError) so
// app tests check the app, not the fake. Not used by the server itself.
import { OverloadedError, UsageError } from "../errors.ts";
import type { BackendStats, EmbeddingResult, GenerationInput, GenerationRequest, GenerationResult, InferenceBackend, ModelCard } from "./backend.ts";

export interface FakeOptions {
  id?: string;
  contextLength?: number;
  maxConcurrency?: number;
  maxQueue?: number;
  /** Milliseconds between generated characters (0 = one macrotask). */
  msPerToken?: number;
}

/** What the fake generates for an input before limits: "reply to <last content>." */
export function fakeReplyFor(input: GenerationInput): string {
  const last = input.kind === "chat" ? (input.messages[input.messages.length - 1]?.content ?? "") : input.prompt;
  return `reply to ${last}.`;
}

function promptText(input: GenerationInput): string {
  return input.kind === "chat" ? `${input.messages.map((m) => `${m.role}: ${m.content}\n`).join("")}assistant: ` : input.prompt;
}

export class FakeBackend implements InferenceBackend {
  readonly card: ModelCard;
  readonly maxConcurrency: number;
  readonly maxQueue: number;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  /** Every generation request seen, with its signal (tests check cancellation). */
  readonly seen: GenerationRequest[] = [];
  closed = false;
  private readonly msPerToken: number;

  constructor(o: FakeOptions = {}) {
    this.card = {
      id: o.id ?? "fake-model",
      modelType: "llama",
      parameters: 1234,
      contextLength: o.contextLength ?? 64,
      vocabSize: 256,
      layers: 2,
      dModel: 8,
      heads: 2,
      kvHeads: 1,
      quantization: "F32",
      weightBytes: 4096,
      chatTemplate: false,
      toolTemplate: false,
      toolCallFormat: "hermes",
      writesAnswers: { ok: false, reason: "a scripted test backend" },
      created: 1_700_000_000,
    };
    this.maxConcurrency = o.maxConcurrency ?? 2;
    this.maxQueue = o.maxQueue ?? 4;
    this.msPerToken = o.msPerToken ?? 0;
  }

  stats(): BackendStats {
    return { queued: this.waiting.length, active: this.active, maxQueue: this.maxQueue, maxConcurrency: this.maxConcurrency };
  }

  async countTokens(input: GenerationInput): Promise<number> {
    return promptText(input).length;
  }

  async generate(req: GenerationRequest): Promise<GenerationResult> {
    this.seen.push(req);
    const promptTokens = promptText(req.input).length;
    if (promptTokens + (req.maxTokens ?? 0) > this.card.contextLength) {
      throw new UsageError(
        `the prompt (${promptTokens} tokens) plus max_tokens (${req.maxTokens ?? 0}) exceeds the context of ${this.card.contextLength} tokens`,
      );
    }
    if (this.active >= this.maxConcurrency) {
      if (this.waiting.length >= this.maxQueue) throw new OverloadedError(`the queue is full (${this.maxQueue} waiting)`, 1.5);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.active++;
    try {
      const full = fakeReplyFor(req.input);
      const budget = Math.min(req.maxTokens ?? Infinity, this.card.contextLength - promptTokens);
      let text = "";
      let finishReason: GenerationResult["finishReason"] = "stop";
      for (const ch of full) {
        if (req.signal?.aborted) return { text, finishReason: "cancelled", promptTokens, completionTokens: text.length };
        if (text.length >= budget) {
          finishReason = "length";
          break;
        }
        await new Promise((r) => (this.msPerToken > 0 ? setTimeout(r, this.msPerToken) : setImmediate(r)));
        if (req.signal?.aborted) return { text, finishReason: "cancelled", promptTokens, completionTokens: text.length };
        const next = text + ch;
        const hit = (req.stop ?? []).find((s) => next.endsWith(s));
        if (hit) {
          text = next.slice(0, next.length - hit.length);
          finishReason = "stop";
          break;
        }
        text = next;
        // Pieces are final at once here (a real backend holds back text that may start a stop string).
        req.onText?.(ch);
      }
      return { text, finishReason, promptTokens, completionTokens: text.length };
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  async embed(inputs: string[], signal?: AbortSignal): Promise<EmbeddingResult> {
    if (signal?.aborted) throw new UsageError("aborted");
    for (const s of inputs)
      if (s.length > this.card.contextLength) throw new UsageError(`an input of ${s.length} tokens exceeds the context of ${this.card.contextLength}`);
    // A vector per input: character-code statistics, deterministic and distinct.
    const embeddings = inputs.map((s) =>
      Array.from({ length: this.card.dModel }, (_, j) => [...s].reduce((a, c, i) => a + Math.sin((c.charCodeAt(0) + 1) * (j + 1) + i), 0) / s.length),
    );
    return { embeddings, promptTokens: inputs.reduce((a, s) => a + s.length, 0) };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export interface BadRequest {
  what: string;
  method: "GET" | "POST" | "PUT" | "DELETE";
  url: string;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** The status expected (every one is a 4xx). */
  status: number;
}

/** At least 30 malformed or refused requests; each must get its status and an OpenAI error object. */
export function badRequests(model: string, contextLength: number): BadRequest[] {
  const chat = "/v1/chat/completions";
  const comp = "/v1/completions";
  const emb = "/v1/embeddings";
  const msgs = [{ role: "user", content: "hi" }];
  const json = { "content-type": "application/json" };
  const b = (what: string, url: string, body: unknown, status = 400, headers: Record<string, string> = json): BadRequest => ({
    what,
    method: "POST",
    url,
    body,
    headers,
    status,
  });
  return [
    b("truncated JSON", chat, '{"model": "x", "messages": [', 400),
    b("not JSON at all", chat, "hello there", 400),
    b("JSON with a trailing comma", comp, '{"model": "m", "prompt": "x",}', 400),
    b("empty body with a JSON content type", chat, "", 400),
    b("a JSON array body", chat, "[1,2,3]", 400),
    b("a JSON string body", comp, '"just a string"', 400),
    b("a JSON null body", emb, "null", 400),
    b("text/plain content type", chat, JSON.stringify({ model, messages: msgs }), 415, { "content-type": "text/plain" }),
    b("a body over the size limit", chat, JSON.stringify({ model, messages: [{ role: "user", content: "x".repeat(2 << 20) }] }), 413),
    b("missing model", chat, { messages: msgs }),
    b("model is a number", chat, { model: 7, messages: msgs }),
    b("unknown model", chat, { model: "no-such-model", messages: msgs }, 404),
    b("unknown model on completions", comp, { model: "gpt-4o", prompt: "x" }, 404),
    b("unknown model on embeddings", emb, { model: "text-embedding-3-small", input: "x" }, 404),
    b("missing messages", chat, { model }),
    b("empty messages", chat, { model, messages: [] }),
    b("messages is an object", chat, { model, messages: { role: "user", content: "hi" } }),
    b("a message without a role", chat, { model, messages: [{ content: "hi" }] }),
    b("an unknown role", chat, { model, messages: [{ role: "wizard", content: "hi" }] }),
    b("content is a number", chat, { model, messages: [{ role: "user", content: 42 }] }),
    b("an image content part", chat, { model, messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }),
    b("temperature is a string", chat, { model, messages: msgs, temperature: "hot" }),
    b("temperature below 0", chat, { model, messages: msgs, temperature: -1 }),
    b("top_p above 1", chat, { model, messages: msgs, top_p: 1.5 }),
    b("max_tokens is fractional", chat, { model, messages: msgs, max_tokens: 2.5 }),
    b("max_tokens is 0", chat, { model, messages: msgs, max_tokens: 0 }),
    b("max_tokens beyond the context", chat, { model, messages: msgs, max_tokens: contextLength * 4 }),
    b("prompt plus max_tokens beyond the context", comp, { model, prompt: "word ".repeat(contextLength), max_tokens: contextLength - 1 }),
    b("n = 3", chat, { model, messages: msgs, n: 3 }),
    b("stream is a string", chat, { model, messages: msgs, stream: "yes" }),
    b("stop holds a number", chat, { model, messages: msgs, stop: [1] }),
    b("five stop strings", comp, { model, prompt: "x", stop: ["a", "b", "c", "d", "e"] }),
    b("seed is a string", comp, { model, prompt: "x", seed: "abc" }),
    b("missing prompt", comp, { model }),
    b("token-id prompt", comp, { model, prompt: [1, 2, 3] }),
    b("logprobs above 5 on completions", comp, { model, prompt: "x", logprobs: 6 }),
    b("top_logprobs without logprobs", chat, { model, messages: msgs, top_logprobs: 2 }),
    b("top_logprobs above 20", chat, { model, messages: msgs, logprobs: true, top_logprobs: 21 }),
    b("an unknown response_format type", chat, { model, messages: msgs, response_format: { type: "xml" } }),
    b("a json_schema response_format without json_schema", chat, { model, messages: msgs, response_format: { type: "json_schema" } }),
    b("embeddings without input", emb, { model }),
    b("embeddings with an empty array", emb, { model, input: [] }),
    b("embeddings with an empty string", emb, { model, input: "" }),
    b("embeddings with token ids", emb, { model, input: [[1, 2]] }),
    b("an unknown encoding_format", emb, { model, input: "x", encoding_format: "hex" }),
    { what: "GET on a POST route", method: "GET", url: chat, status: 404 },
    { what: "an unknown route", method: "GET", url: "/v1/engines", status: 404 },
    { what: "DELETE a model", method: "DELETE", url: `/v1/models/${model}`, status: 404 },
    { what: "an unknown model id", method: "GET", url: "/v1/models/nope", status: 404 },
    { what: "path traversal in the web UI", method: "GET", url: "/web/../../package.json", status: 404 },
    { what: "encoded path traversal", method: "GET", url: "/web/%2e%2e/%2e%2e/package.json", status: 404 },
  ];
}

/** The `data:` payloads of an SSE body, in order. */
export function sseData(body: string): string[] {
  return body
    .split("\n\n")
    .filter((e) => e.trim().length > 0)
    .map((e) => {
      const lines = e.split("\n").filter((l) => l.startsWith("data:"));
      return lines.map((l) => l.slice(5).replace(/^ /, "")).join("\n");
    });
}
