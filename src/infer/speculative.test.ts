// Tests of speculative decoding in the engine on tiny random models: with
// prompt lookup, a draft model, or both, every request's output (ids, finish
// reason, streamed tokens, log-probabilities) equals the engine's without
// speculation, greedy and sampled, with stops, stop sequences, a budget that
// ends exactly at the context, and several requests sharing steps; the
// acceptance rule keeps the target distribution (a statistical test on a
// 4-token vocabulary, with a check that a wrong rule would fail it); a draft
// with another vocabulary is refused.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfigError } from "../errors.ts";
import { createModel, presetConfig, type CausalLM } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { Engine, type EngineRequest } from "./engine.ts";
import { generateWithStats, type GenerateOptions, type GenerateResult } from "./generate.ts";
import type { TokenLogprob } from "./logprobs.ts";
import type { SamplingOptions } from "./sampler.ts";
import { bestDraftLength, type SpeculationOptions } from "./speculative.ts";
import { tinyModel } from "./testing.ts";

// Prompts that repeat themselves, so prompt lookup finds matches; the last fills the context exactly.
const PROMPTS = [
  [5, 6, 7, 8, 9, 10, 5, 6, 7, 8, 9, 10, 5, 6],
  [20, 21, 22, 23, 20, 21, 22, 23, 20],
  [7, 8, 9, 10, 11, 12, 13],
  [1, 2, 3, 1, 2, 3, 1, 2],
  [40, 41, 42, 43, 44, 45, 46, 47, 40, 41, 42, 43, 44, 45],
];
const CONTEXT = 64;

interface Run {
  results: GenerateResult[];
  streamed: { id: number; lp?: TokenLogprob }[][];
  stats: ReturnType<Engine["stats"]>;
}

/** All requests submitted together to one engine of `slots` slots. */
async function run(model: CausalLM, speculation: SpeculationOptions | false, reqs: EngineRequest[], slots = 3): Promise<Run> {
  const engine = new Engine(model, { maxConcurrency: slots, speculation });
  const streamed: Run["streamed"] = reqs.map(() => []);
  const results = await Promise.all(reqs.map((r, i) => engine.submit({ ...r, onToken: (id, lp) => void streamed[i]!.push({ id, lp }) })));
  return { results, streamed, stats: engine.stats() };
}

/** Requests with stops taken from a run without them: a stop id, a stop sequence, the exact-context budget, logprobs. */
async function requests(model: CausalLM, sampling: SamplingOptions, seed: number): Promise<EngineRequest[]> {
  const base = PROMPTS.map((prompt, i) => ({ prompt, maxTokens: i === 4 ? CONTEXT - prompt.length : 30, sampling, seed: seed + i }));
  const free = await run(model, false, base);
  const out = free.results.map((r) => r.ids);
  for (const o of out) assert.ok(o.length >= 20, "reference output too short");
  const firstAt = (o: number[], k: number) => o.indexOf(o[k]!) === k;
  const stopAt = [8, 9, 10, 11, 12].find((k) => firstAt(out[1]!, k))!;
  return base.map((r, i) => ({
    ...r,
    ...(i === 1 && stopAt !== undefined ? { stopTokenIds: [out[1]![stopAt]!] } : {}),
    ...(i === 2 ? { stopSequences: [out[2]!.slice(12, 15), [299, 298]] } : {}),
    ...(i === 3 ? { logprobs: 3 } : {}),
  }));
}

function assertSame(a: Run, b: Run, what: string): void {
  a.results.forEach((r, i) => {
    assert.deepEqual(b.results[i], r, `${what}: request ${i}`);
    assert.deepEqual(b.streamed[i], a.streamed[i], `${what}: request ${i} streamed`);
  });
}

const models = { llama: tinyModel("llama"), gpt2: tinyModel("gpt2") };
const draftFor = { llama: tinyModel("llama", 11), gpt2: tinyModel("gpt2", 11) };

for (const [arch, model] of Object.entries(models)) {
  test(`${arch}: greedy outputs are identical with and without speculation (lookup, draft model, both), stops and budgets included`, async () => {
    const reqs = await requests(model, { temperature: 0 }, 0);
    const plain = await run(model, false, reqs);
    assert.equal(plain.results[1]!.finishReason, "stop");
    assert.equal(plain.results[2]!.finishReason, "stop");
    assert.equal(plain.results[4]!.finishReason, "length");
    assert.equal(plain.results[4]!.ids.length + PROMPTS[4]!.length, CONTEXT);
    assert.equal(plain.stats.speculation.verifySteps, 0);

    assertSame(plain, await run(model, {}, reqs), "the defaults (prompt lookup)");
    // Random models rarely repeat their prompt: one-token matches and no pausing, so drafts are tried often.
    const lookup = await run(model, { promptLookup: { minNgram: 1 }, minAcceptance: 0 }, reqs);
    assertSame(plain, lookup, "prompt lookup");
    assert.ok(lookup.stats.speculation.lookupAccepted > 0, `prompt lookup never kept a draft: ${JSON.stringify(lookup.stats.speculation)}`);
    assert.ok(lookup.stats.decodeSteps < plain.stats.decodeSteps, "speculation did not save steps");

    // The target as its own draft: every draft is kept, or the draft's cache is out of step.
    // (costRule false: a draft as slow as the target never pays, so it would hardly draft.)
    const self = await run(model, { promptLookup: false, draft: model, costRule: false }, reqs);
    assertSame(plain, self, "draft = target");
    const s = self.stats.speculation;
    assert.ok(s.draftProposed > 20, `few drafts: ${JSON.stringify(s)}`);
    assert.equal(s.draftAccepted, s.draftProposed, `the target rejected its own drafts: ${JSON.stringify(s)}`);

    const other = await run(model, { promptLookup: false, draft: draftFor[arch as keyof typeof draftFor], costRule: false }, reqs);
    assertSame(plain, other, "another draft model");
    assert.ok(other.stats.speculation.draftProposed > other.stats.speculation.draftAccepted, "a random draft should be rejected sometimes");

    assertSame(plain, await run(model, { draft: draftFor[arch as keyof typeof draftFor], costRule: false }, reqs), "lookup + draft");
    assertSame(plain, await run(model, { draft: draftFor[arch as keyof typeof draftFor] }, reqs), "lookup + draft, drafting by measured cost");
    // One slot at a time (the most drafts per step), and many slots (speculation only while few are live).
    assertSame(plain, await run(model, { draft: model, costRule: false }, reqs, 1), "one slot");
    assertSame(plain, await run(model, { draft: model, costRule: false }, reqs, 5), "five slots");
  });
}

test("generate(): outputs, streamed tokens and stops are identical with and without speculation, one prompt or several", async () => {
  const model = models.llama;
  for (const prompts of [[PROMPTS[0]!], PROMPTS.slice(0, 3), PROMPTS]) {
    for (const sampling of [{ temperature: 0 }, { temperature: 0.8, topK: 40 }]) {
      const go = async (speculation: GenerateOptions["speculation"], extra: Partial<GenerateOptions> = {}) => {
        // Per sequence: a step may now bring several tokens of one sequence, so the interleaving differs.
        const streamed: number[][] = prompts.map(() => []);
        const r = await generateWithStats(model, prompts, {
          maxTokens: 40,
          sampling,
          seed: 3,
          speculation,
          onToken: (seq, id) => void streamed[seq]!.push(id),
          ...extra,
        });
        return { ...r, streamed };
      };
      const plain = await go(false);
      const stopSequences = [plain.results[0]!.ids.slice(20, 22)];
      const what = `${prompts.length} prompts, ${JSON.stringify(sampling)}`;
      for (const extra of [{}, { stopSequences, stopTokenIds: [plain.results.at(-1)!.ids[15]!] }]) {
        const base = await go(false, extra);
        for (const speculation of [
          { draft: model, costRule: false },
          { promptLookup: { minNgram: 1 }, minAcceptance: 0 },
          { draft: draftFor.llama, costRule: false },
          { draft: draftFor.llama },
        ]) {
          const r = await go(speculation, extra);
          assert.deepEqual(r.results, base.results, what);
          assert.deepEqual(r.streamed, base.streamed, `${what}: streamed`);
          if (prompts.length <= 3 && speculation.draft === model && !("stopSequences" in extra) && sampling.temperature === 0) {
            const st = r.stats.speculation!;
            assert.ok(st.draftProposed > 0 && st.draftAccepted === st.draftProposed, `${what}: ${JSON.stringify(st)}`);
            assert.ok(r.stats.decodeSteps < base.stats.decodeSteps);
          }
        }
      }
    }
  }
});

test("sampled outputs are identical with and without speculation (the draw at each position is the plain step's)", async () => {
  const model = models.llama;
  for (const sampling of [{ temperature: 1 }, { temperature: 0.7, topK: 20, topP: 0.9, repetitionPenalty: 1.2 }]) {
    const reqs = await requests(model, sampling, 7);
    const plain = await run(model, false, reqs);
    const spec = await run(model, { draft: draftFor.llama, costRule: false }, reqs, 2);
    assertSame(plain, spec, JSON.stringify(sampling));
    assert.ok(spec.stats.speculation.verifySteps > 0);
  }
});

/** A tiny model over a 4-token vocabulary, weights scaled so its distributions are far from uniform. */
function fourTokenModel(seed: number, scale = 60): CausalLM {
  const config = presetConfig("nano", 4, { dModel: 16, nLayers: 1, nHeads: 2, nKvHeads: 2, headDim: 8, ffnDim: 32, maxSeqLen: 16 });
  const m = createModel(config, seed);
  for (const [name, p] of m.namedParameters()) if (!/norm/.test(name)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= scale;
  return m;
}

/** Softmax of the last row of a full forward over `ids`. */
function nextProbs(model: CausalLM, ids: number[]): number[] {
  const logits = model.forward(new Tape({ grad: false }), Int32Array.from(ids), 1, ids.length).data;
  const row = Array.from(logits.subarray((ids.length - 1) * 4, ids.length * 4));
  const m = Math.max(...row);
  const e = row.map((x) => Math.exp(x - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
}

test("speculative sampling keeps the target distribution (4-token vocabulary, 3 tokens, draft model)", async () => {
  // The draft: the target's weights at a lower scale (flatter, mostly the same favourite), so its drafts are often but not always kept.
  const target = fourTokenModel(1),
    draft = fourTokenModel(1, 20);
  const prompt = [0, 3];
  // Exact probabilities of the 64 continuations (t1, t2, t3), what "always keep the draft" would
  // give, and the classic slip "keep d with probability p(d), else draw again from all of p".
  const exact = new Map<string, number>(),
    broken = new Map<string, number>(),
    slip = new Map<string, number>();
  const slipped = (p: number[], d: number, x: number) => (x === d ? p[d]! : 0) + (1 - p[d]!) * p[x]!;
  const argmaxOf = (p: number[]) => p.indexOf(Math.max(...p));
  const p1 = nextProbs(target, prompt);
  for (let a = 0; a < 4; a++) {
    const p2 = nextProbs(target, [...prompt, a]);
    const d2 = argmaxOf(nextProbs(draft, [...prompt, a]));
    for (let b = 0; b < 4; b++) {
      const p3 = nextProbs(target, [...prompt, a, b]);
      const d3 = argmaxOf(nextProbs(draft, [...prompt, a, b]));
      for (let c = 0; c < 4; c++) {
        exact.set(`${a}${b}${c}`, p1[a]! * p2[b]! * p3[c]!);
        slip.set(`${a}${b}${c}`, p1[a]! * slipped(p2, d2, b) * slipped(p3, d3, c));
        if (b === d2 && c === d3) broken.set(`${a}${b}${c}`, p1[a]!);
      }
    }
  }
  const N = 3000;
  const engine = new Engine(target, { maxConcurrency: 1, maxQueue: N, speculation: { promptLookup: false, draft, costRule: false } });
  const counts = new Map<string, number>();
  const all = [];
  for (let seed = 0; seed < N; seed++) all.push(engine.submit({ prompt, maxTokens: 3, sampling: { temperature: 1 }, seed }));
  for (const r of await Promise.all(all)) counts.set(r.ids.join(""), (counts.get(r.ids.join("")) ?? 0) + 1);
  const tv = (p: Map<string, number>, q: Map<string, number>) => {
    let d = 0;
    for (const k of new Set([...p.keys(), ...q.keys()])) d += Math.abs((p.get(k) ?? 0) - (q.get(k) ?? 0));
    return d / 2;
  };
  const empirical = new Map([...counts].map(([k, n]) => [k, n / N]));
  const st = engine.stats().speculation;
  assert.ok(st.draftProposed > N / 2 && st.draftAccepted > 0 && st.draftAccepted < st.draftProposed, JSON.stringify(st));
  const TOL = 0.05; // sampling noise at N = 3000 over 64 outcomes is about 0.02-0.03
  console.log(
    `# total variation: ${tv(empirical, exact).toFixed(4)} (keeping every draft: ${tv(broken, exact).toFixed(4)}, the slip: ${tv(slip, exact).toFixed(4)})`,
  );
  assert.ok(tv(empirical, exact) < TOL, `total variation ${tv(empirical, exact).toFixed(4)} from the target distribution`);
  // The test has power: keeping every draft would be far outside the tolerance.
  assert.ok(tv(broken, exact) > 3 * TOL, `a broken rule would pass: ${tv(broken, exact)}`);
  assert.ok(tv(slip, exact) > 2 * TOL, `the slip would pass: ${tv(slip, exact)}`);
});

test("a draft model with another vocabulary, or a shorter context, is refused with a clear error", () => {
  const other = createModel(presetConfig("nano", 200, { dModel: 16, nLayers: 1, nHeads: 2, nKvHeads: 2, headDim: 8, ffnDim: 32, maxSeqLen: 64 }), 1);
  assert.throws(
    () => new Engine(models.llama, { speculation: { draft: other } }),
    (e: unknown) => e instanceof ConfigError && /vocabulary has 200 tokens, the target's 300/.test(e.message),
  );
  const short = createModel(presetConfig("nano", 300, { dModel: 16, nLayers: 1, nHeads: 2, nKvHeads: 2, headDim: 8, ffnDim: 32, maxSeqLen: 32 }), 1);
  assert.throws(
    () => new Engine(models.llama, { speculation: { draft: short } }),
    (e: unknown) => e instanceof ConfigError && /context \(32 tokens\) is shorter/.test(e.message),
  );
  assert.throws(() => new Engine(models.llama, { speculation: { maxDraftTokens: 9 } }), ConfigError);
});

test("bestDraftLength: the draft length with the most expected tokens per unit of time, 0 when none beats a plain step", () => {
  const flat = () => 1;
  // Verification as cheap as a plain step and free drafts: the longest draft always pays.
  assert.equal(bestDraftLength(0.5, 7, flat, 0), 7);
  // Nothing is ever kept: no draft pays.
  assert.equal(bestDraftLength(0, 7, flat, 0.1), 0);
  // Loaded-machine costs of mini (verification of tq tokens 1.43× a step at tq 2, 1.81× at 4, 2.84× at 8)
  // with a draft call 0.08 of a step: at acceptance 0.2 no length pays; at 0.9 a long one does.
  const loaded = (tq: number) => [1, 1, 1.43, 1.6, 1.81, 2.05, 2.3, 2.55, 2.84][tq]!;
  assert.equal(bestDraftLength(0.2, 7, loaded, 0.08), 0);
  assert.ok(bestDraftLength(0.9, 7, loaded, 0.08) >= 4);
  // The rule itself: k = 1 pays iff (1 + α) / (draft + cost(2)) > 1 / cost(1).
  assert.equal(bestDraftLength(0.3, 1, flat, 0.25), 1); // 1.3 / 1.25 > 1
  assert.equal(bestDraftLength(0.2, 1, flat, 0.25), 0); // 1.2 / 1.25 < 1
  // Never longer than asked.
  assert.ok(bestDraftLength(0.99, 3, flat, 0) <= 3);
});
