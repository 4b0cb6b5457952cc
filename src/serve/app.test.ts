// Tests of the HTTP app over a scripted backend (src/serve/testing.ts): OpenAI
// response shapes, SSE framing, error objects for bad input (the ≥30-request
// suite), 429 + Retry-After, bearer auth, client disconnect and timeout
// cancelling the generation, metrics text, and the static web UI files.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import OpenAI from "openai";

import { buildApp } from "./app.ts";
import { badRequests, FakeBackend, fakeReplyFor, sseData } from "./testing.ts";

const tmp = mkdtempSync(join(tmpdir(), "slm-app-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const MODEL = "fake-model";
const chatBody = (extra: Record<string, unknown> = {}) => ({ model: MODEL, messages: [{ role: "user", content: "hello" }], ...extra });
const post = (app: ReturnType<typeof buildApp>, url: string, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: "POST", url, payload: payload as object, headers: { "content-type": "application/json", ...headers } });

function assertApiError(body: string, status: number, what: string) {
  let j: { error?: { message?: unknown; type?: unknown; param?: unknown; code?: unknown } };
  try {
    j = JSON.parse(body);
  } catch {
    assert.fail(`${what}: the ${status} body is not JSON: ${body.slice(0, 200)}`);
  }
  assert.ok(j.error, `${what}: no error object in ${body.slice(0, 200)}`);
  assert.equal(typeof j.error.message, "string", what);
  assert.ok((j.error.message as string).length > 0, what);
  assert.equal(typeof j.error.type, "string", what);
  assert.ok("param" in j.error && "code" in j.error, `${what}: error object lacks param/code`);
}

test("GET /v1/models lists the one model in OpenAI's shape, with its card under slm", async () => {
  const backend = new FakeBackend();
  const app = buildApp({ backend });
  const r = await app.inject({ method: "GET", url: "/v1/models" });
  assert.equal(r.statusCode, 200);
  const j = r.json();
  assert.equal(j.object, "list");
  assert.equal(j.data.length, 1);
  assert.deepEqual(j.data[0], { id: MODEL, object: "model", created: backend.card.created, owned_by: "slmkit", slm: backend.card });
  const one = await app.inject({ method: "GET", url: `/v1/models/${MODEL}` });
  assert.deepEqual(one.json(), j.data[0]);
  const h = await app.inject({ method: "GET", url: "/health" });
  assert.equal(h.json().status, "ok");
  await app.close();
});

test("chat completion: OpenAI shape, usage, finish_reason stop and length, stop strings", async () => {
  const backend = new FakeBackend();
  const app = buildApp({ backend });
  const r = await post(app, "/v1/chat/completions", chatBody({ temperature: 0, top_k: 5, seed: 3, unknown_field: { x: 1 } }));
  assert.equal(r.statusCode, 200, r.body);
  const j = r.json();
  const expected = fakeReplyFor({ kind: "chat", messages: [{ role: "user", content: "hello" }] });
  assert.match(j.id, /^chatcmpl-/);
  assert.equal(j.object, "chat.completion");
  assert.equal(j.model, MODEL);
  assert.equal(typeof j.created, "number");
  assert.deepEqual(j.choices, [{ index: 0, message: { role: "assistant", content: expected, refusal: null }, logprobs: null, finish_reason: "stop" }]);
  const seen = backend.seen.at(-1)!;
  assert.deepEqual(seen.sampling, { temperature: 0, topK: 5, seed: 3 });
  assert.equal(j.usage.completion_tokens, expected.length);
  assert.equal(j.usage.total_tokens, j.usage.prompt_tokens + j.usage.completion_tokens);
  assert.ok(j.usage.prompt_tokens > 0);

  const cut = await post(app, "/v1/chat/completions", chatBody({ max_tokens: 4 }));
  assert.equal(cut.json().choices[0].message.content, expected.slice(0, 4));
  assert.equal(cut.json().choices[0].finish_reason, "length");
  const mct = await post(app, "/v1/chat/completions", chatBody({ max_completion_tokens: 3, max_tokens: 9 }));
  assert.equal(mct.json().choices[0].message.content, expected.slice(0, 3));

  const st = await post(app, "/v1/chat/completions", chatBody({ stop: "to" }));
  assert.equal(st.json().choices[0].message.content, expected.slice(0, expected.indexOf("to")));
  assert.equal(st.json().choices[0].finish_reason, "stop");
  await app.close();
});

test("chat streaming: role chunk, content deltas that add up to the full answer, finish chunk, usage chunk, [DONE]", async () => {
  const app = buildApp({ backend: new FakeBackend() });
  const full = (await post(app, "/v1/chat/completions", chatBody())).json();
  const r = await post(app, "/v1/chat/completions", chatBody({ stream: true, stream_options: { include_usage: true } }));
  assert.equal(r.statusCode, 200);
  assert.match(String(r.headers["content-type"]), /^text\/event-stream/);
  const events = sseData(r.body);
  assert.equal(events.at(-1), "[DONE]");
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  for (const c of chunks) {
    assert.equal(c.object, "chat.completion.chunk");
    assert.equal(c.id, chunks[0].id);
    assert.equal(c.model, MODEL);
  }
  assert.deepEqual(chunks[0].choices[0].delta, { role: "assistant", content: "" });
  const usageChunk = chunks.at(-1);
  assert.deepEqual(usageChunk.choices, []);
  assert.deepEqual(usageChunk.usage, full.usage);
  const finish = chunks.at(-2);
  assert.equal(finish.choices[0].finish_reason, "stop");
  assert.deepEqual(finish.choices[0].delta, {});
  const text = chunks
    .slice(1, -2)
    .map((c) => {
      assert.equal(c.choices[0].finish_reason, null);
      return c.choices[0].delta.content;
    })
    .join("");
  assert.equal(text, full.choices[0].message.content);
  assert.ok(chunks.length > 5, "expected one chunk per piece of text");
  // Without include_usage no chunk carries usage.
  const plain = sseData((await post(app, "/v1/chat/completions", chatBody({ stream: true }))).body);
  assert.ok(plain.slice(0, -1).every((e) => !("usage" in JSON.parse(e))));
  await app.close();
});

test("text completions: default max_tokens 16, echo, streaming text chunks", async () => {
  const app = buildApp({ backend: new FakeBackend() });
  const prompt = "a long prompt to continue";
  const expected = fakeReplyFor({ kind: "text", prompt });
  const r = await post(app, "/v1/completions", { model: MODEL, prompt });
  assert.equal(r.statusCode, 200, r.body);
  const j = r.json();
  assert.equal(j.object, "text_completion");
  assert.match(j.id, /^cmpl-/);
  assert.deepEqual(j.choices, [{ index: 0, text: expected.slice(0, 16), logprobs: null, finish_reason: "length" }]);
  assert.deepEqual(j.usage, {
    prompt_tokens: prompt.length,
    completion_tokens: 16,
    total_tokens: prompt.length + 16,
    prompt_tokens_details: { cached_tokens: 0 },
  });
  const echo = await post(app, "/v1/completions", { model: MODEL, prompt: [prompt], max_tokens: 5, echo: true });
  assert.equal(echo.json().choices[0].text, prompt + expected.slice(0, 5));
  const s = await post(app, "/v1/completions", { model: MODEL, prompt: "short", max_tokens: 30, stream: true });
  const events = sseData(s.body);
  assert.equal(events.at(-1), "[DONE]");
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  assert.ok(chunks.every((c) => c.object === "text_completion"));
  assert.equal(chunks.map((c) => c.choices[0].text).join(""), fakeReplyFor({ kind: "text", prompt: "short" }));
  assert.equal(chunks.at(-1).choices[0].finish_reason, "stop");
  await app.close();
});

test("embeddings: one vector per input, float and base64 encodings agree, usage counts the inputs", async () => {
  const backend = new FakeBackend();
  const app = buildApp({ backend });
  const inputs = ["first text", "second"];
  const f = await post(app, "/v1/embeddings", { model: MODEL, input: inputs });
  assert.equal(f.statusCode, 200, f.body);
  const j = f.json();
  const lib = await backend.embed(inputs);
  assert.equal(j.object, "list");
  assert.equal(j.model, MODEL);
  assert.deepEqual(
    j.data.map((d: { object: string; index: number }) => [d.object, d.index]),
    [
      ["embedding", 0],
      ["embedding", 1],
    ],
  );
  assert.deepEqual(j.data[0].embedding, lib.embeddings[0]);
  assert.deepEqual(j.usage, { prompt_tokens: lib.promptTokens, total_tokens: lib.promptTokens });
  const b = (await post(app, "/v1/embeddings", { model: MODEL, input: "first text", encoding_format: "base64" })).json();
  const buf = Buffer.from(b.data[0].embedding, "base64");
  const v = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  assert.deepEqual([...v], [...Float32Array.from(lib.embeddings[0]!)]);
  await app.close();
});

test("bad-input suite: every malformed request gets its 4xx and an OpenAI error object; the app is healthy afterwards", async () => {
  const backend = new FakeBackend();
  const app = buildApp({ backend, webRoot: join(tmp, "none") });
  const cases = badRequests(MODEL, backend.card.contextLength);
  assert.ok(cases.length >= 30, `only ${cases.length} cases`);
  for (const c of cases) {
    const r = await app.inject({
      method: c.method,
      url: c.url,
      headers: c.headers,
      payload: c.body === undefined ? undefined : typeof c.body === "string" ? c.body : JSON.stringify(c.body),
    });
    assert.equal(r.statusCode, c.status, `${c.what}: got ${r.statusCode} ${r.body.slice(0, 300)}`);
    assertApiError(r.body, r.statusCode, c.what);
  }
  // Messages name the field at fault.
  const t = (await post(app, "/v1/chat/completions", chatBody({ temperature: "hot" }))).json();
  assert.match(t.error.message, /temperature/);
  assert.equal(t.error.param, "temperature");
  const m = (await post(app, "/v1/chat/completions", { model: "nope", messages: [{ role: "user", content: "x" }] })).json();
  assert.equal(m.error.code, "model_not_found");
  const ctx = (await post(app, "/v1/chat/completions", chatBody({ max_tokens: 1000 }))).json();
  assert.equal(ctx.error.code, "context_length_exceeded");
  assert.match(ctx.error.message, /64 tokens/);
  const h = await app.inject({ method: "GET", url: "/health" });
  assert.equal(h.statusCode, 200);
  const ok = await post(app, "/v1/chat/completions", chatBody());
  assert.equal(ok.statusCode, 200);
  await app.close();
});

test("a full queue answers 429 with Retry-After (streaming too, before any event); the queue gauge shows waiting requests", async () => {
  const backend = new FakeBackend({ maxConcurrency: 1, maxQueue: 1, msPerToken: 5 });
  const app = buildApp({ backend });
  const first = post(app, "/v1/chat/completions", chatBody());
  const second = post(app, "/v1/chat/completions", chatBody());
  for (let i = 0; i < 200 && backend.stats().queued === 0; i++) await new Promise((r) => setTimeout(r, 5));
  const metricsWhileBusy = (await app.inject({ method: "GET", url: "/metrics" })).body;
  assert.match(metricsWhileBusy, /^slm_queue_depth 1$/m);
  assert.match(metricsWhileBusy, /^slm_active_generations 1$/m);
  const third = await post(app, "/v1/chat/completions", chatBody());
  assert.equal(third.statusCode, 429);
  assert.equal(third.headers["retry-after"], "2");
  assertApiError(third.body, 429, "overloaded");
  assert.equal(third.json().error.type, "rate_limit_error");
  const streamed = await post(app, "/v1/chat/completions", chatBody({ stream: true }));
  assert.equal(streamed.statusCode, 429);
  assertApiError(streamed.body, 429, "overloaded stream");
  assert.equal((await first).statusCode, 200);
  assert.equal((await second).statusCode, 200);
  const after = (await app.inject({ method: "GET", url: "/metrics" })).body;
  assert.match(after, /^slm_http_requests_total\{method="POST",route="\/v1\/chat\/completions",status="429"\} 2$/m);
  assert.match(after, /^slm_rejected_requests_total\{reason="overloaded"\} 2$/m);
  await app.close();
});

test("bearer API key: 401 with an error object without it or with a wrong one; /health and the web UI stay open", async () => {
  mkdirSync(join(tmp, "web-auth"), { recursive: true });
  writeFileSync(join(tmp, "web-auth", "index.html"), "<!doctype html><title>ui</title>");
  const app = buildApp({ backend: new FakeBackend(), apiKey: "sk-test-123", webRoot: join(tmp, "web-auth") });
  for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: "sk-test-123" }, { authorization: "Basic c2stdGVzdC0xMjM=" }]) {
    const r = await app.inject({ method: "GET", url: "/v1/models", headers });
    assert.equal(r.statusCode, 401, JSON.stringify(headers));
    assertApiError(r.body, 401, "auth");
    assert.equal(r.json().error.code, "invalid_api_key");
  }
  assert.equal((await post(app, "/v1/chat/completions", chatBody())).statusCode, 401);
  assert.equal((await app.inject({ method: "GET", url: "/metrics" })).statusCode, 401);
  assert.equal((await app.inject({ method: "GET", url: "/v1/models", headers: { authorization: "Bearer sk-test-123" } })).statusCode, 200);
  assert.equal((await post(app, "/v1/chat/completions", chatBody(), { authorization: "Bearer sk-test-123" })).statusCode, 200);
  assert.equal((await app.inject({ method: "GET", url: "/health" })).statusCode, 200);
  assert.equal((await app.inject({ method: "GET", url: "/" })).statusCode, 200);
  await app.close();
});

test("a client that disconnects mid-stream cancels its generation; a timeout answers 504 and cancels too", async () => {
  const backend = new FakeBackend({ msPerToken: 20, contextLength: 256 });
  const app = buildApp({ backend, requestTimeoutMs: 150 });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const body = JSON.stringify(chatBody({ stream: true, messages: [{ role: "user", content: "a question long enough to take a while to answer" }] }));
  await new Promise<void>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/v1/chat/completions", method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      assert.equal(res.statusCode, 200);
      res.once("data", () => {
        req.destroy();
        resolve();
      });
    });
    req.on("error", (e) => (e.message.includes("socket hang up") || (e as NodeJS.ErrnoException).code === "ECONNRESET" ? undefined : reject(e)));
    req.end(body);
  });
  const seen = backend.seen.at(-1)!;
  for (let i = 0; i < 100 && !seen.signal!.aborted; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(seen.signal!.aborted, true, "the generation's signal did not fire on disconnect");
  // The generation stopped early: the backend has no active request left.
  for (let i = 0; i < 100 && backend.stats().active > 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(backend.stats().active, 0);

  const slow = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(chatBody({ messages: [{ role: "user", content: "x".repeat(40) }] })),
  });
  assert.equal(slow.status, 504);
  const j = (await slow.json()) as { error: { code: string } };
  assert.equal(j.error.code, "timeout");
  assert.equal(backend.seen.at(-1)!.signal!.aborted, true);
  await app.close();
});

test("GET /metrics: Prometheus text with request counters, token counters and latency histograms", async () => {
  const app = buildApp({ backend: new FakeBackend() });
  await post(app, "/v1/chat/completions", chatBody());
  await post(app, "/v1/chat/completions", chatBody({ stream: true }));
  await post(app, "/v1/completions", { model: MODEL, prompt: "abc", max_tokens: 3 });
  await app.inject({ method: "GET", url: "/nope" });
  const r = await app.inject({ method: "GET", url: "/metrics" });
  assert.equal(r.statusCode, 200);
  assert.match(String(r.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
  const t = r.body;
  assert.match(t, /^# TYPE slm_http_requests_total counter$/m);
  assert.match(t, /^slm_http_requests_total\{method="POST",route="\/v1\/chat\/completions",status="200"\} 2$/m);
  assert.match(t, /^slm_http_requests_total\{method="GET",route="unmatched",status="404"\} 1$/m);
  assert.match(t, /^slm_completion_tokens_total\{endpoint="completions"\} 3$/m);
  const expected = fakeReplyFor({ kind: "chat", messages: [{ role: "user", content: "hello" }] }).length;
  assert.match(t, new RegExp(`^slm_completion_tokens_total\\{endpoint="chat"\\} ${2 * expected}$`, "m"));
  assert.match(t, /^# TYPE slm_http_request_duration_seconds histogram$/m);
  assert.match(t, /^slm_http_request_duration_seconds_count\{route="\/v1\/chat\/completions"\} 2$/m);
  assert.match(t, /^slm_http_request_duration_seconds_bucket\{route="\/v1\/chat\/completions",le="\+Inf"\} 2$/m);
  assert.match(t, /^slm_time_to_first_token_seconds_count 1$/m);
  assert.match(t, /^slm_queue_depth 0$/m);
  await app.close();
});

test("web UI: / serves index.html, /web/<file> its assets with content types; no traversal; none installed → 404 JSON", async () => {
  const root = join(tmp, "web");
  mkdirSync(join(root, "css"), { recursive: true });
  writeFileSync(join(root, "index.html"), "<!doctype html><title>slm</title>");
  writeFileSync(join(root, "app.js"), "console.log(1)");
  writeFileSync(join(root, "css", "site.css"), "body{}");
  writeFileSync(join(root, ".secret"), "no");
  writeFileSync(join(tmp, "outside.txt"), "outside");
  const app = buildApp({ backend: new FakeBackend(), webRoot: root });
  const index = await app.inject({ method: "GET", url: "/" });
  assert.equal(index.statusCode, 200);
  assert.match(String(index.headers["content-type"]), /^text\/html/);
  assert.equal(index.body, "<!doctype html><title>slm</title>");
  const js = await app.inject({ method: "GET", url: "/web/app.js" });
  assert.match(String(js.headers["content-type"]), /^text\/javascript/);
  assert.equal(js.body, "console.log(1)");
  const css = await app.inject({ method: "GET", url: "/web/css/site.css" });
  assert.match(String(css.headers["content-type"]), /^text\/css/);
  for (const url of ["/web/.secret", "/web/../outside.txt", "/web/%2e%2e/outside.txt", "/web/css/../../outside.txt", "/web/missing.js", "/web/"]) {
    const r = await app.inject({ method: "GET", url });
    assert.equal(r.statusCode, 404, url);
    assertApiError(r.body, 404, url);
  }
  await app.close();
  const none = buildApp({ backend: new FakeBackend(), webRoot: join(tmp, "does-not-exist") });
  const r = await none.inject({ method: "GET", url: "/" });
  assert.equal(r.statusCode, 404);
  assertApiError(r.body, 404, "no web UI");
  await none.close();
});

test("the official openai client reads our shapes (scripted backend): chat, stream, completions, embeddings, models, errors", async () => {
  const backend = new FakeBackend();
  const app = buildApp({ backend, apiKey: "k" });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const client = new OpenAI({ apiKey: "k", baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
  const c = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hello" }] });
  const expected = fakeReplyFor({ kind: "chat", messages: [{ role: "user", content: "hello" }] });
  assert.equal(c.choices[0]!.message.content, expected);
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: "user", content: "hello" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage: unknown;
  for await (const ch of stream) {
    text += ch.choices[0]?.delta.content ?? "";
    if (ch.usage) usage = ch.usage;
  }
  assert.equal(text, expected);
  assert.deepEqual(usage, c.usage);
  const e = await client.embeddings.create({ model: MODEL, input: ["abc"] });
  assert.equal(e.data[0]!.embedding.length, backend.card.dModel);
  const models = await client.models.list();
  assert.deepEqual(
    models.data.map((m) => m.id),
    [MODEL],
  );
  await assert.rejects(client.chat.completions.create({ model: "other", messages: [{ role: "user", content: "x" }] }), (err: unknown) => {
    assert.ok(err instanceof OpenAI.NotFoundError);
    assert.equal(err.code, "model_not_found");
    return true;
  });
  const noKey = new OpenAI({ apiKey: "wrong", baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
  await assert.rejects(noKey.models.list(), OpenAI.AuthenticationError);
  await app.close();
});
