// Tests of generate(): KV-cache greedy decoding equals full recompute token for
// token (llama with grouped-query attention, and gpt2; batched and alone),
// seeded sampling, stop tokens and stop sequences, the token budget and the
// context limit, cancellation, and the onToken stream.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { ConfigError, UsageError } from "../errors.ts";
import { loadModel } from "../formats/hf-dir.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { fullRecomputeGreedy, generate, generateWithStats } from "./generate.ts";
import { tinyModel } from "./testing.ts";

const PROMPTS = [[5], [10, 20, 30, 40], [7, 8, 9, 10, 11, 12, 13], [10, 20, 30, 41], [99, 3]];
const GREEDY = { temperature: 0 };
const models = { llama: tinyModel("llama"), gpt2: tinyModel("gpt2") };

for (const [arch, model] of Object.entries(models)) {
  test(`${arch}: greedy with the KV cache equals full recompute, batched and one by one`, async () => {
    const n = 24;
    const expected = PROMPTS.map((p) => fullRecomputeGreedy(model, p, n));
    // The oracle outputs depend on the context (not one token repeated), so a wrong cache would show.
    for (const e of expected) assert.ok(new Set(e).size >= 5, `degenerate reference output ${e}`);
    assert.notDeepEqual(expected[1], expected[3]);
    const batched = await generate(model, PROMPTS, { maxTokens: n, sampling: GREEDY });
    batched.forEach((r, i) => {
      assert.deepEqual(r.ids, expected[i], `prompt ${i} in a batch`);
      assert.equal(r.finishReason, "length");
      assert.equal(r.promptTokens, PROMPTS[i]!.length);
      assert.equal(r.completionTokens, n);
    });
    for (let i = 0; i < PROMPTS.length; i++) {
      const [alone] = await generate(model, [PROMPTS[i]!], { maxTokens: n, sampling: GREEDY });
      assert.deepEqual(alone!.ids, expected[i], `prompt ${i} alone`);
    }
  });
}

test("sequences that finish early leave the batch without disturbing the others", async () => {
  const model = models.llama;
  const n = 20;
  const expected = PROMPTS.map((p) => fullRecomputeGreedy(model, p, n));
  // Stop sequence 0 early through onToken, and give sequence 2 a stop token that occurs in its output.
  const stopId = expected[2]![6]!;
  const cut = expected[2]!.indexOf(stopId);
  const seen0: number[] = [];
  const res = await generate(model, PROMPTS, {
    maxTokens: n,
    sampling: GREEDY,
    stopTokenIds: [stopId],
    onToken: (seq, id) => (seq === 0 && seen0.push(id) >= 3 ? false : undefined),
  });
  assert.deepEqual(res[0]!.ids, expected[0]!.slice(0, 3));
  assert.equal(res[0]!.finishReason, "stop");
  assert.deepEqual(res[2]!.ids, expected[2]!.slice(0, cut));
  assert.equal(res[2]!.finishReason, "stop");
  assert.equal(res[2]!.completionTokens, cut + 1);
  for (const i of [1, 3, 4]) {
    const stopAt = expected[i]!.indexOf(stopId);
    assert.deepEqual(res[i]!.ids, stopAt >= 0 ? expected[i]!.slice(0, stopAt) : expected[i]);
  }
});

test("seeded sampling is reproducible and does not depend on the rest of the batch", async () => {
  const model = models.gpt2;
  const sampling = { temperature: 1.2, topK: 40, topP: 0.95, minP: 0.01, repetitionPenalty: 1.1 };
  const a = await generate(model, PROMPTS, { maxTokens: 16, sampling, seed: 42 });
  const b = await generate(model, PROMPTS, { maxTokens: 16, sampling, seed: 42 });
  assert.deepEqual(a, b);
  const c = await generate(model, PROMPTS, { maxTokens: 16, sampling, seed: 43 });
  assert.notDeepEqual(
    a.map((r) => r.ids),
    c.map((r) => r.ids),
  );
  // Sequence i of a batch draws from seed + i: alone with that seed it gives the same ids.
  const [alone] = await generate(model, [PROMPTS[2]!], { maxTokens: 16, sampling, seed: 44 });
  assert.deepEqual(alone!.ids, a[2]!.ids);
  // Sampled output is not the greedy output (the sampler is really used).
  assert.notDeepEqual(
    a.map((r) => r.ids),
    PROMPTS.map((p) => fullRecomputeGreedy(model, p, 16)),
  );
});

test("a stop token ends the sequence and is left out of ids", async () => {
  const model = models.llama;
  const ref = fullRecomputeGreedy(model, PROMPTS[1]!, 20);
  const stop = ref[5]!;
  const at = ref.indexOf(stop);
  const [r] = await generate(model, [PROMPTS[1]!], { maxTokens: 20, sampling: GREEDY, stopTokenIds: [stop] });
  assert.deepEqual(r, { ids: ref.slice(0, at), finishReason: "stop", promptTokens: 4, completionTokens: at + 1 });
});

test("a stop sequence is removed from ids, and its partial match is held back from onToken", async () => {
  const model = models.gpt2;
  const ref = fullRecomputeGreedy(model, PROMPTS[2]!, 20);
  const seq = [ref[8]!, ref[9]!, ref[10]!];
  let at = -1;
  for (let i = 0; i + 3 <= ref.length && at < 0; i++) if (ref[i] === seq[0] && ref[i + 1] === seq[1] && ref[i + 2] === seq[2]) at = i;
  const streamed: number[] = [];
  // A decoy that shares the first token but never completes: its partial matches are released.
  const decoy = [seq[0]!, 299, 298, 297];
  const [r] = await generate(model, [PROMPTS[2]!], {
    maxTokens: 20,
    sampling: GREEDY,
    stopSequences: [decoy, seq],
    onToken: (_s, id) => void streamed.push(id),
  });
  assert.deepEqual(r!.ids, ref.slice(0, at));
  assert.equal(r!.finishReason, "stop");
  assert.equal(r!.completionTokens, at + 3);
  assert.deepEqual(streamed, r!.ids);
  // Without a match, held-back tokens are flushed at the end: the stream equals ids.
  const streamed2: number[] = [];
  const [r2] = await generate(model, [PROMPTS[2]!], {
    maxTokens: 20,
    sampling: GREEDY,
    stopSequences: [[ref[19]!, 299]],
    onToken: (_s, id) => void streamed2.push(id),
  });
  assert.deepEqual(r2!.ids, ref);
  assert.equal(r2!.finishReason, "length");
  assert.deepEqual(streamed2, ref);
});

test("max tokens and the context limit give finishReason length; a prompt filling the context is an error", async () => {
  const model = models.llama;
  const [r] = await generate(model, [[1, 2, 3]], { maxTokens: 7, sampling: GREEDY });
  assert.equal(r!.ids.length, 7);
  assert.equal(r!.finishReason, "length");
  const ctx = model.config.maxSeqLen;
  const long = Array.from({ length: ctx - 3 }, (_, i) => (i * 7) % 300);
  const [clipped] = await generate(model, [long], { maxTokens: 50, sampling: GREEDY });
  assert.equal(clipped!.ids.length, 3);
  assert.equal(clipped!.finishReason, "length");
  assert.deepEqual(clipped!.ids, fullRecomputeGreedy(model, long, 3));
  const [none] = await generate(model, [[1]], { maxTokens: 0 });
  assert.deepEqual(none, { ids: [], finishReason: "length", promptTokens: 1, completionTokens: 0 });
  const full = Array.from({ length: ctx }, () => 1);
  await assert.rejects(
    generate(model, [[1], full], { maxTokens: 5 }),
    (e: unknown) => e instanceof ConfigError && /prompt 1 has 64 tokens; the model's context is 64/.test(e.message),
  );
  await assert.rejects(generate(model, [[]], { maxTokens: 5 }), (e: unknown) => e instanceof UsageError && /prompt 0 is empty/.test(e.message));
  await assert.rejects(generate(model, [[1, 300]], { maxTokens: 5 }), /prompt 0 token 1 is 300, outside the vocabulary \(0..299\)/);
  await assert.rejects(generate(model, [[1]], { maxTokens: -1 }), /maxTokens must be an integer >= 0/);
  await assert.rejects(generate(model, [[1]], { maxTokens: 3, sampling: { topP: 0 } }), /top_p must be in/);
});

test("an abort signal cancels every live sequence", async () => {
  const model = models.gpt2;
  const ac = new AbortController();
  let count = 0;
  const res = await generate(model, [[1, 2], [3]], {
    maxTokens: 30,
    sampling: GREEDY,
    signal: ac.signal,
    onToken: (seq) => {
      if (seq === 1 && ++count === 4) ac.abort();
    },
  });
  for (const r of res) {
    assert.equal(r.finishReason, "cancelled");
    assert.equal(r.ids.length, 4);
  }
  // Already aborted: nothing runs.
  const pre = await generate(model, [[1, 2]], { maxTokens: 30, signal: AbortSignal.abort() });
  assert.deepEqual(pre, [{ ids: [], finishReason: "cancelled", promptTokens: 2, completionTokens: 0 }]);
  // A timer can abort too: generate yields to the event loop between steps.
  const big = createModel(presetConfig("nano", 300, { maxSeqLen: 256 }), 1);
  const [timed] = await generate(big, [[1]], { maxTokens: 250, signal: AbortSignal.timeout(1) });
  assert.equal(timed!.finishReason, "cancelled");
  assert.ok(timed!.ids.length < 250);
});

test("onToken streams every output token once, step by step, sequences in index order", async () => {
  const model = models.llama;
  const events: Array<[number, number]> = [];
  const { results, stats } = await generateWithStats(model, PROMPTS, {
    maxTokens: 6,
    sampling: { temperature: 0.9 },
    seed: 7,
    onToken: (seq, id) => void events.push([seq, id]),
  });
  const expected: Array<[number, number]> = [];
  for (let k = 0; k < 6; k++) results.forEach((r, i) => expected.push([i, r.ids[k]!]));
  assert.deepEqual(events, expected);
  assert.equal(stats.prefillTokens, PROMPTS.flat().length);
  assert.equal(stats.decodeSteps, 5);
  assert.equal(stats.decodeTokens, 5 * PROMPTS.length);
});

// Greedy ids from BOS for the real stories260K checkpoint, produced by llama2.c's run.c
// (karpathy/llama2.c 350e04fe, a scratch copy changed to print ids instead of text;
// `./run stories260K.bin -t 0 -n 65 -i ""`). An independent implementation of the same model.
const LLAMA2C_GREEDY_FROM_BOS = [
  461, 461, 401, 401, 401, 461, 378, 455, 473, 456, 435, 299, 362, 409, 283, 264, 283, 452, 288, 13, 431, 431, 431, 431, 431, 431, 431, 431, 431, 431, 431, 431,
  431, 293, 430, 417, 363, 416, 315, 342, 418, 424, 400, 442, 402, 303, 266, 299, 374, 466, 396, 303, 271, 362, 390, 469, 306, 469, 423, 314, 347, 305, 356,
  333,
];

test("stories260K (real weights): greedy from BOS equals llama2.c's run.c, and the cache equals full recompute", async (t) => {
  const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  // ../shared from the repo root (CI), or ../../shared from a worktree under /work/wt.
  const candidates = [join(repoRoot, "..", "shared"), join(repoRoot, "..", "..", "shared")].map((d) => join(d, "models", "stories260K", "stories260K.bin"));
  const path = candidates.find((p) => existsSync(p));
  if (!path) return t.skip(`stories260K.bin not found (looked for ${candidates.join(", ")})`);
  const { model, config } = loadModel(path);
  const n = LLAMA2C_GREEDY_FROM_BOS.length;
  const [r] = await generate(model, [[config.bosTokenId!]], { maxTokens: n, sampling: GREEDY, stopTokenIds: [config.bosTokenId!] });
  assert.deepEqual(r!.ids, LLAMA2C_GREEDY_FROM_BOS);
  assert.deepEqual(fullRecomputeGreedy(model, [1], n), LLAMA2C_GREEDY_FROM_BOS);
});
