// Autoregressive generation over a KV cache for a batch of prompts: prefill,
// then one decode step per token for every live sequence together; greedy or
// sampled (sampler.ts), stop token ids, stop token-id sequences, a token
// budget clipped to the model's context, a streaming callback and an
// AbortSignal. Token ids in, token ids out: knows nothing about text (text
// stop strings and detokenisation belong to the caller, see docs/generate.md).
//
// How a call runs:
// - One KvCache of `batch = prompts.length` slots, sized to the longest
//   prompt + budget, is allocated per call; one inference tape is reset
//   every step so its arena recycles the activations.
// - Prefill: prompts of equal length go through forwardCached together
//   (batch = group size, tq = length) in cache slots 0..g-1, then are moved
//   to their own slots (groups placed from the top down, so a later group
//   never overwrites an earlier one). The first token of each sequence is
//   sampled from the last row of its prefill logits.
// - Decode: the live sequences occupy slots 0..live-1; each step feeds each
//   one its last token at its own position (tq = 1). A finished sequence's
//   slot is refilled by moving the last live slot into it, so the batch
//   shrinks as sequences finish.
// - Sequence i samples from its own Rng(seed + i): its output does not
//   depend on which other prompts share the batch.
// - Speculative decoding (speculative.ts; prompt lookup by default, a draft
//   model when given): while few sequences are live, a step may run each
//   one's last token and draft tokens together (tq > 1) and keep the drafts
//   the sampled tokens confirm; the output is the same as without it.
import { ConfigError, UsageError } from "../errors.ts";
import { KvCache, type CausalLM, type KvDtype } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import { NO_TOKEN, type TokenConstraint } from "./constraint.ts";
import type { TokenLogprob } from "./logprobs.ts";
import { Sampler, argmax, type SamplingOptions } from "./sampler.ts";
import { acceptToken, finishStream, type FinishReason, type TokenStream } from "./stopping.ts";
import { Speculator, keepDrafts, type SpeculationOptions, type SpeculationStats } from "./speculative.ts";

export { endsWith, heldBack, type FinishReason } from "./stopping.ts";

export interface GenerateOptions {
  /** Most tokens to generate per sequence (>= 0); clipped so prompt + generated <= the model's context. */
  maxTokens: number;
  /** Temperature, top-k, top-p, min-p, repetition penalty (sampler.ts defaults: temperature 1, all filters off). */
  sampling?: SamplingOptions;
  /** Sequence i draws from Rng(seed + i). Default 0. */
  seed?: number;
  /** Token ids that end a sequence (EOS, end-of-turn). The stop token is not part of `ids`. */
  stopTokenIds?: readonly number[];
  /**
   * Token-id sequences that end a sequence when the generated ids end with one; the matched
   * sequence is removed from `ids`. Tokens that could still start a match are held back from
   * onToken until the match is decided.
   */
  stopSequences?: readonly (readonly number[])[];
  /**
   * Called with each generated token of sequence `seq` once it is certain to be part of the
   * output (never for stop tokens or matched stop sequences), in step order, sequences in index
   * order within a step. Return false to stop that sequence (finishReason "stop"; the token is kept).
   */
  onToken?: (seq: number, id: number) => void | boolean;
  /** Abort to stop every live sequence (finishReason "cancelled"); checked before each step. */
  signal?: AbortSignal;
  /**
   * Per-sequence token constraints (structured output, src/infer/json-schema/): constraints[i]
   * restricts sequence i, which ends ("stop") once its constraint is finished.
   */
  constraints?: readonly (TokenConstraint | undefined)[];
  /** Storage of the KV cache: f32 (default), f16 or q8_0 (models/kv-cache.ts). */
  kvDtype?: KvDtype;
  /** Speculative decoding (speculative.ts): prompt lookup by default, a draft model when given; false = off. */
  speculation?: SpeculationOptions | false;
}

export interface GenerateResult {
  /** Generated ids, without the prompt, the stop token or a matched stop sequence. */
  ids: number[];
  finishReason: FinishReason;
  promptTokens: number;
  /** Tokens sampled, including a stop token or stop sequence left out of `ids`. */
  completionTokens: number;
  /** With the batching engine's prompt cache on: prompt tokens whose keys and values came from it (not prefilled). */
  cachedTokens?: number;
  /** With the engine's `logprobs` option: one entry per id of `ids`. */
  logprobs?: TokenLogprob[];
  /** With the engine's `promptLogprobs` option: one entry per prompt token (null for the first, which has no context). */
  promptLogprobs?: (TokenLogprob | null)[];
}

export interface GenerateStats {
  /** Prompt tokens run through the model, and the wall time of prefill (including sampling the first tokens). */
  prefillTokens: number;
  prefillSeconds: number;
  /** Tokens sampled in decode steps (every live sequence, every step), and the wall time of those steps. */
  decodeTokens: number;
  decodeSeconds: number;
  /** Decode steps (forward passes after prefill; tq > 1 when they verify drafts). */
  decodeSteps: number;
  /** Draft tokens verified and kept (absent without speculation). */
  speculation?: SpeculationStats;
}

interface SeqState extends TokenStream {
  prompt: readonly number[];
  sampler: Sampler;
  constraint?: TokenConstraint;
}

/** Yields to the event loop so an AbortSignal fired by a timer or a signal handler is seen. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function checkOptions(model: CausalLM, prompts: readonly (readonly number[])[], opts: GenerateOptions): void {
  const V = model.config.vocabSize;
  if (!Array.isArray(prompts)) throw new UsageError("generate: prompts must be an array of token-id arrays");
  if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 0) throw new UsageError(`generate: maxTokens must be an integer >= 0, got ${opts.maxTokens}`);
  if (opts.seed !== undefined && !Number.isSafeInteger(opts.seed)) throw new UsageError(`generate: seed must be an integer, got ${opts.seed}`);
  const checkId = (id: number, what: string) => {
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new UsageError(`generate: ${what} is ${id}, outside the vocabulary (0..${V - 1})`);
  };
  prompts.forEach((p, i) => {
    if (!Array.isArray(p)) throw new UsageError(`generate: prompt ${i} must be an array of token ids`);
    if (p.length === 0) throw new UsageError(`generate: prompt ${i} is empty`, { hint: "start it with the BOS token id" });
    if (p.length >= model.config.maxSeqLen) {
      throw new ConfigError(
        `generate: prompt ${i} has ${p.length} tokens; the model's context is ${model.config.maxSeqLen}, which leaves no room to generate`,
        { hint: "shorten the prompt" },
      );
    }
    p.forEach((id, j) => checkId(id, `prompt ${i} token ${j}`));
  });
  for (const id of opts.stopTokenIds ?? []) checkId(id, "a stop token id");
  (opts.stopSequences ?? []).forEach((s, i) => {
    if (!Array.isArray(s) || s.length === 0) throw new UsageError(`generate: stop sequence ${i} must be a non-empty array of token ids`);
    s.forEach((id) => checkId(id, `stop sequence ${i}`));
  });
}

/** Each prompt's stream state (budget, sampler seeded seed + i, constraint); a constraint whose shortest output exceeds the budget is a UsageError. */
function newSequences(model: CausalLM, prompts: readonly (readonly number[])[], opts: GenerateOptions): SeqState[] {
  const config = model.config;
  const seed = opts.seed ?? 0;
  const seqs: SeqState[] = prompts.map((p, i) => ({
    prompt: p,
    history: [...p],
    out: [],
    emitted: 0,
    limit: Math.min(opts.maxTokens, config.maxSeqLen - p.length),
    sampled: 0,
    sampler: new Sampler(config.vocabSize, opts.sampling ?? {}, new Rng(seed + i)),
    constraint: opts.constraints?.[i],
    finish: null,
  }));
  seqs.forEach((s, i) => {
    if (s.constraint && s.constraint.minTokens > s.limit) {
      throw new UsageError(
        `generate: sequence ${i} may generate ${s.limit} tokens, but the shortest output its constraint allows takes ${s.constraint.minTokens}`,
        { hint: "raise maxTokens" },
      );
    }
  });
  return seqs;
}

/**
 * Prefill of the active sequences, one forward per prompt length (logits of the last position
 * only); each group's slots move from 0.. to the top free slots, groups placed from the top slot
 * down, so the active sequences end in slots 0..B-1 (slotSeq: slot → sequence). Returns each
 * sequence's first token, chosen but not yet accepted.
 */
function prefillGroups(
  model: CausalLM,
  tape: Tape,
  cache: KvCache,
  seqs: readonly SeqState[],
  active: readonly number[],
  slotSeq: Int32Array,
  choose: (i: number, row: Float32Array) => number,
  stats: GenerateStats,
): Int32Array {
  const V = model.config.vocabSize;
  const groups = new Map<number, number[]>();
  for (const i of active) {
    const L = seqs[i]!.prompt.length;
    const g = groups.get(L);
    if (g) g.push(i);
    else groups.set(L, [i]);
  }
  const first = new Int32Array(seqs.length); // first sampled token of each sequence
  let top = active.length;
  for (const [L, members] of groups) {
    const g = members.length;
    const ids = new Int32Array(g * L); // (g, L)
    members.forEach((i, j) => ids.set(seqs[i]!.prompt, j * L));
    tape.reset();
    const logits = model.forwardCached(tape, ids, g, L, cache, new Int32Array(g), { logits: "last" }).data; // (g, V)
    members.forEach((i, j) => {
      first[i] = choose(i, logits.subarray(j * V, (j + 1) * V));
    });
    stats.prefillTokens += g * L;
    const base = top - g;
    // Move slots 0..g-1 to base..base+g-1, highest first (the ranges may overlap).
    for (let j = g - 1; j >= 0; j--) {
      if (base > 0) cache.copySequence(j, base + j, L);
      slotSeq[base + j] = members[j]!;
    }
    top = base;
  }
  return first;
}

/**
 * One speculative decode step: every live sequence's last token and its drafts through one
 * forward (tq positions each), then, per sequence in index order, the drafts kept while the
 * token chosen at each position equals the draft, plus the next token (keepDrafts).
 */
function verifyDrafts(
  model: CausalLM,
  tape: Tape,
  cache: KvCache,
  spec: Speculator,
  plan: NonNullable<ReturnType<Speculator["plan"]>>,
  live: number,
  order: readonly number[],
  slotSeq: Int32Array,
  seqs: readonly SeqState[],
  accept: (i: number, id: number) => void,
  choose: (i: number, row: Float32Array) => number,
  stats: GenerateStats,
): void {
  const V = model.config.vocabSize;
  const tv = performance.now(); // the verification alone (plan() may have run the draft model)
  tape.reset();
  const tq = plan.tq;
  const logits = model.forwardCached(tape, plan.ids, live, tq, cache, plan.starts).data; // (live·tq, V)
  spec.timedTarget(performance.now() - tv);
  for (const slot of order) {
    const i = slotSeq[slot]!;
    const s = seqs[i]!,
      d = plan.drafts[slot]!,
      before = s.sampled;
    const kept = keepDrafts(s, d, (k) => accept(i, choose(i, logits.subarray((slot * tq + k) * V, (slot * tq + k + 1) * V))));
    if (plan.sources[slot]) spec.record(s, plan.sources[slot]!, d.length, kept);
    stats.decodeTokens += s.sampled - before;
  }
}

/** Generates continuations of a batch of prompts; see GenerateOptions. */
export async function generate(model: CausalLM, prompts: readonly (readonly number[])[], opts: GenerateOptions): Promise<GenerateResult[]> {
  return (await generateWithStats(model, prompts, opts)).results;
}

/** generate(), plus prefill/decode token counts and timings (for benchmarks). */
export async function generateWithStats(
  model: CausalLM,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions,
): Promise<{ results: GenerateResult[]; stats: GenerateStats }> {
  checkOptions(model, prompts, opts);
  const config = model.config;
  const V = config.vocabSize;
  const N = prompts.length;
  const stats: GenerateStats = { prefillTokens: 0, prefillSeconds: 0, decodeTokens: 0, decodeSeconds: 0, decodeSteps: 0 };
  const stopIds = new Set(opts.stopTokenIds ?? []);
  const stopSeqs = (opts.stopSequences ?? []).map((s) => [...s]);
  const seqs = newSequences(model, prompts, opts);
  const results = () => seqs.map((s) => ({ ids: s.out, finishReason: s.finish ?? "length", promptTokens: s.prompt.length, completionTokens: s.sampled }));
  if (N === 0) return { results: [], stats };
  if (opts.signal?.aborted) {
    for (const s of seqs) s.finish = "cancelled";
    return { results: results(), stats };
  }

  // Passes out[emitted..end) to onToken; false when the callback asked to stop.
  const emit = (i: number, end: number): boolean => {
    const s = seqs[i]!;
    const cb = opts.onToken;
    if (!cb) {
      s.emitted = Math.max(s.emitted, end);
      return true;
    }
    while (s.emitted < end) {
      const id = s.out[s.emitted++]!;
      if (cb(i, id) === false) return false;
    }
    return true;
  };
  const rules = { stopIds, stopSeqs };
  const finish = (i: number, reason: FinishReason) => finishStream(seqs[i]!, reason, (end) => emit(i, end));
  const accept = (i: number, id: number) => {
    const s = seqs[i]!;
    if (id === NO_TOKEN) return finish(i, "length");
    s.constraint?.accept(id);
    acceptToken(s, id, rules, (end) => emit(i, end));
    // A complete value ends the sequence as "stop", also when it used the last token of the budget.
    if (s.constraint?.finished && s.finish === null) finish(i, "stop");
    else if (s.constraint?.finished && s.finish === "length") s.finish = "stop";
  };
  // The next token of sequence i from its logits row (V): through its constraint (which may force one), else sampled.
  const choose = (i: number, row: Float32Array): number => {
    const s = seqs[i]!;
    if (s.constraint) {
      const forced = s.constraint.mask(row, s.limit - s.sampled);
      if (forced >= 0 || forced === NO_TOKEN) return forced;
    }
    return s.sampler.sample(row, s.history);
  };

  // Sequences with nothing to generate never touch the model.
  for (let i = 0; i < N; i++) if (seqs[i]!.limit === 0) seqs[i]!.finish = "length";
  const active = seqs.map((_, i) => i).filter((i) => seqs[i]!.finish === null);
  if (active.length === 0) return { results: results(), stats };

  // Positions forwarded: 0 .. prompt + limit - 2 (the last sampled token is never fed back).
  const maxT = Math.max(...active.map((i) => seqs[i]!.prompt.length + seqs[i]!.limit - 1));
  const B = active.length;
  const cache = new KvCache(config, B, maxT, { dtype: opts.kvDtype ?? "f32" });
  const tape = new Tape({ grad: false });
  const slotSeq = new Int32Array(B); // slot -> sequence index
  const spec = opts.speculation === false ? null : new Speculator(model, opts.speculation ?? {}, B, maxT, opts.kvDtype ?? "f32");
  if (spec) stats.speculation = spec.stats;

  // ---- prefill
  const t0 = performance.now();
  const first = prefillGroups(model, tape, cache, seqs, active, slotSeq, choose, stats);
  for (const i of active) accept(i, first[i]!); // in index order, as onToken promises
  stats.prefillSeconds = (performance.now() - t0) / 1000;

  // ---- decode: live sequences in slots 0..live-1
  let live = B;
  const compact = () => {
    for (let slot = 0; slot < live; ) {
      const i = slotSeq[slot]!;
      if (seqs[i]!.finish === null) {
        slot++;
        continue;
      }
      live--;
      if (slot !== live) {
        const j = slotSeq[live]!;
        cache.copySequence(live, slot, seqs[j]!.history.length - 1);
        spec?.moved(live, slot);
        slotSeq[slot] = j;
      }
    }
  };
  compact();
  const ids = new Int32Array(B); // (live) last token of each live sequence
  const starts = new Int32Array(B); // (live) its position
  while (live > 0) {
    await tick();
    if (opts.signal?.aborted) {
      for (let slot = 0; slot < live; slot++) finish(slotSeq[slot]!, "cancelled");
      break;
    }
    const t = performance.now();
    // Accept in sequence order, so onToken sees sequences in index order within a step.
    const order = Array.from(slotSeq.subarray(0, live).keys()).sort((a, b) => slotSeq[a]! - slotSeq[b]!);
    const plan = spec?.plan(
      Array.from(slotSeq.subarray(0, live), (i) => seqs[i]!),
      maxT,
    );
    if (plan) {
      verifyDrafts(model, tape, cache, spec!, plan, live, order, slotSeq, seqs, accept, choose, stats);
      stats.decodeSteps++;
      compact();
      stats.decodeSeconds += (performance.now() - t) / 1000;
      continue;
    }
    for (let slot = 0; slot < live; slot++) {
      const h = seqs[slotSeq[slot]!]!.history;
      ids[slot] = h[h.length - 1]!;
      starts[slot] = h.length - 1;
    }
    tape.reset();
    const logits = model.forwardCached(tape, ids.subarray(0, live), live, 1, cache, starts).data; // (live, V)
    spec?.timedTarget(performance.now() - t);
    for (const slot of order) {
      const i = slotSeq[slot]!;
      accept(i, choose(i, logits.subarray(slot * V, (slot + 1) * V)));
    }
    stats.decodeTokens += live;
    stats.decodeSteps++;
    compact();
    stats.decodeSeconds += (performance.now() - t) / 1000;
  }
  tape.reset();
  return { results: results(), stats };
}

/**
 * Greedy decoding without a cache: the whole sequence goes through forward() every step and
 * the next token is the argmax of the last row. Slow (quadratic); the oracle for tests.
 */
export function fullRecomputeGreedy(model: CausalLM, prompt: readonly number[], n: number): number[] {
  const V = model.config.vocabSize;
  if (prompt.length + n > model.config.maxSeqLen + 1)
    throw new ConfigError(`fullRecomputeGreedy: ${prompt.length} + ${n} tokens exceed the context (${model.config.maxSeqLen})`);
  const tape = new Tape({ grad: false });
  const seq = [...prompt];
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    tape.reset();
    const T = seq.length;
    const logits = model.forward(tape, Int32Array.from(seq), 1, T).data; // (T, V)
    const id = argmax(logits.subarray((T - 1) * V, T * V), V);
    out.push(id);
    seq.push(id);
  }
  tape.reset();
  return out;
}
