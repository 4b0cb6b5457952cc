// Constrained decoding through generate() and the batching engine on a tiny
// random model: the output validates against its schema, ends by itself
// ("stop") within the budget, a constrained request decodes beside an
// unconstrained one, engine and generate() agree token for token, and a
// budget below the schema's shortest value is refused.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Ajv } from "ajv";

import { UsageError } from "../../errors.ts";
import { Engine } from "../engine.ts";
import { generate } from "../generate.ts";
import { tinyModel } from "../testing.ts";
import { compileSchema } from "./grammar.ts";
import { JsonMasker, TokenIndex } from "./token-mask.ts";
import { syntheticVocab } from "./testing.ts";

const model = tinyModel("llama");
const V = model.config.vocabSize;
const vocab = syntheticVocab();
const EOS = vocab.length - 1;
while (vocab.length < V) vocab.push(null);
const index = new TokenIndex(vocab);
const schema = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 6 },
    n: { type: "integer" },
    tags: { type: "array", items: { enum: ["red", "green"] }, maxItems: 3 },
    ok: { type: "boolean" },
  },
  required: ["name", "n", "tags", "ok"],
  additionalProperties: false,
};
const masker = new JsonMasker(compileSchema(schema), index);
const text = (ids: number[]) => new TextDecoder().decode(Uint8Array.from(ids.flatMap((id) => [...(vocab[id] ?? [])])));
const validate = new Ajv({ strict: false }).compile(schema);

test("generate() and the engine: constrained output validates, stops by itself, and is the same on both paths", async () => {
  const prompts = [[5, 6], [7], [8, 9, 10]];
  const maxTokens = 40;
  const sampling = { temperature: 1 };
  const results = await generate(model, prompts, {
    maxTokens,
    sampling,
    seed: 11,
    stopTokenIds: [EOS],
    constraints: prompts.map(() => masker.constraint([EOS])),
  });
  for (const r of results) {
    assert.equal(r.finishReason, "stop");
    assert.ok(r.completionTokens <= maxTokens);
    const v = JSON.parse(text(r.ids));
    assert.ok(validate(v), text(r.ids));
  }
  // The engine, with an unconstrained request sharing the decode steps.
  const engine = new Engine(model, { maxConcurrency: 4 });
  const free = engine.submit({ prompt: [1, 2, 3], maxTokens: 20, sampling, seed: 1 });
  const viaEngine = await Promise.all(
    prompts.map((p, i) => engine.submit({ prompt: p, maxTokens, sampling, seed: 11 + i, stopTokenIds: [EOS], constraint: masker.constraint([EOS]) })),
  );
  viaEngine.forEach((r, i) => assert.deepEqual(r.ids, results[i]!.ids, `request ${i}`));
  assert.equal((await free).completionTokens, 20);
  // A budget the shortest value does not fit in is a UsageError on both paths.
  await assert.rejects(
    engine.submit({ prompt: [1], maxTokens: 5, constraint: masker.constraint([EOS]) }),
    (e: unknown) => e instanceof UsageError && /shortest output/.test(e.message),
  );
  await assert.rejects(generate(model, [[1]], { maxTokens: 5, constraints: [masker.constraint([EOS])] }), UsageError);
  // A tight budget still gives a complete value.
  const tight = await engine.submit({
    prompt: [4],
    maxTokens: masker.minTokens + 2,
    sampling,
    seed: 3,
    stopTokenIds: [EOS],
    constraint: masker.constraint([EOS]),
  });
  assert.ok(validate(JSON.parse(text(tight.ids))), text(tight.ids));
  await engine.close();
});
