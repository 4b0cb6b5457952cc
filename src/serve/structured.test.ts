// Structured output end to end: `slm serve`'s worker backend on a tiny random
// model (the worst case: it never closes a brace on its own) through the
// official openai client. 200 random schemas of the supported subset give
// replies that parse and validate (ajv) and end by themselves (finish_reason
// "stop", none truncated); json_object mode likewise, streamed and not; an
// unsupported keyword is a 400 naming it; completions accept response_format.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { Ajv } from "ajv";
import OpenAI from "openai";

import { saveModelDir } from "../formats/hf-dir.ts";
import { randomTopSchema } from "../infer/json-schema/testing.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { trainBpe } from "../tokenizer/index.ts";
import { Rng } from "../util/rng.ts";
import { startServer, type RunningServer } from "./server.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-structured-"));
let live: RunningServer | undefined;
const MODEL = "tiny-json";
const MAX_TOKENS = 160;

before(async () => {
  const tok = await trainBpe(
    (function* () {
      for (let i = 0; i < 20; i++) yield `{"name": "Ana", "age": ${i}, "tags": ["red", "green"], "ok": true, "note": null} the cat sat on the mat.`;
    })(),
    { vocabSize: 400 },
  );
  const config = presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 256 });
  const model = createModel(config, 9);
  for (const [name, p] of model.namedParameters()) if (!/norm/.test(name)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 20;
  saveModelDir(join(dir, MODEL), model, { tokenizer: tok });
  live = await startServer({ modelDir: join(dir, MODEL), port: 0, maxConcurrency: 8, maxQueue: 256 });
});
after(async () => {
  await live?.close();
  rmSync(dir, { recursive: true, force: true });
});

const client = () => new OpenAI({ apiKey: "unused", baseURL: `${live!.url}/v1`, maxRetries: 0 });
const ajv = new Ajv({ strict: false });

test("json_schema: 200 random schemas → every reply parses, validates and ends by itself", async () => {
  const c = client();
  const rng = new Rng(2024);
  const schemas = Array.from({ length: 200 }, () => randomTopSchema(rng));
  let tokens = 0;
  const t0 = performance.now();
  const one = async (schema: Record<string, unknown>, i: number) => {
    const r = await c.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Describe the cat as JSON." }],
      max_tokens: MAX_TOKENS,
      seed: i,
      response_format: { type: "json_schema", json_schema: { name: `s${i}`, schema, strict: true } },
    });
    const choice = r.choices[0]!;
    assert.equal(choice.finish_reason, "stop", `schema ${i} truncated: ${choice.message.content}`);
    const value = JSON.parse(choice.message.content!);
    const validate = ajv.compile(schema);
    assert.ok(validate(value), `schema ${i} ${JSON.stringify(schema)}\n${choice.message.content}\n${ajv.errorsText(validate.errors)}`);
    tokens += r.usage!.completion_tokens;
  };
  // Eight at a time, so the batching engine decodes them together.
  for (let i = 0; i < schemas.length; i += 8) await Promise.all(schemas.slice(i, i + 8).map((s, k) => one(s, i + k)));
  const secs = (performance.now() - t0) / 1000;
  console.log(`# 200 schemas: ${tokens} tokens in ${secs.toFixed(1)} s`);
});

test("json_object mode, streamed and not; completions take response_format too", async () => {
  const c = client();
  for (let seed = 0; seed < 4; seed++) {
    const r = await c.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 60,
      seed,
      response_format: { type: "json_object" },
    });
    assert.equal(r.choices[0]!.finish_reason, "stop");
    const v = JSON.parse(r.choices[0]!.message.content!);
    assert.equal(typeof v, "object");
    assert.ok(v !== null && !Array.isArray(v));
    const stream = await c.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 60,
      seed,
      response_format: { type: "json_object" },
      stream: true,
    });
    let text = "";
    let finish: string | null = null;
    for await (const ch of stream) {
      text += ch.choices[0]?.delta.content ?? "";
      finish = ch.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, r.choices[0]!.message.content, "streamed = not streamed (same seed)");
    assert.equal(finish, "stop");
  }
  const schema = { type: "object", properties: { n: { type: "integer" } }, required: ["n"], additionalProperties: false };
  const res = await fetch(`${live!.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, prompt: "the cat", max_tokens: 30, response_format: { type: "json_schema", json_schema: { name: "n", schema } } }),
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { choices: { text: string; finish_reason: string }[] };
  assert.ok(ajv.validate(schema, JSON.parse(body.choices[0]!.text)), body.choices[0]!.text);
});

test("response_format errors: an unsupported keyword and a too-small max_tokens are 400s naming the problem", async () => {
  const c = client();
  const ask = (schema: Record<string, unknown>, max_tokens = 50) =>
    c.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "hi" }],
      max_tokens,
      response_format: { type: "json_schema", json_schema: { name: "x", schema } },
    });
  await assert.rejects(
    ask({ type: "object", properties: { d: { type: "string", format: "date" } }, required: ["d"] }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && /"format" is not supported/.test(e.message),
  );
  await assert.rejects(
    ask({ type: "object", properties: { a: { type: "string", minLength: 40 } }, required: ["a"] }, 10),
    (e: unknown) => e instanceof OpenAI.BadRequestError && /shortest output/.test(e.message),
  );
  await assert.rejects(
    c.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hi" }], response_format: { type: "xml" } as never }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && /response_format must be/.test(e.message),
  );
});
