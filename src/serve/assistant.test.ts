// The served assistant (`slm serve --index`): over a scripted backend that
// answers from the grounded prompt it is given (so the test checks what the
// server built and how it maps [n] back to sources), through the official
// openai client: the assistant listed in /v1/models, citations in
// non-streaming answers and on the final streamed chunk, the not-found path
// (no model call), the extractive and reader answerers, the section routes (JSON, page,
// unknown id, no index), refused uses of the assistant id, and a bad index
// path. Then once end to end through the worker backend on a tiny random model.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import OpenAI from "openai";

import { HashEmbedder } from "../assistant/embed.ts";
import { answerConfidence } from "../assistant/confidence.ts";
import { buildIndex, SectionIndex } from "../assistant/index-db.ts";
import { retrieve } from "../assistant/retrieve.ts";
import type { CitationJson } from "../assistant/served.ts";
import { TINY_HANDBOOK, writeTinyDataset, tinyTokenizer } from "../assistant/testing.ts";
import { NotFoundError } from "../errors.ts";
import { saveModelDir } from "../formats/hf-dir.ts";
import { saveReaderDir } from "../formats/reader-dir.ts";
import { ReaderModel } from "../models/reader.ts";
import { Rng } from "../util/rng.ts";
import { createModel, presetConfig } from "../models/index.ts";
import type { GenerationRequest, GenerationResult } from "./backend.ts";
import { startServer, type RunningServer } from "./server.ts";
import { FakeBackend, sseData } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-serve-assist-"));
const indexPath = join(dir, "hb.index");
buildIndex({ dataset: writeTinyDataset(join(dir, "ds")), out: indexPath, embedder: new HashEmbedder(64) });
const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

const ANNUAL = "How many days of annual leave do full-time staff earn?";
const ABSENT = "What is the sabbatical policy for astronauts on Mars?";

/** Answers "25 days [n]" where n is the number the prompt gave the annual-leave section, else says not found. */
class GroundedFake extends FakeBackend {
  readonly prompts: string[] = [];
  constructor(o: ConstructorParameters<typeof FakeBackend>[0]) {
    super(o);
    // It writes grounded answers: the "auto" answerer lets it.
    this.card.writesAnswers = { ok: true, reason: "a scripted grounded writer" };
  }
  override async generate(req: GenerationRequest): Promise<GenerationResult> {
    const prompt = req.input.kind === "text" ? req.input.prompt : req.input.messages.map((m) => m.content).join("\n");
    this.prompts.push(prompt);
    const m = /^\[(\d+)\] hb\/leave\.md — Leave › Annual leave$/m.exec(prompt);
    const reply = m ? `25 days [${m[1]}]` : "not found in the documents";
    return super.generate({ ...req, input: { kind: "text", prompt: reply } });
  }
}

async function serve(
  opts: { index?: string; answerer?: "model" | "extractive"; reader?: string; backend?: FakeBackend; minConfidence?: number } = {},
): Promise<{ server: RunningServer; backend: FakeBackend; client: OpenAI }> {
  const backend = opts.backend ?? new GroundedFake({ contextLength: 4096 });
  const server = await startServer({ modelDir: "unused", port: 0, createBackend: async () => backend, ...opts });
  servers.push(server);
  return { server, backend, client: new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 }) };
}

type CitationOut = CitationJson;

test("assistant: listed after the model; a grounded answer cites the section, streamed or not", async () => {
  const { server, backend, client } = await serve({ index: indexPath });
  const fake = backend as GroundedFake;
  const models = await client.models.list();
  assert.deepEqual(
    models.data.map((m) => m.id),
    ["fake-model", "fake-model-assistant"],
  );
  assert.equal(server.assistantId, "fake-model-assistant");
  const card = (models.data[1] as unknown as { slm: { assistant: { sections: number; answerer: string } } }).slm;
  assert.equal(card.assistant.sections, TINY_HANDBOOK.length);
  assert.equal(card.assistant.answerer, "model");
  assert.equal((await client.models.retrieve("fake-model-assistant")).id, "fake-model-assistant");

  const r = await client.chat.completions.create({
    model: "fake-model-assistant",
    messages: [
      { role: "user", content: "hello" },
      { role: "assistant", content: "hi" },
      { role: "user", content: ANNUAL },
    ],
  });
  assert.equal(r.model, "fake-model-assistant");
  const prompt = fake.prompts.at(-1)!;
  assert.match(prompt, /^Answer the question using only the sources below/);
  assert.ok(prompt.includes(`Question: ${ANNUAL}`), "the last user message is the question");
  assert.ok(!prompt.includes("Question: hello"));
  const n = Number(/^\[(\d+)\] hb\/leave\.md — Leave › Annual leave$/m.exec(prompt)![1]);
  assert.equal(r.choices[0]!.message.content, `reply to 25 days [${n}].`);
  const cites = (r as unknown as { citations: CitationOut[]; not_found: boolean }).citations;
  assert.equal((r as unknown as { not_found: boolean }).not_found, false);
  assert.equal(cites.length, 1);
  assert.equal(cites[0]!.n, n);
  assert.equal(cites[0]!.source_path, "hb/leave.md");
  assert.equal(cites[0]!.heading_path, "Leave › Annual leave");
  assert.equal(cites[0]!.url, `/sections/${encodeURIComponent(cites[0]!.section_id)}`);
  assert.ok(r.usage!.prompt_tokens > 0 && r.usage!.prompt_tokens + 128 <= 4096, "the prompt was fitted beside the default 128-token budget");

  // Streaming: the same text; the citations arrive on the chunk with finish_reason.
  const stream = await client.chat.completions.create({ model: "fake-model-assistant", messages: [{ role: "user", content: ANNUAL }], stream: true });
  let text = "";
  let final: unknown;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? "";
    if (chunk.choices[0]?.finish_reason) final = chunk;
    else assert.equal((chunk as unknown as { citations?: unknown }).citations, undefined);
  }
  assert.equal(text, r.choices[0]!.message.content);
  assert.deepEqual((final as { citations: CitationOut[] }).citations, cites);

  // The cited section, as JSON and as a page.
  const sec = (await (await fetch(`${server.url}/v1/sections/${encodeURIComponent(cites[0]!.section_id)}`)).json()) as {
    id: string;
    source_path: string;
    heading_path: string;
    text: string;
  };
  assert.equal(sec.id, cites[0]!.section_id);
  assert.equal(sec.source_path, "hb/leave.md");
  assert.equal(sec.heading_path, "Leave › Annual leave");
  assert.equal(sec.text, TINY_HANDBOOK[1]!.text);
  const page = await fetch(server.url + cites[0]!.url);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type")!, /^text\/html/);
  assert.match(await page.text(), /section\.js/);
});

test("assistant: the model path gates on the answer confidence, not on word coverage", async () => {
  const index = SectionIndex.open(indexPath);
  const r = retrieve(index, ANNUAL);
  const c = answerConfidence(index, ANNUAL, r).confidence;
  index.close();
  assert.equal(r.confidence, 1, "every word of the question is in a top section");
  assert.ok(c > 0.01 && c < 0.99, `answer confidence ${c}`);
  const ask = async (minConfidence: number) => {
    const { backend, client } = await serve({ index: indexPath, minConfidence });
    const before = backend.seen.length;
    const res = await client.chat.completions.create({ model: "fake-model-assistant", messages: [{ role: "user", content: ANNUAL }] });
    return { text: res.choices[0]!.message.content, generated: backend.seen.length > before };
  };
  const low = await ask(c - 0.005);
  assert.ok(low.generated && /25 days \[1\]/.test(low.text ?? ""), `generated: ${low.text}`);
  assert.deepEqual(await ask(c + 0.005), { text: "Not found in the documents.", generated: false });
});

test("assistant: low confidence says not found without calling the model; bad uses are 4xx error objects", async () => {
  const { server, backend, client } = await serve({ index: indexPath });
  const before = backend.seen.length;
  const r = await client.chat.completions.create({ model: "fake-model-assistant", messages: [{ role: "user", content: ABSENT }] });
  assert.equal(r.choices[0]!.message.content, "Not found in the documents.");
  assert.deepEqual((r as unknown as { citations: unknown[] }).citations, []);
  assert.equal((r as unknown as { not_found: boolean }).not_found, true);
  assert.equal(backend.seen.length, before, "no generation for a not-found answer");
  // Streamed too: the phrase, then a final chunk with empty citations.
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "fake-model-assistant", messages: [{ role: "user", content: ABSENT }], stream: true }),
  });
  const events = sseData(await res.text());
  assert.equal(events.at(-1), "[DONE]");
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""), "Not found in the documents.");
  assert.deepEqual(chunks.at(-1).citations, []);
  assert.equal(backend.seen.length, before);

  const post = (url: string, body: unknown) =>
    fetch(server.url + url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const cases: [string, Promise<Response>, number, string][] = [
    ["unknown section id", fetch(`${server.url}/v1/sections/${encodeURIComponent("d999#9")}`), 404, "section_not_found"],
    ["unknown section page", fetch(`${server.url}/sections/${encodeURIComponent("d999#9")}`), 404, "section_not_found"],
    ["assistant on /v1/completions", post("/v1/completions", { model: "fake-model-assistant", prompt: "x" }), 400, "invalid_request"],
    ["assistant on /v1/embeddings", post("/v1/embeddings", { model: "fake-model-assistant", input: "x" }), 400, "invalid_request"],
    [
      "no user message",
      post("/v1/chat/completions", { model: "fake-model-assistant", messages: [{ role: "system", content: "be brief" }] }),
      400,
      "invalid_request",
    ],
    ["blank question", post("/v1/chat/completions", { model: "fake-model-assistant", messages: [{ role: "user", content: "   " }] }), 400, "invalid_request"],
    ["unknown model", post("/v1/chat/completions", { model: "nope-assistant", messages: [{ role: "user", content: "x" }] }), 404, "model_not_found"],
  ];
  for (const [what, p, status, code] of cases) {
    const res = await p;
    assert.equal(res.status, status, what);
    const body = (await res.json()) as { error: { code: string; message: unknown } };
    assert.equal(body.error.code, code, what);
    assert.equal(typeof body.error.message, "string", what);
  }
});

test("assistant: the extractive answerer cites without the model", async () => {
  const { backend, client } = await serve({ index: indexPath, answerer: "extractive" });
  const r = await client.chat.completions.create({ model: "fake-model-assistant", messages: [{ role: "user", content: ANNUAL }] });
  assert.match(r.choices[0]!.message.content!, /25 days of annual leave.*\[1\]$/);
  const cites = (r as unknown as { citations: CitationOut[] }).citations;
  assert.equal(cites[0]!.heading_path, "Leave › Annual leave");
  assert.equal(backend.seen.length, 0);
});

test("assistant: --reader answers with a sentence the reader picks, cited, without the model; a bad reader fails at start", async () => {
  const tok = await tinyTokenizer(300);
  const readerDir = join(dir, "reader");
  saveReaderDir(
    readerDir,
    new ReaderModel(
      presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 1, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 160 }),
      new Rng(1),
    ),
    tok,
  );
  const { backend, client } = await serve({ index: indexPath, reader: readerDir });
  const r = await client.chat.completions.create({ model: "fake-model-assistant", messages: [{ role: "user", content: ANNUAL }] });
  const text = r.choices[0]!.message.content!;
  const m = /^(.+) \[(\d)\]$/.exec(text);
  assert.ok(m, text);
  const cites = (r as unknown as { citations: CitationOut[] }).citations;
  assert.equal(cites.length, 1);
  assert.equal(cites[0]!.n, Number(m[2]));
  assert.ok(
    TINY_HANDBOOK.some((sec) => sec.text.includes(m[1]!) && sec.source === cites[0]!.source_path),
    `${m[1]} is a sentence of ${cites[0]!.source_path}`,
  );
  assert.equal(backend.seen.length, 0);
  await assert.rejects(serve({ index: indexPath, reader: join(dir, "no-such-reader") }), /reader\.json/);
});

test("no index: one model, the section routes are 404 error objects; a bad index path fails before the model loads", async () => {
  const { server, client } = await serve();
  assert.deepEqual(
    (await client.models.list()).data.map((m) => m.id),
    ["fake-model"],
  );
  for (const url of ["/v1/sections/d000%230", "/sections/d000%230"]) {
    const res = await fetch(server.url + url);
    assert.equal(res.status, 404, url);
    assert.equal(((await res.json()) as { error: { type: string } }).error.type, "not_found_error", url);
  }
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "fake-model-assistant", messages: [{ role: "user", content: ANNUAL }] }),
  });
  assert.equal(res.status, 404);
  let loaded = false;
  await assert.rejects(
    startServer({ modelDir: "unused", port: 0, index: join(dir, "missing.index"), createBackend: async () => ((loaded = true), new FakeBackend()) }),
    (e: unknown) => e instanceof NotFoundError && /index not found/.test(e.message),
  );
  assert.equal(loaded, false);
});

test("assistant end to end: the worker backend generates from the fitted grounded prompt", async () => {
  const tok = await tinyTokenizer(320);
  const config = presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 512 });
  const modelDir = join(dir, "tiny");
  saveModelDir(modelDir, createModel(config, 3), { tokenizer: tok });
  const server = await startServer({ modelDir, port: 0, index: indexPath, maxConcurrency: 2, answerer: "model" });
  servers.push(server);
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  const r = await client.chat.completions.create({ model: server.assistantId!, messages: [{ role: "user", content: ANNUAL }], max_tokens: 16 });
  assert.equal(r.model, server.assistantId);
  assert.ok(r.usage!.prompt_tokens > 40, `a grounded prompt, not the bare question (${r.usage!.prompt_tokens} tokens)`);
  assert.ok(r.usage!.prompt_tokens + 16 <= 512, "fitted into the context");
  assert.ok(r.usage!.completion_tokens <= 16);
  const cites = (r as unknown as { citations: CitationOut[] }).citations;
  assert.ok(Array.isArray(cites), "citations present (a random model may cite nothing)");
  for (const c of cites) assert.ok(/\[\d+\]/.test(r.choices[0]!.message.content!) && c.url.startsWith("/sections/"));
});

test("assistant, auto answerer: a pretrained model does not write answers (cited extract); a grounded-qa fine-tune does", async () => {
  const tok = await tinyTokenizer(320);
  const config = presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 512 });
  const pretrained = join(dir, "pretrained");
  const tuned = join(dir, "tuned");
  saveModelDir(pretrained, createModel(config, 3), { tokenizer: tok });
  saveModelDir(tuned, createModel(config, 3), { tokenizer: tok, generation: { slm_finetune_task: "grounded-qa" } });
  type Answer = { citations: CitationOut[]; answered_by: { method: string; reason: string } };
  const ask = async (modelDir: string) => {
    const server = await startServer({ modelDir, port: 0, index: indexPath, maxConcurrency: 1 });
    servers.push(server);
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const card = (await client.models.retrieve(server.assistantId!)) as unknown as { slm: { assistant: { answerer: string; answerer_reason: string } } };
    const r = await client.chat.completions.create({ model: server.assistantId!, messages: [{ role: "user", content: ANNUAL }], max_tokens: 16 });
    return { card: card.slm.assistant, r: r as unknown as Answer & typeof r };
  };
  const p = await ask(pretrained);
  assert.equal(p.card.answerer, "extractive");
  assert.match(p.card.answerer_reason, /pretrained model, not trained to answer/);
  assert.equal(p.r.answered_by.method, "extractive");
  assert.match(p.r.choices[0]!.message.content!, /25 days.*\[1\]/, "the handbook's own sentence, cited");
  assert.equal(p.r.citations[0]!.source_path, "hb/leave.md");
  assert.equal(p.r.usage!.completion_tokens, 0, "no token generated");
  const t = await ask(tuned);
  assert.equal(t.card.answerer, "model");
  assert.match(t.card.answerer_reason, /grounded-qa/);
  assert.equal(t.r.answered_by.method, "model");
  assert.ok(t.r.usage!.completion_tokens > 0);
});
