// Log-probabilities end to end: the worker backend on a tiny random model
// through the official openai client. Chat `logprobs` / `top_logprobs` (one
// entry per generated token, greedy picks the most likely, streamed entries
// equal the non-streamed ones) and completions `logprobs` with `echo` (the
// prompt's tokens first, the first with a null logprob), in OpenAI's shapes.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import OpenAI from "openai";

import { saveModelDir } from "../formats/hf-dir.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { trainBpe } from "../tokenizer/index.ts";
import { startServer, type RunningServer } from "./server.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-logprobs-"));
let live: RunningServer | undefined;
const MODEL = "tiny-lp";

before(async () => {
  const tok = await trainBpe(
    (function* () {
      for (let i = 0; i < 20; i++) yield* ["the cat sat on the mat.", "a bird sang in the tree.", "hello there, how are you?"];
    })(),
    { vocabSize: 300 },
  );
  const config = presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 96 });
  const model = createModel(config, 4);
  for (const [name, p] of model.namedParameters()) if (!/norm/.test(name)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 20;
  saveModelDir(join(dir, MODEL), model, { tokenizer: tok });
  live = await startServer({ modelDir: join(dir, MODEL), port: 0 });
});
after(async () => {
  await live?.close();
  rmSync(dir, { recursive: true, force: true });
});

const client = () => new OpenAI({ apiKey: "unused", baseURL: `${live!.url}/v1`, maxRetries: 0 });

test("chat logprobs: one entry per token, greedy = the top alternative, streamed = not streamed", async () => {
  const c = client();
  const req = { model: MODEL, messages: [{ role: "user" as const, content: "hello there" }], max_tokens: 10, temperature: 0, logprobs: true, top_logprobs: 3 };
  const r = await c.chat.completions.create(req);
  const content = r.choices[0]!.logprobs!.content!;
  assert.equal(content.length, r.usage!.completion_tokens - (r.choices[0]!.finish_reason === "stop" ? 1 : 0));
  for (const e of content) {
    assert.ok(e.logprob <= 0);
    assert.equal(e.top_logprobs.length, 3);
    assert.equal(e.top_logprobs[0]!.token, e.token, "greedy takes the most likely token");
    assert.ok(Math.abs(e.top_logprobs[0]!.logprob - e.logprob) < 1e-9);
    assert.deepEqual(Buffer.from(e.bytes!).toString("utf8"), e.token);
  }
  assert.equal(
    content
      .map((e) => e.token)
      .join("")
      .trimStart(),
    r.choices[0]!.message.content,
  );
  const stream = await c.chat.completions.create({ ...req, stream: true });
  const streamed: typeof content = [];
  for await (const ch of stream) streamed.push(...(ch.choices[0]?.logprobs?.content ?? []));
  assert.deepEqual(streamed, content);
  // Off by default.
  const plain = await c.chat.completions.create({ ...req, logprobs: undefined, top_logprobs: undefined });
  assert.equal(plain.choices[0]!.logprobs, null);
});

test("completions logprobs with echo: prompt tokens first (null for the first), offsets, top alternatives as a map", async () => {
  const c = client();
  const r = await c.completions.create({ model: MODEL, prompt: "the cat", max_tokens: 5, temperature: 0, logprobs: 2, echo: true });
  const lp = r.choices[0]!.logprobs!;
  const n = lp.tokens!.length;
  assert.equal(n, r.usage!.prompt_tokens + 5);
  assert.equal(lp.token_logprobs![0], null);
  assert.equal(lp.top_logprobs![0], null);
  for (let i = 1; i < n; i++) {
    assert.ok(lp.token_logprobs![i]! <= 0);
    assert.ok(Object.keys(lp.top_logprobs![i]!).length <= 2);
    assert.equal(lp.text_offset![i], lp.text_offset![i - 1]! + lp.tokens![i - 1]!.length);
  }
  assert.ok(r.choices[0]!.text.startsWith("the cat"));
  assert.ok(r.choices[0]!.text.endsWith(lp.tokens!.slice(r.usage!.prompt_tokens).join("")));
});
