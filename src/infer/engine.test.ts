// Tests of the continuous-batching engine on tiny random models (llama with
// grouped-query attention, and gpt2): requests that join and leave at
// different times produce exactly what generate() produces for them alone
// (greedy and seeded sampling), stops, cancellation of running and queued
// requests, the queue bound (OverloadedError), request validation, close(),
// and no slot or memory leak over many requests.
import assert from "node:assert/strict";
import { test } from "node:test";

import { OverloadedError, UsageError } from "../errors.ts";
import type { CausalLM } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import { Engine } from "./engine.ts";
import { generate, type GenerateResult } from "./generate.ts";
import { tinyModel } from "./testing.ts";

const PROMPTS = [[5], [10, 20, 30, 40], [7, 8, 9, 10, 11, 12, 13], [10, 20, 30, 41], [99, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]];
const GREEDY = { temperature: 0 };
const models = { llama: tinyModel("llama"), gpt2: tinyModel("gpt2") };

async function solo(model: CausalLM, prompt: number[], opts: Parameters<typeof generate>[2]): Promise<GenerateResult> {
  return (await generate(model, [prompt], opts))[0]!;
}

for (const [arch, model] of Object.entries(models)) {
  test(`${arch}: requests joining at different times equal generate() alone, token for token`, async () => {
    const n = 20;
    const expected = await Promise.all(PROMPTS.map((p) => solo(model, p, { maxTokens: n, sampling: GREEDY })));
    for (const e of expected) assert.ok(new Set(e.ids).size >= 5, `degenerate reference output ${e.ids}`);
    // 3 slots for 6 requests: two start together, the others join while those decode
    // (submitted from inside onToken), and some wait in the queue for a free slot.
    const engine = new Engine(model, { maxConcurrency: 3, maxQueue: 8 });
    const pending: Promise<GenerateResult>[] = [];
    const submit = (i: number, maxTokens = n) => {
      pending[i] = engine.submit({ prompt: PROMPTS[i]!, maxTokens, sampling: GREEDY, onToken: joinAfter(i) });
    };
    let seen0 = 0,
      seen1 = 0;
    const joinAfter = (i: number) => (_id: number) => {
      if (i === 0 && ++seen0 === 3) submit(2);
      if (i === 0 && seen0 === 8) submit(3), submit(4);
      if (i === 1 && ++seen1 === 12) submit(5);
    };
    submit(0);
    submit(1, 12); // leaves early, making room
    const results = await Promise.all(await waitAll(pending));
    assert.equal(results.length, 6);
    results.forEach((r, i) => {
      const e = i === 1 ? expected[1]!.ids.slice(0, 12) : expected[i]!.ids;
      assert.deepEqual(r.ids, e, `request ${i}`);
      assert.equal(r.finishReason, "length");
      assert.equal(r.promptTokens, PROMPTS[i]!.length);
      assert.equal(r.completionTokens, e.length);
    });
    const st = engine.stats();
    assert.equal(st.active, 0);
    assert.equal(st.queued, 0);
    assert.equal(st.completed, 6);
    // Decode steps really were shared: fewer steps than tokens decoded.
    assert.ok(st.decodeSteps < st.decodeTokens, `${st.decodeSteps} steps for ${st.decodeTokens} tokens`);
  });
}

/** Waits until every request submitted so far (including ones submitted by callbacks) is done. */
async function waitAll(pending: Promise<GenerateResult>[]): Promise<Promise<GenerateResult>[]> {
  let done = 0;
  while (done < pending.length) {
    const n = pending.length;
    await Promise.all(pending.slice(0, n));
    done = n;
  }
  return pending;
}

test("seeded sampling: same seed, same output, whoever shares the decode steps", async () => {
  const model = models.gpt2;
  const sampling = { temperature: 1.2, topK: 40, topP: 0.95, minP: 0.01, repetitionPenalty: 1.1 };
  const ref = await solo(model, PROMPTS[2]!, { maxTokens: 16, sampling, seed: 42 });
  const engine = new Engine(model, { maxConcurrency: 4 });
  const alone = await engine.submit({ prompt: PROMPTS[2]!, maxTokens: 16, sampling, seed: 42 });
  assert.deepEqual(alone, ref);
  const crowd = await Promise.all([
    engine.submit({ prompt: PROMPTS[0]!, maxTokens: 10, sampling, seed: 1 }),
    engine.submit({ prompt: PROMPTS[2]!, maxTokens: 16, sampling, seed: 42 }),
    engine.submit({ prompt: PROMPTS[2]!, maxTokens: 16, sampling, seed: 43 }),
    engine.submit({ prompt: PROMPTS[4]!, maxTokens: 5, sampling: GREEDY }),
  ]);
  assert.deepEqual(crowd[1], ref);
  assert.notDeepEqual(crowd[2]!.ids, ref.ids, "another seed gives another output");
});

test("stop token ids and stop sequences behave as in generate()", async () => {
  const model = models.llama;
  const ref = await solo(model, PROMPTS[1]!, { maxTokens: 20, sampling: GREEDY });
  const stopId = ref.ids[6]!;
  const seq = [ref.ids[3]!, ref.ids[4]!];
  const engine = new Engine(model);
  const streamed: number[] = [];
  const [a, b] = await Promise.all([
    engine.submit({ prompt: PROMPTS[1]!, maxTokens: 20, sampling: GREEDY, stopTokenIds: [stopId] }),
    engine.submit({ prompt: PROMPTS[1]!, maxTokens: 20, sampling: GREEDY, stopSequences: [seq], onToken: (id) => void streamed.push(id) }),
  ]);
  assert.deepEqual(a, await solo(model, PROMPTS[1]!, { maxTokens: 20, sampling: GREEDY, stopTokenIds: [stopId] }));
  assert.equal(a!.finishReason, "stop");
  const bRef = await solo(model, PROMPTS[1]!, { maxTokens: 20, sampling: GREEDY, stopSequences: [seq] });
  assert.deepEqual(b, bRef);
  assert.equal(b!.finishReason, "stop");
  assert.deepEqual(streamed, b!.ids);
  // onToken returning false stops the request and keeps what it was shown.
  let k = 0;
  const c = await engine.submit({ prompt: PROMPTS[1]!, maxTokens: 20, sampling: GREEDY, onToken: () => ++k < 4 });
  assert.deepEqual(c.ids, ref.ids.slice(0, 4));
  assert.equal(c.finishReason, "stop");
});

test("abort: a running request stops mid-way, a queued one leaves the queue, the others are untouched", async () => {
  const model = models.llama;
  const n = 24;
  const ref = await Promise.all(PROMPTS.slice(0, 3).map((p) => solo(model, p, { maxTokens: n, sampling: GREEDY })));
  const engine = new Engine(model, { maxConcurrency: 2, maxQueue: 4 });
  const running = new AbortController();
  const queued = new AbortController();
  let seen = 0;
  const r0 = engine.submit({
    prompt: PROMPTS[0]!,
    maxTokens: n,
    sampling: GREEDY,
    signal: running.signal,
    onToken: () => void (++seen === 5 && running.abort()),
  });
  const r1 = engine.submit({ prompt: PROMPTS[1]!, maxTokens: n, sampling: GREEDY });
  const r2 = engine.submit({ prompt: PROMPTS[2]!, maxTokens: n, sampling: GREEDY, signal: queued.signal });
  assert.deepEqual(engine.stats().queued, 3);
  const r3 = engine.submit({ prompt: PROMPTS[2]!, maxTokens: n, sampling: GREEDY });
  queued.abort(); // r2 has not been admitted yet: it leaves at once
  assert.equal(engine.stats().queued, 3);
  const c2 = await r2;
  assert.deepEqual(c2, { ids: [], finishReason: "cancelled", promptTokens: PROMPTS[2]!.length, completionTokens: 0 });
  const c0 = await r0;
  assert.equal(c0.finishReason, "cancelled");
  assert.ok(c0.ids.length >= 5 && c0.ids.length < n, `stopped after ${c0.ids.length} tokens`);
  assert.deepEqual(c0.ids, ref[0]!.ids.slice(0, c0.ids.length));
  assert.deepEqual((await r1).ids, ref[1]!.ids);
  assert.deepEqual((await r3).ids, ref[2]!.ids);
  // An already aborted signal never takes a slot.
  const pre = await engine.submit({ prompt: PROMPTS[0]!, maxTokens: n, signal: AbortSignal.abort() });
  assert.equal(pre.finishReason, "cancelled");
  assert.equal(engine.stats().active, 0);
});

test("the queue is bounded: one request too many is refused with OverloadedError and Retry-After", async () => {
  const engine = new Engine(models.gpt2, { maxConcurrency: 2, maxQueue: 3 });
  const ok = Array.from({ length: 5 }, (_, i) => engine.submit({ prompt: PROMPTS[i]!, maxTokens: 8, sampling: GREEDY }));
  await assert.rejects(engine.submit({ prompt: PROMPTS[0]!, maxTokens: 8 }), (e: unknown) => {
    assert.ok(e instanceof OverloadedError);
    assert.ok(Number.isInteger(e.retryAfterSeconds) && e.retryAfterSeconds >= 1);
    assert.match(e.message, /queue holds 3/);
    return true;
  });
  const res = await Promise.all(ok);
  for (const r of res) assert.equal(r.completionTokens, 8);
  // Once the queue drains, requests are accepted again.
  assert.equal((await engine.submit({ prompt: PROMPTS[0]!, maxTokens: 3 })).completionTokens, 3);
});

test("bad requests are UsageErrors: empty prompt, ids outside the vocabulary, beyond the context, bad sampling", async () => {
  const engine = new Engine(models.llama);
  const C = models.llama.config.maxSeqLen;
  await assert.rejects(engine.submit({ prompt: [] }), UsageError);
  await assert.rejects(engine.submit({ prompt: [300] }), /outside the vocabulary/);
  await assert.rejects(
    engine.submit({ prompt: [1, 2, 3], maxTokens: C - 2 }),
    (e: unknown) => e instanceof UsageError && /more than the context \(64/.test(e.message),
  );
  await assert.rejects(engine.submit({ prompt: new Array(C).fill(1) }), /no room to generate/);
  await assert.rejects(engine.submit({ prompt: [1], sampling: { temperature: -1 } }), UsageError);
  await assert.rejects(engine.submit({ prompt: [1], stopTokenIds: [-1] }), UsageError);
  // The largest budget that fits is fine, and without maxTokens it runs to the end of the context.
  const full = await engine.submit({ prompt: [1, 2, 3], maxTokens: C - 3, sampling: GREEDY });
  assert.equal(full.completionTokens, C - 3);
  const open = await engine.submit({ prompt: [1, 2, 3], sampling: GREEDY });
  assert.equal(open.completionTokens, C - 3);
  assert.equal(open.finishReason, "length");
  assert.throws(() => new Engine(models.llama, { maxConcurrency: 0 }), UsageError);
});

test("close(): refuses new requests, finishes running ones, or cancels them after the grace period", async () => {
  const model = models.gpt2;
  const a = new Engine(model, { maxConcurrency: 2 });
  const inflight = [0, 1, 2].map((i) => a.submit({ prompt: PROMPTS[i]!, maxTokens: 10, sampling: GREEDY }));
  const closed = a.close();
  await assert.rejects(a.submit({ prompt: [1], maxTokens: 2 }), OverloadedError);
  await closed;
  for (const r of await Promise.all(inflight)) assert.deepEqual([r.finishReason, r.completionTokens], ["length", 10]);

  const b = new Engine(model, { maxConcurrency: 2 });
  const long = [0, 1, 2].map((i) => b.submit({ prompt: PROMPTS[i]!, sampling: GREEDY }));
  await b.close(0);
  const res = await Promise.all(long);
  for (const r of res) assert.equal(r.finishReason, "cancelled");
  assert.deepEqual(b.stats().active + b.stats().queued, 0);
});

test("no slot or memory leak: many requests of mixed sizes, then the same again without new allocations", async () => {
  const model = models.llama;
  const engine = new Engine(model, { maxConcurrency: 4, maxQueue: 64 });
  const rng = new Rng(7);
  const round = async () => {
    const reqs = Array.from({ length: 24 }, (_, i) => {
      const len = i === 0 ? 30 : 1 + Math.floor(rng.uniform() * 29);
      const prompt = Array.from({ length: len }, () => Math.floor(rng.uniform() * 300));
      return engine.submit({ prompt, maxTokens: 1 + Math.floor(rng.uniform() * 8), sampling: { temperature: 0.9 }, seed: i, stopTokenIds: [7] });
    });
    return Promise.all(reqs);
  };
  const first = await round();
  assert.equal(first.length, 24);
  const allocs = engine.arenaAllocations;
  const cacheBytes = engine.cacheBytes;
  await round();
  await round();
  const st = engine.stats();
  assert.equal(st.active, 0);
  assert.equal(st.queued, 0);
  assert.equal(st.completed, 72);
  assert.equal(engine.arenaAllocations, allocs, "the inference tape allocated again after warm-up");
  assert.equal(engine.cacheBytes, cacheBytes);
  // Every slot still works: a full batch reproduces solo outputs.
  const ref = await solo(model, PROMPTS[3]!, { maxTokens: 10, sampling: GREEDY });
  const again = await Promise.all([0, 1, 2, 3, 4].map(() => engine.submit({ prompt: PROMPTS[3]!, maxTokens: 10, sampling: GREEDY })));
  for (const r of again) assert.deepEqual(r, ref);
});

test("logprobs: the chosen token's and the top alternatives' log-probabilities, prompt ones for echo, equal a full forward's log-softmax", async () => {
  const model = models.llama;
  const V = model.config.vocabSize;
  const engine = new Engine(model, { maxConcurrency: 2 });
  const prompt = [10, 20, 30, 41];
  const seen: number[] = [];
  const r = await engine.submit({
    prompt,
    maxTokens: 6,
    sampling: GREEDY,
    logprobs: 3,
    promptLogprobs: true,
    onToken: (_id, lp) => void seen.push(lp!.logprob),
  });
  assert.equal(r.logprobs!.length, r.ids.length);
  assert.deepEqual(
    seen,
    r.logprobs!.map((l) => l.logprob),
    "onToken gets the same entries",
  );
  // The oracle: forward over prompt + output, log-softmax of each row.
  const seq = [...prompt, ...r.ids];
  const logits = model.forward(new Tape({ grad: false }), Int32Array.from(seq), 1, seq.length).data;
  const logSoftmax = (p: number, id: number) => {
    const row = logits.subarray(p * V, (p + 1) * V);
    const max = Math.max(...row);
    return row[id]! - max - Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
  };
  r.logprobs!.forEach((l, k) => {
    assert.equal(l.id, r.ids[k]);
    assert.ok(Math.abs(l.logprob - logSoftmax(prompt.length - 1 + k, l.id)) < 1e-3, `token ${k}`);
    assert.equal(l.top.length, 3);
    assert.equal(l.top[0]!.id, l.id, "greedy picks the most likely");
    assert.ok(l.top[0]!.logprob >= l.top[1]!.logprob && l.top[1]!.logprob >= l.top[2]!.logprob);
  });
  assert.equal(r.promptLogprobs!.length, prompt.length);
  assert.equal(r.promptLogprobs![0], null);
  for (let p = 1; p < prompt.length; p++) assert.ok(Math.abs(r.promptLogprobs![p]!.logprob - logSoftmax(p - 1, prompt[p]!)) < 1e-3);
  const plain = await engine.submit({ prompt, maxTokens: 2, sampling: GREEDY });
  assert.equal(plain.logprobs, undefined);
  await assert.rejects(engine.submit({ prompt, maxTokens: 2, logprobs: 21 }), UsageError);
  await engine.close();
});
