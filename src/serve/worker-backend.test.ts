// Tests of the inference backends on a tiny random model saved with a trained
// BPE tokenizer in a temp directory: the worker backend produces the same text
// as the local backend for the same seed (text and chat prompts, streamed and
// not), text matches what generate() + the tokenizer give, cancellation through
// an AbortSignal, errors keep their class across the thread boundary
// (UsageError, OverloadedError with retryAfterSeconds, load errors), close()
// with requests in flight, embeddings, and a worker that dies mid-request.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { ConfigError, OverloadedError, UsageError } from "../errors.ts";
import { loadModel, saveModelDir, stopTokenIds } from "../formats/hf-dir.ts";
import { saveAdapter } from "../formats/peft.ts";
import { embed } from "../infer/embed.ts";
import { generate } from "../infer/generate.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { attachLora } from "../models/lora.ts";
import { chatPromptIds, trainBpe, type Tokenizer } from "../tokenizer/index.ts";
import { Rng } from "../util/rng.ts";
import type { GenerationRequest, InferenceBackend } from "./backend.ts";
import { WorkerBackend, createLocalBackend, createWorkerBackend } from "./worker-backend.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-serve-backend-"));
const modelDir = join(dir, "tiny");
let tok: Tokenizer;
let local: InferenceBackend;
let worker: InferenceBackend;

const SENTENCES = ["the cat sat on the mat.", "the dog sat on the log.", "a bird sang in the tree.", "hello there, how are you?", "i am fine, thank you."];

before(async () => {
  tok = await trainBpe(
    (function* () {
      for (let i = 0; i < 20; i++) yield* SENTENCES;
    })(),
    { vocabSize: 300 },
  );
  const config = presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 64 });
  const model = createModel(config, 5);
  // Scaled-up weights: a default-init random model only repeats its last token.
  for (const [name, p] of model.namedParameters()) if (!/norm/.test(name)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 20;
  saveModelDir(modelDir, model, { tokenizer: tok });
  local = await createLocalBackend(modelDir, { maxConcurrency: 4 });
  worker = await createWorkerBackend(modelDir, { maxConcurrency: 4, modelId: "tiny-test" });
});

after(async () => {
  await local?.close(0);
  await worker?.close(0);
  rmSync(dir, { recursive: true, force: true });
});

const textReq = (over: Partial<GenerationRequest> = {}): GenerationRequest => ({
  input: { kind: "text", prompt: "the cat" },
  maxTokens: 30,
  sampling: { temperature: 0.9, seed: 11 },
  ...over,
});
const chatReq = (over: Partial<GenerationRequest> = {}): GenerationRequest => ({
  input: {
    kind: "chat",
    messages: [
      { role: "system", content: "be brief." },
      { role: "user", content: "hello there" },
    ],
  },
  maxTokens: 20,
  sampling: { temperature: 0.9, seed: 12 },
  ...over,
});

test("model card: from the model directory, with the given id", () => {
  assert.equal(worker.card.id, "tiny-test");
  assert.equal(local.card.id, "tiny");
  assert.deepEqual({ ...worker.card, id: "", created: 0 }, { ...local.card, id: "", created: 0 });
  assert.equal(local.card.contextLength, 64);
  assert.equal(local.card.vocabSize, tok.vocabSize);
  assert.equal(local.card.chatTemplate, true);
  assert.ok(local.card.parameters > 0);
});

test("local backend: text is generate()'s ids decoded, with the model's stop ids", async () => {
  const loaded = loadModel(modelDir);
  const ids = tok.encode("the cat", { addSpecialTokens: true });
  const [lib] = await generate(loaded.model, [ids], { maxTokens: 30, sampling: { temperature: 0.9 }, seed: 11, stopTokenIds: stopTokenIds(loaded) });
  const r = await local.generate(textReq());
  assert.equal(r.text, tok.decode(lib!.ids, { skipSpecialTokens: true }));
  assert.equal(r.finishReason, lib!.finishReason);
  assert.equal(r.promptTokens, ids.length);
  assert.equal(r.completionTokens, lib!.completionTokens);
  assert.equal(await local.countTokens({ kind: "text", prompt: "the cat" }), ids.length);
  const chat = chatReq().input;
  assert.ok(chat.kind === "chat");
  assert.equal(await local.countTokens(chat), chatPromptIds(tok, chat.messages).length);
});

test("worker and local backends give the same text for the same seed, streamed or not", async () => {
  for (const req of [textReq(), chatReq(), textReq({ sampling: { temperature: 0 } }), chatReq({ maxTokens: undefined, sampling: { seed: 99 } })]) {
    const a = await local.generate(req);
    let streamed = "";
    const [b, c] = await Promise.all([worker.generate({ ...req, onText: (d) => void (streamed += d) }), worker.generate(req)]);
    // The same text; how much of the prompt each backend's prompt cache held may differ.
    assert.deepEqual({ ...b, cachedTokens: 0 }, { ...a, cachedTokens: 0 });
    assert.deepEqual({ ...c, cachedTokens: 0 }, { ...a, cachedTokens: 0 });
    assert.equal(streamed, a.text);
    assert.ok(a.completionTokens > 0);
  }
  const other = await worker.generate(textReq({ sampling: { temperature: 0.9, seed: 12 } }));
  assert.notEqual(other.text, (await worker.generate(textReq())).text, "another seed gives another text");
});

test("stop strings end the text before the stop, in both backends", async () => {
  const full = await local.generate(textReq({ sampling: { temperature: 0 } }));
  const stop = full.text.slice(6, 8);
  const cut = full.text.indexOf(stop);
  assert.ok(stop.length === 2 && cut >= 0, `text too short to pick a stop string: ${JSON.stringify(full.text)}`);
  for (const b of [local, worker]) {
    let streamed = "";
    const r = await b.generate(textReq({ sampling: { temperature: 0 }, stop: ["\u0000never", stop], onText: (d) => void (streamed += d) }));
    assert.equal(r.text, full.text.slice(0, cut));
    assert.equal(streamed, r.text);
    assert.equal(r.finishReason, "stop");
  }
});

test("an AbortSignal cancels a running generation (finishReason cancelled), and an aborted one never runs", async () => {
  for (const b of [local, worker]) {
    const ac = new AbortController();
    let pieces = 0;
    const r = await b.generate(textReq({ maxTokens: undefined, signal: ac.signal, onText: () => void (++pieces === 2 && ac.abort()) }));
    assert.equal(r.finishReason, "cancelled");
    assert.ok(r.completionTokens >= 2 && r.promptTokens + r.completionTokens < 64, `${r.completionTokens} tokens`);
    const pre = await b.generate(textReq({ signal: AbortSignal.abort() }));
    assert.deepEqual([pre.finishReason, pre.completionTokens, pre.text], ["cancelled", 0, ""]);
  }
  assert.deepEqual({ ...worker.stats(), promptCache: null }, { queued: 0, active: 0, maxQueue: 64, maxConcurrency: 4, promptCache: null });
});

test("errors keep their class across the thread: UsageError beyond the context, OverloadedError with Retry-After", async () => {
  for (const b of [local, worker]) {
    await assert.rejects(b.generate(textReq({ maxTokens: 64 })), (e: unknown) => e instanceof UsageError && /more than the context \(64/.test(e.message));
    await assert.rejects(b.generate({ input: { kind: "chat", messages: [] }, sampling: {} }), UsageError);
    await assert.rejects(b.generate(textReq({ sampling: { topP: 2 } })), UsageError);
  }
  const small = await createWorkerBackend(modelDir, { maxConcurrency: 1, maxQueue: 1 });
  try {
    const running = [small.generate(textReq({ maxTokens: undefined })), small.generate(textReq({ maxTokens: undefined }))];
    await assert.rejects(small.generate(textReq()), (e: unknown) => e instanceof OverloadedError && e.retryAfterSeconds >= 1);
    for (const r of await Promise.all(running)) assert.ok(r.completionTokens > 0);
  } finally {
    await small.close(0);
  }
  await assert.rejects(createWorkerBackend(join(dir, "missing")), (e: unknown) => e instanceof ConfigError && /model not found/.test(e.message));
});

test("prompt cache: cachedTokens crosses the thread; a repeated or extended chat reuses the prompt; the stats count it; 0 turns it off", async () => {
  const greedy = chatReq({ input: { kind: "chat", messages: [{ role: "user", content: "hi" }] }, sampling: { temperature: 0 }, maxTokens: 4 });
  const first = await worker.generate(greedy);
  const again = await worker.generate(greedy);
  assert.equal(again.text, first.text);
  assert.equal(again.cachedTokens, again.promptTokens - 1, "all but the last prompt token");
  const next = await worker.generate({
    ...greedy,
    input: {
      kind: "chat",
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: "ok." },
        { role: "user", content: "so?" },
      ],
    },
  });
  assert.ok(next.cachedTokens! > 0 && next.cachedTokens! < next.promptTokens, `${next.cachedTokens} of ${next.promptTokens}`);
  const pc = worker.stats().promptCache!;
  assert.ok(pc.hits >= 2 && pc.cachedTokens >= again.cachedTokens! + next.cachedTokens!, JSON.stringify(pc));
  assert.ok(pc.bytes > 0 && pc.bytes <= pc.maxBytes);
  const off = await createLocalBackend(modelDir, { maxConcurrency: 1, promptCacheBytes: 0 });
  try {
    await off.generate(greedy);
    const r = await off.generate(greedy);
    assert.deepEqual([r.text, r.cachedTokens], [first.text, 0]);
    assert.equal(off.stats().promptCache, undefined);
  } finally {
    await off.close(0);
  }
  await assert.rejects(createLocalBackend(modelDir, { promptCacheBytes: -1 }), UsageError);
});

test("embeddings: one mean-pooled vector per input, the same in both backends", async () => {
  const inputs = ["the cat sat", "hello there, how are you?", "x"];
  const a = await local.embed(inputs);
  const b = await worker.embed(inputs);
  assert.equal(a.embeddings.length, 3);
  for (const v of a.embeddings) assert.equal(v.length, 32);
  assert.deepEqual(b, a);
  const { model } = loadModel(modelDir);
  const ids = inputs.map((s) => tok.encode(s, { addSpecialTokens: true }));
  assert.equal(
    a.promptTokens,
    ids.reduce((n, t) => n + t.length, 0),
  );
  assert.deepEqual(a.embeddings[1], Array.from(embed(model, [ids[1]!])[0]!));
  await assert.rejects(worker.embed([]), UsageError);
  await assert.rejects(worker.embed(["the cat ".repeat(80)]), /context is 64/);
});

test("close(): requests in flight finish within the grace period, or are cancelled after it; then new requests are refused", async () => {
  const b = await createWorkerBackend(modelDir, { maxConcurrency: 2 });
  const finishing = [b.generate(textReq({ maxTokens: 10 })), b.generate(textReq({ maxTokens: 10 })), b.generate(textReq({ maxTokens: 10 }))];
  await b.close(60_000);
  for (const r of await Promise.all(finishing)) assert.deepEqual([r.finishReason, r.completionTokens], ["length", 10]);
  await assert.rejects(b.generate(textReq()), OverloadedError);

  const c = await createLocalBackend(modelDir, { maxConcurrency: 2 });
  const long = [0, 1, 2].map(() => c.generate(textReq({ maxTokens: undefined, sampling: { temperature: 0, seed: 1 } })));
  await c.close(0);
  for (const r of await Promise.all(long)) assert.equal(r.finishReason, "cancelled");
});

test("a worker that dies mid-request rejects pending requests with a clear error; the main thread carries on", async () => {
  const b = await createWorkerBackend(modelDir, { maxConcurrency: 2 });
  assert.ok(b instanceof WorkerBackend);
  let first = true;
  const pending = b.generate(textReq({ maxTokens: undefined, onText: () => void (first && ((first = false), b.worker.terminate())) }));
  await assert.rejects(pending, /inference worker exited unexpectedly/);
  await assert.rejects(b.generate(textReq()), /inference worker exited unexpectedly/);
  assert.deepEqual({ ...b.stats(), maxQueue: 0, promptCache: null }, { queued: 0, active: 0, maxQueue: 0, maxConcurrency: 2, promptCache: null });
  await b.close();
  // The other backends still work.
  assert.ok((await worker.generate(textReq({ maxTokens: 3 }))).completionTokens > 0);
});

test("requestTimeoutMs cancels a generation that runs past it", async () => {
  const b = await createLocalBackend(modelDir, { requestTimeoutMs: 1 });
  try {
    let first = true;
    const r = await b.generate(
      textReq({
        maxTokens: undefined,
        onText: () => {
          if (!first) return;
          first = false;
          // Hold the thread past the timeout: its timer fires before the engine's next step.
          const until = performance.now() + 5;
          while (performance.now() < until);
        },
      }),
    );
    assert.equal(r.finishReason, "cancelled");
    assert.ok(r.promptTokens + r.completionTokens < 64, `${r.completionTokens} tokens`);
  } finally {
    await b.close(0);
  }
  await assert.rejects(createLocalBackend(modelDir, { requestTimeoutMs: 0 }), UsageError);
});

test("a LoRA adapter applied unmerged in the worker answers like the merged model, and unlike the base", async () => {
  const base = loadModel(modelDir);
  const lora = attachLora(base.model, { r: 4, alpha: 8, targets: ["q", "v", "up"] }, 3);
  // B starts at zero (the adapter adds nothing): give it values so it changes the output.
  const rng = new Rng(9);
  for (const a of lora.adapters.values()) for (let i = 0; i < a.B.data.length; i++) a.B.data[i] = rng.normal() * 2;
  const adapterDir = join(dir, "adapter");
  saveAdapter(adapterDir, lora);
  lora.mergeAndDetach();
  const mergedDir = join(dir, "merged");
  saveModelDir(mergedDir, base.model, { tokenizer: tok });
  const withAdapter = await createWorkerBackend(modelDir, { maxConcurrency: 2, adapter: adapterDir });
  const merged = await createLocalBackend(mergedDir, { maxConcurrency: 2 });
  try {
    const req = textReq({ sampling: { temperature: 0 } });
    const [a, m, b] = await Promise.all([withAdapter.generate(req), merged.generate(req), local.generate(req)]);
    assert.equal(a.text, m.text);
    assert.notEqual(a.text, b.text, "the adapter changes the output");
  } finally {
    await withAdapter.close(0);
    await merged.close(0);
  }
  await assert.rejects(createLocalBackend(modelDir, { adapter: join(dir, "no-such-adapter") }), (e: Error) =>
    /adapter_config\.json|no-such-adapter/.test(e.message),
  );
});
