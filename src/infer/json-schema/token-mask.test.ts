// Token masks: random logits stand in for the worst model. Over a synthetic
// vocabulary whose tokens cross JSON structure and split UTF-8 characters,
// and over a real byte-level BPE tokenizer, every constrained generation of a
// random schema parses and validates (ajv), fits its budget, and ends by
// itself; the mask cache is hit; EOS is allowed only once the value is complete.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Ajv } from "ajv";

import { UsageError } from "../../errors.ts";
import { trainBpe } from "../../tokenizer/index.ts";
import { Rng } from "../../util/rng.ts";
import { Sampler } from "../sampler.ts";
import { NO_TOKEN } from "../constraint.ts";
import { compileSchema, jsonObjectGrammar, type Grammar } from "./grammar.ts";
import { stepBytes } from "./recognizer.ts";
import { JsonMasker, TokenIndex } from "./token-mask.ts";
import { randomTopSchema, syntheticVocab } from "./testing.ts";

const dec = new TextDecoder("utf-8", { fatal: true });

/** Generates with random logits under the constraint; returns the text and the token count. */
function run(masker: JsonMasker, eos: number, budget: number, seed: number): { text: string; tokens: number; ended: boolean } {
  const V = masker.index.vocabSize;
  const rng = new Rng(seed);
  const sampler = new Sampler(V, { temperature: 1 }, new Rng(seed + 1));
  const c = masker.constraint([eos]);
  const bytes: number[] = [];
  const logits = new Float32Array(V);
  let n = 0;
  while (n < budget && !c.finished) {
    rng.fillNormal(logits, 0, 3);
    const forced = c.mask(logits, budget - n);
    assert.notEqual(forced, NO_TOKEN, "some token is always allowed");
    const id = forced >= 0 ? forced : sampler.sample(logits);
    c.accept(id);
    n++;
    if (id === eos) break;
    bytes.push(...masker.index.bytes[id]!);
  }
  return { text: dec.decode(Uint8Array.from(bytes)), tokens: n, ended: c.finished };
}

test("token mask, synthetic vocabulary: 60 random schemas, random logits → valid JSON within the budget", () => {
  const vocab = syntheticVocab();
  const eos = vocab.length - 1;
  const index = new TokenIndex(vocab);
  assert.equal(index.singleBytes, true);
  const ajv = new Ajv({ strict: false });
  const rng = new Rng(7);
  for (let k = 0; k < 60; k++) {
    const schema = randomTopSchema(rng);
    const g = compileSchema(schema);
    const masker = new JsonMasker(g, index);
    const budget = masker.minTokens + rng.int(60);
    const r = run(masker, eos, budget, k);
    assert.ok(r.ended, `schema ${k} ended (${r.tokens} tokens): ${r.text}`);
    assert.ok(r.tokens <= budget);
    const value = JSON.parse(r.text);
    const validate = ajv.compile(schema);
    assert.ok(validate(value), `schema ${k}: ${JSON.stringify(schema)}\n${r.text}\n${ajv.errorsText(validate.errors)}`);
  }
});

test("token mask: EOS only once complete, forced tokens, cache hits, a too-small budget is refused", () => {
  const vocab = syntheticVocab();
  const eos = vocab.length - 1;
  const index = new TokenIndex(vocab);
  const masker = new JsonMasker(compileSchema({ type: "number" }), index);
  const c = masker.constraint([eos]);
  const logits = new Float32Array(vocab.length).fill(1);
  c.mask(logits, 10);
  assert.equal(logits[eos], -Infinity, "no EOS before a value");
  assert.equal(logits[0x7b], -Infinity, "no { for a number");
  assert.ok(Number.isFinite(logits[0x31]!));
  c.accept(0x31); // "1"
  logits.fill(1);
  c.mask(logits, 10);
  assert.ok(Number.isFinite(logits[eos]!), "EOS once the number is complete");
  assert.ok(Number.isFinite(logits[0x32]!), "or more digits");
  // A single allowed token is returned (forced); repeated states hit the cache.
  const m2 = new JsonMasker(compileSchema({ const: "x" }), index);
  const c2 = m2.constraint([eos]);
  logits.fill(1);
  assert.equal(c2.mask(logits, 100), 0x22, 'only " can start "x": forced');
  c2.accept(0x22);
  for (let i = 0; i < 3; i++) {
    logits.fill(1);
    assert.equal(c2.mask(logits, 100), 0x78);
  }
  assert.ok(m2.stats.hits >= 2, "the same state hits the cache");
  assert.throws(() => c2.accept(0x41), UsageError, "a token the mask refused");
  // Budget: inside {"s":" the value needs '"}'; with 2 tokens left a long word no longer fits.
  const idOf = (t: string) => index.bytes.findIndex((b) => b && new TextDecoder().decode(b) === t);
  const m3 = new JsonMasker(compileSchema({ type: "object", properties: { s: { type: "string" } }, required: ["s"], additionalProperties: false }), index);
  const c3 = m3.constraint([eos]);
  for (const t of ['{"', "s", '":', '"']) c3.accept(idOf(t));
  logits.fill(1);
  c3.mask(logits, 10);
  assert.ok(Number.isFinite(logits[idOf("hello world")]!), "room for a word");
  logits.fill(1);
  c3.mask(logits, 2);
  assert.equal(logits[idOf("hello world")], -Infinity, "no room for a word");
  assert.equal(logits[idOf("a")], -Infinity);
  assert.ok(Number.isFinite(logits[idOf('"}')]!) && Number.isFinite(logits[idOf('"')]!), "closing fits");
  logits.fill(1);
  assert.equal(c3.mask(logits, 1), idOf('"}'), "one token left: only the closing pair");
});

test("token mask, a real byte-level BPE tokenizer: json_object mode and a schema, text split across tokens", async () => {
  const tok = await trainBpe(
    (function* () {
      for (let i = 0; i < 30; i++) yield `{"name": "Zoë", "tags": ["日本", "a"], "n": ${i * 37}, "ok": true, "x": null}`;
    })(),
    { vocabSize: 420 },
  );
  const V = tok.vocabSize;
  const bytes = Array.from({ length: V }, (_, id) => (tok.isSpecial(id) ? null : tok.idToBytes(id)));
  const index = new TokenIndex(bytes);
  assert.ok(index.horizon > 1);
  const eos = bytes.indexOf(null);
  const ajv = new Ajv({ strict: false });
  const grammars: [Grammar, unknown][] = [
    [jsonObjectGrammar(), { type: "object" }],
    [
      compileSchema({
        type: "object",
        properties: { name: { type: "string", maxLength: 5 }, tags: { type: "array", items: { enum: ["日本", "a"] } } },
        required: ["name", "tags"],
        additionalProperties: false,
      }),
      null,
    ],
  ];
  // The mask equals a brute-force check of every token's bytes, in every state a generation passes through.
  {
    const masker = new JsonMasker(
      compileSchema({
        type: "object",
        properties: { a: { type: "string", minLength: 2, maxLength: 6 }, b: { type: "array", items: { type: "number" } }, c: { type: "string" } },
        required: ["a", "b", "c"],
        additionalProperties: false,
      }),
      index,
    );
    const c = masker.constraint([eos]);
    const rng = new Rng(5);
    const logits = new Float32Array(V);
    let states = 0;
    while (!c.finished && states < 60) {
      const want = bytes.map((b, id) => (b && stepBytes(masker.cx, c.current, b).length > 0 ? id : -1)).filter((id) => id >= 0);
      assert.deepEqual(
        [...c.allowedIds()].sort((a, b) => a - b),
        want,
        `state ${states}`,
      );
      rng.fillNormal(logits, 0, 3);
      const forced = c.mask(logits, 80 - states);
      c.accept(forced >= 0 ? forced : new Sampler(V, {}, new Rng(states)).sample(logits));
      states++;
    }
  }
  for (const [g, schemaOrNull] of grammars) {
    const masker = new JsonMasker(g, index);
    for (let s = 0; s < 10; s++) {
      const r = run(masker, eos, 40, s);
      assert.ok(r.ended, r.text);
      const v = JSON.parse(r.text);
      const schema = schemaOrNull ?? {
        type: "object",
        properties: { name: { type: "string", maxLength: 5 }, tags: { type: "array", items: { enum: ["日本", "a"] } } },
        required: ["name", "tags"],
        additionalProperties: false,
      };
      assert.ok(ajv.validate(schema as object, v), `${r.text}: ${ajv.errorsText()}`);
    }
  }
});
