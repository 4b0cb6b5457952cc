// Tests of startServer. Over a scripted backend: binds loopback by default,
// reports its URL, refuses a port in use with a clear error, and closes
// gracefully (a running streamed request completes; new connections are
// refused). End to end over the worker backend on a tiny random model: the
// official openai client (chat, completions, streaming, embeddings, models,
// errors, 401), the bad-input suite, and `slm serve` exiting 0 on SIGTERM.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import OpenAI from "openai";

import { ConfigError } from "../errors.ts";
import { saveModelDir } from "../formats/hf-dir.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { trainBpe, type Tokenizer } from "../tokenizer/index.ts";
import { startServer, type RunningServer } from "./server.ts";
import { badRequests, FakeBackend, fakeReplyFor, sseData } from "./testing.ts";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

test("startServer: loopback URL, port in use → ConfigError, graceful close lets a running stream finish", async () => {
  const backend = new FakeBackend({ msPerToken: 10, contextLength: 256 });
  const lines: string[] = [];
  const server = await startServer({ modelDir: "unused", port: 0, createBackend: async () => backend, onLog: (l) => lines.push(l) });
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(server.card.id, backend.card.id);
  const port = Number(new URL(server.url).port);
  await assert.rejects(
    startServer({ modelDir: "unused", port, createBackend: async () => new FakeBackend() }),
    (e: unknown) => e instanceof ConfigError && /already in use/.test(e.message),
  );

  const content = "a question that takes a while";
  const running = fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: backend.card.id, messages: [{ role: "user", content }], stream: true }),
  });
  const res = await running;
  assert.equal(res.status, 200);
  const bodyText = res.text();
  const closed = server.close();
  assert.equal(server.close(), closed, "close() is idempotent");
  const events = sseData(await bodyText);
  assert.equal(events.at(-1), "[DONE]");
  const text = events
    .slice(0, -1)
    .map((e) => JSON.parse(e).choices[0].delta.content ?? "")
    .join("");
  assert.equal(text, fakeReplyFor({ kind: "chat", messages: [{ role: "user", content }] }));
  await closed;
  assert.equal(backend.closed, true);
  await assert.rejects(fetch(`${server.url}/health`));
  assert.ok(lines.some((l) => l.startsWith("serving fake-model at http://127.0.0.1:")));
  assert.ok(lines.some((l) => /^POST \/v1\/chat\/completions 200 /.test(l)));
});

// ---- End to end: the worker backend on a tiny random model, through the official openai client.

const dir = mkdtempSync(join(tmpdir(), "slm-serve-e2e-"));
const modelDir = join(dir, "tiny-chat");
const KEY = "sk-e2e-key";
let live: RunningServer | undefined;
let tok: Tokenizer;
const SENTENCES = ["the cat sat on the mat.", "the dog sat on the log.", "a bird sang in the tree.", "hello there, how are you?", "i am fine, thank you."];

before(async () => {
  tok = await trainBpe(
    (function* () {
      for (let i = 0; i < 20; i++) yield* SENTENCES;
    })(),
    { vocabSize: 300 },
  );
  const config = presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 96 });
  const model = createModel(config, 5);
  // Scaled-up weights: a default-init random model only repeats its last token.
  for (const [name, p] of model.namedParameters()) if (!/norm/.test(name)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 20;
  saveModelDir(modelDir, model, { tokenizer: tok });
  live = await startServer({ modelDir, port: 0, apiKey: KEY, maxConcurrency: 4, maxQueue: 8 });
});
after(async () => {
  await live?.close();
  rmSync(dir, { recursive: true, force: true });
});

const client = () => new OpenAI({ apiKey: KEY, baseURL: `${live!.url}/v1`, maxRetries: 0 });

test("e2e openai client: models (with the card), chat and completions streamed and not, embeddings, error objects, 401", async () => {
  const c = client();
  const models = await c.models.list();
  assert.equal(models.data.length, 1);
  const m = models.data[0]! as unknown as { id: string; object: string; slm: { contextLength: number; vocabSize: number; dModel: number; layers: number } };
  assert.equal(m.id, "tiny-chat");
  assert.equal(m.object, "model");
  assert.deepEqual([m.slm.contextLength, m.slm.vocabSize, m.slm.dModel, m.slm.layers], [96, tok.vocabSize, 32, 2]);

  const messages = [{ role: "user" as const, content: "hello there" }];
  const chat = await c.chat.completions.create({ model: m.id, messages, max_tokens: 12, temperature: 0 });
  const content = chat.choices[0]!.message.content!;
  assert.equal(typeof content, "string");
  assert.ok(["stop", "length"].includes(chat.choices[0]!.finish_reason));
  assert.ok(chat.usage!.completion_tokens >= 1 && chat.usage!.completion_tokens <= 12);
  assert.ok(chat.usage!.prompt_tokens > 0);
  assert.equal(chat.usage!.total_tokens, chat.usage!.prompt_tokens + chat.usage!.completion_tokens);
  // Streaming gives the same greedy text, and the same usage.
  const stream = await c.chat.completions.create({
    model: m.id,
    messages,
    max_tokens: 12,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let streamed = "";
  let finish: string | null | undefined;
  let usage: unknown;
  for await (const ch of stream) {
    streamed += ch.choices[0]?.delta.content ?? "";
    finish ??= ch.choices[0]?.finish_reason;
    if (ch.usage) usage = ch.usage;
  }
  assert.equal(streamed, content);
  assert.equal(finish, chat.choices[0]!.finish_reason);
  // The same usage, except that the prompt was cached the second time: all but its last token.
  assert.deepEqual(usage, { ...chat.usage, prompt_tokens_details: { cached_tokens: chat.usage!.prompt_tokens - 1 } });

  const comp = await c.completions.create({ model: m.id, prompt: "the cat", max_tokens: 10, temperature: 0 });
  const text = comp.choices[0]!.text;
  assert.ok(comp.usage!.completion_tokens >= 1);
  assert.equal(comp.usage!.prompt_tokens, tok.encode("the cat").length);
  const compStream = await c.completions.create({ model: m.id, prompt: "the cat", max_tokens: 10, temperature: 0, stream: true });
  let compStreamed = "";
  for await (const ch of compStream) compStreamed += ch.choices[0]?.text ?? "";
  assert.equal(compStreamed, text);
  const compAgain = await c.completions.create({ model: m.id, prompt: "the cat", max_tokens: 10, temperature: 0 });
  assert.equal(compAgain.choices[0]!.text, text);
  assert.equal(compAgain.usage!.prompt_tokens_details?.cached_tokens, comp.usage!.prompt_tokens - 1);
  const metrics = await (await fetch(`${live!.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).text();
  assert.match(metrics, /^slm_prompt_cached_tokens_total\{endpoint="completions"\} [1-9]/m);
  assert.match(metrics, /^slm_prompt_cache_hits_total\{endpoint="chat"\} [1-9]/m);
  assert.match(metrics, /^slm_prompt_cache_bytes [1-9]/m);
  // Seeded sampling is reproducible through the API.
  const s1 = await c.completions.create({ model: m.id, prompt: "a bird", max_tokens: 8, temperature: 1, seed: 11 });
  const s2 = await c.completions.create({ model: m.id, prompt: "a bird", max_tokens: 8, temperature: 1, seed: 11 });
  assert.equal(s1.choices[0]!.text, s2.choices[0]!.text);

  // Embeddings: the client's default (base64) and float give the same vectors; distinct inputs differ.
  const eb = await c.embeddings.create({ model: m.id, input: ["the cat sat", "a bird sang"] });
  const ef = await c.embeddings.create({ model: m.id, input: ["the cat sat", "a bird sang"], encoding_format: "float" });
  assert.equal(eb.data.length, 2);
  assert.equal(ef.data[0]!.embedding.length, 32);
  for (let i = 0; i < 2; i++) assert.deepEqual([...eb.data[i]!.embedding], [...Float32Array.from(ef.data[i]!.embedding)]);
  assert.notDeepEqual(ef.data[0]!.embedding, ef.data[1]!.embedding);
  assert.ok(ef.data[0]!.embedding.every((x) => Number.isFinite(x)));
  assert.equal(ef.usage.prompt_tokens, tok.encode("the cat sat").length + tok.encode("a bird sang").length);

  await assert.rejects(
    c.chat.completions.create({ model: "gpt-4o", messages }),
    (e: unknown) => e instanceof OpenAI.NotFoundError && e.code === "model_not_found",
  );
  await assert.rejects(
    c.chat.completions.create({ model: m.id, messages: [] }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && /messages/.test(e.message),
  );
  await assert.rejects(
    c.completions.create({ model: m.id, prompt: "x", max_tokens: 500 }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && e.code === "context_length_exceeded",
  );
  const wrong = new OpenAI({ apiKey: "nope", baseURL: `${live!.url}/v1`, maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  const bare = await fetch(`${live!.url}/v1/models`);
  assert.equal(bare.status, 401);
});

test("e2e bad-input suite: every malformed request to the real server gets its 4xx with an error object; /health is fine afterwards", async () => {
  const cases = badRequests("tiny-chat", 96);
  assert.ok(cases.length >= 30);
  for (const c of cases) {
    const payload = c.body === undefined ? undefined : typeof c.body === "string" ? c.body : JSON.stringify(c.body);
    const res = await fetch(`${live!.url}${c.url}`, { method: c.method, headers: { authorization: `Bearer ${KEY}`, ...c.headers }, body: payload });
    const text = await res.text();
    assert.equal(res.status, c.status, `${c.what}: ${res.status} ${text.slice(0, 300)}`);
    const j = JSON.parse(text) as { error: { message: string; type: string } };
    assert.ok(j.error.message.length > 0 && j.error.type.length > 0, c.what);
  }
  const h = await fetch(`${live!.url}/health`);
  assert.equal(h.status, 200);
  assert.equal(((await h.json()) as { status: string }).status, "ok");
  const ok = await client().chat.completions.create({ model: "tiny-chat", messages: [{ role: "user", content: "hi" }], max_tokens: 4 });
  assert.ok(ok.choices[0]!.message.content !== null);
});

test("slm serve: prints its URL, serves, and exits 0 on SIGTERM", async () => {
  const child = spawn(process.execPath, [join(repoRoot, "bin", "slm.js"), "serve", "--model", modelDir, "--port", "0", "--quiet"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on("line", (line) => {
      const m = /^slm serve: (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`slm serve exited with ${code}: ${err}`)));
  });
  const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string }> };
  assert.equal(models.data[0]!.id, "tiny-chat");
  child.kill("SIGTERM");
  assert.equal(await exited, 0, err);
  assert.match(err, /SIGTERM: shutting down/);
  // Usage errors exit 2 before loading anything.
  const bad = spawn(process.execPath, [join(repoRoot, "bin", "slm.js"), "serve", "--model", modelDir, "--port", "70000"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let badErr = "";
  bad.stderr!.on("data", (d) => (badErr += d));
  assert.equal(await new Promise((r) => bad.once("exit", r)), 2);
  assert.match(badErr, /--port must be <= 65535/);
});
