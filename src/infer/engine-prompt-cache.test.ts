// Tests of the engine's prompt cache (prompt-cache.ts) on tiny random models:
// prompts that extend an earlier request's prompt + output, share only a head
// with it, or equal it, generate the same tokens as an engine without the
// cache (greedy and seeded sampling; f32, f16 and q8_0 KV), and report how
// many prompt tokens came from the cache; requests admitted together share a
// prompt prefilled moments before; prompt log-probabilities bypass the cache;
// the bytes held stay within the bound over many requests.
import assert from "node:assert/strict";
import { test } from "node:test";

import { UsageError } from "../errors.ts";
import { createModel, presetConfig, type CausalLM, type KvDtype } from "../models/index.ts";
import { Rng } from "../util/rng.ts";
import { Engine, type EngineRequest } from "./engine.ts";
import type { GenerateResult } from "./generate.ts";
import { tinyModel } from "./testing.ts";

const GREEDY = { temperature: 0 };
const SAMPLED = { temperature: 1.1, topK: 50, topP: 0.95 };

/** tinyModel's recipe with head_dim 32, so a q8_0 KV cache (blocks of 32) fits it. */
function tinyModel32(): CausalLM {
  const config = presetConfig("nano", 300, { dModel: 64, nLayers: 2, nHeads: 2, nKvHeads: 1, headDim: 32, ffnDim: 96, maxSeqLen: 64 });
  const model = createModel(config, 4);
  for (const [name, p] of model.namedParameters()) {
    if (/norm/.test(name)) continue;
    for (let i = 0; i < p.data.length; i++) p.data[i]! *= 20;
  }
  return model;
}

const models = { llama: tinyModel("llama"), gpt2: tinyModel("gpt2"), llama32: tinyModel32() };
const strip = (r: GenerateResult) => ({
  ids: r.ids,
  finishReason: r.finishReason,
  promptTokens: r.promptTokens,
  completionTokens: r.completionTokens,
  logprobs: r.logprobs,
});

/** The same requests through an engine without a prompt cache, one at a time. */
async function reference(model: CausalLM, reqs: EngineRequest[], kvDtype: KvDtype): Promise<GenerateResult[]> {
  const e = new Engine(model, { kvDtype });
  const out: GenerateResult[] = [];
  for (const r of reqs) out.push(await e.submit(r));
  return out;
}

const cases: [keyof typeof models, KvDtype][] = [
  ["llama", "f32"],
  ["gpt2", "f32"],
  ["llama", "f16"],
  ["llama32", "q8_0"],
];
for (const [arch, kvDtype] of cases) {
  test(`${arch}, ${kvDtype} KV: a chat growing turn by turn, a shared head, an equal prompt: same tokens as without the cache`, async () => {
    const model = models[arch];
    const engine = new Engine(model, { kvDtype, promptCacheBytes: 1 << 20 });
    const system = [1, 17, 23, 42, 99, 7, 250, 31, 64, 12];
    const results: GenerateResult[] = [];
    const reqs: EngineRequest[] = [];
    // Before each request another one (sharing nothing, so prefilled whole) overwrites slot 0:
    // a reused prefix can only come from the cache.
    const clobber = (k: number) => Array.from({ length: 40 }, (_, i) => 299 - k - i);
    let clobbered = 0;
    const run = async (r: EngineRequest) => {
      clobbered += (await engine.submit({ prompt: clobber(reqs.length), maxTokens: 2, sampling: GREEDY })).cachedTokens!;
      reqs.push(r);
      results.push(await engine.submit(r));
      return results.at(-1)!;
    };
    // Turn 1, then turn 2 = turn 1's prompt + its answer + a new question.
    const t1 = await run({ prompt: [...system, 5, 6], maxTokens: 8, sampling: GREEDY });
    assert.equal(t1.cachedTokens, 0, "nothing cached yet");
    const t2 = await run({ prompt: [...system, 5, 6, ...t1.ids, 70, 71], maxTokens: 8, sampling: SAMPLED, seed: 9 });
    // Everything but turn 1's last token has KV (the last sampled token was never fed).
    assert.equal(t2.cachedTokens, system.length + 2 + t1.ids.length - 1);
    // Same system prompt, another question: the head is shared.
    const t3 = await run({ prompt: [...system, 8, 8, 8], maxTokens: 8, sampling: GREEDY });
    assert.equal(t3.cachedTokens, system.length);
    // The same prompt again: all but its last token (whose logits are sampled from).
    const t4 = await run({ prompt: [...system, 8, 8, 8], maxTokens: 8, sampling: SAMPLED, seed: 3 });
    assert.equal(t4.cachedTokens, system.length + 2);
    // A prompt sharing nothing.
    const t5 = await run({ prompt: [200, 201, 202], maxTokens: 4, sampling: GREEDY });
    assert.equal(t5.cachedTokens, 0);

    const ref = await reference(model, reqs, kvDtype);
    results.forEach((r, i) => assert.deepEqual(strip(r), strip(ref[i]!), `request ${i + 1}`));
    assert.ok(new Set(results.flatMap((r) => r.ids)).size >= 8, "outputs are not degenerate");
    const s = engine.stats();
    assert.equal(clobbered, 0);
    assert.equal(s.promptCache!.hits, 3);
    assert.equal(s.promptCache!.cachedTokens, t2.cachedTokens! + t3.cachedTokens! + t4.cachedTokens! + clobbered);
    assert.equal(
      s.prefillTokens,
      reqs.reduce((n, r) => n + r.prompt.length, 0) + 5 * 40 - s.promptCache!.cachedTokens,
      "only the uncached tokens were prefilled",
    );
  });
}

test("requests admitted in the same turn reuse the prompt prefilled just before theirs; concurrent decoding is unaffected", async () => {
  const model = models.llama;
  const engine = new Engine(model, { maxConcurrency: 4, promptCacheBytes: 1 << 20 });
  const shared = Array.from({ length: 30 }, (_, i) => (i * 7 + 3) % 300);
  const reqs: EngineRequest[] = [0, 1, 2, 3].map((i) => ({ prompt: [...shared, 100 + i], maxTokens: 12, sampling: i % 2 ? SAMPLED : GREEDY, seed: i }));
  const together = await Promise.all(reqs.map((r) => engine.submit(r)));
  assert.deepEqual(
    together.map((r) => r.cachedTokens),
    [0, 30, 30, 30],
  );
  const ref = await reference(model, reqs, "f32");
  together.forEach((r, i) => assert.deepEqual(strip(r), strip(ref[i]!), `request ${i}`));
});

test("prompt log-probabilities prefill the whole prompt (no cache), and equal the uncached ones", async () => {
  const model = models.gpt2;
  const engine = new Engine(model, { promptCacheBytes: 1 << 20 });
  const prompt = [3, 9, 27, 81, 243, 30, 90];
  await engine.submit({ prompt, maxTokens: 4, sampling: GREEDY });
  const r = await engine.submit({ prompt, maxTokens: 4, sampling: GREEDY, logprobs: 2, promptLogprobs: true });
  assert.equal(r.cachedTokens, 0);
  const [ref] = await reference(model, [{ prompt, maxTokens: 4, sampling: GREEDY, logprobs: 2, promptLogprobs: true }], "f32");
  assert.deepEqual(r.promptLogprobs, ref!.promptLogprobs);
  assert.deepEqual(strip(r), strip(ref!));
  // A plain request after it reuses what it left.
  assert.equal((await engine.submit({ prompt, maxTokens: 2, sampling: GREEDY })).cachedTokens, prompt.length - 1);
});

test("the bytes held stay within promptCacheBytes over many requests with random prefixes; 0 turns the cache off", async () => {
  const model = models.llama;
  const perToken = 2 * 2 * 2 * 8 * 4; // layers x (k, v) x kv heads x head_dim x f32
  const bound = 100 * (perToken + 4);
  const engine = new Engine(model, { maxConcurrency: 3, promptCacheBytes: bound });
  const rng = new Rng(11);
  let peak = 0;
  for (let round = 0; round < 8; round++) {
    const batch = Array.from({ length: 6 }, () => {
      const head = Array.from({ length: 1 + Math.floor(rng.uniform() * 3) }, () => Math.floor(rng.uniform() * 3));
      const tail = Array.from({ length: Math.floor(rng.uniform() * 30) }, () => Math.floor(rng.uniform() * 300));
      return engine.submit({ prompt: [...head, ...tail], maxTokens: 1 + Math.floor(rng.uniform() * 10), sampling: GREEDY });
    });
    await Promise.all(batch);
    const s = engine.stats().promptCache!;
    peak = Math.max(peak, s.bytes);
    assert.ok(s.bytes <= bound && s.peakBytes <= bound, `${s.bytes} bytes held (peak ${s.peakBytes}), bound ${bound}`);
  }
  const s = engine.stats().promptCache!;
  assert.ok(s.evictions > 0 && s.hits > 0, JSON.stringify(s));
  assert.ok(peak > bound / 2, "the cache was used up to its bound");

  const off = new Engine(model, { promptCacheBytes: 0 });
  const r = await off.submit({ prompt: [1, 2, 3], maxTokens: 2 });
  assert.equal(r.cachedTokens, undefined);
  assert.equal(off.stats().promptCache, null);
  assert.throws(() => new Engine(model, { promptCacheBytes: -1 }), UsageError);
  assert.throws(() => new Engine(model, { promptCacheBytes: 0.5 }), UsageError);
});
