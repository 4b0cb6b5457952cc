// A continuous-batching inference engine: many generation requests share one
// model, one KV cache and one decode batch. Requests join between decode steps
// (their prompt is prefilled straight into a free cache slot, then they take
// part in the next shared tq = 1 step) and leave as soon as they finish (stop
// token, stop token-id sequence, token budget, abort), freeing their slot for
// the next request in a bounded FIFO queue. Token ids in, token ids out:
// knows nothing about text, HTTP or threads (the server runs this in a worker).
//
// Memory is fixed at construction: one KvCache of `maxConcurrency` slots of
// `contextLength` positions, and one inference tape whose arena recycles the
// activations of every step (it grows only to the largest prefill seen); plus,
// when on, the prompt cache, up to its byte bound.
//
// Slots: live requests occupy slots 0..live-1, so a decode step is one
// forwardCached over the first `live` slots of the cache. A finished request's
// slot is refilled by moving the last live slot into it (KvCache.copySequence).
// A newcomer is prefilled through KvCache.view(slot) of the slot it takes.
//
// Prompt cache (prompt-cache.ts; on when promptCacheBytes > 0, as the server has it):
// after a prefill the slot's KV of the prompt is saved, and when a request
// leaves, that of its prompt + generated tokens; a newcomer whose prompt
// starts with a saved sequence gets those positions copied into its slot and
// prefills only the rest (at least its last token, whose logits it samples
// from). Outputs are the same tokens as without the cache (tested), but the
// logits are not bit-identical: a reused position may have been computed by
// a decode step (the matmul's one-row path sums in another order than the
// prefill's), so they differ in the last bits, and a near-tie could in rare
// cases tip the other way. Requests for log-probabilities therefore bypass
// the lookup (they prefill the whole prompt): their numbers are reproducible.
//
// Determinism: each request samples from its own Sampler over Rng(seed), so a
// request's output depends only on its prompt, options and seed, not on which
// other requests share its decode steps (rows of a batched matmul are
// computed independently of each other).
//
// Speculative decoding (speculative.ts): before a step, live requests may get
// draft tokens (prompt lookup, a draft model); the step then runs every live
// slot's last token and drafts in one forwardCached (tq > 1) and samples each
// position in turn as a plain step would, keeping drafts while they match, so
// outputs are the same with or without it. KV positions past the kept tokens
// hold rejected drafts' keys; they are overwritten by the next step.
import { OverloadedError, UsageError } from "../errors.ts";
import { KvCache, type CausalLM, type KvDtype } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import type { GenerateResult } from "./generate.ts";
import { NO_TOKEN, type TokenConstraint } from "./constraint.ts";
import { MAX_TOP_LOGPROBS, logSumExp, topLogprobs, type TokenLogprob } from "./logprobs.ts";
import { acceptToken, finishStream, type FinishReason, type TokenStream } from "./stopping.ts";
import { Sampler, type SamplingOptions } from "./sampler.ts";
import { PromptCache, type PromptCacheStats } from "./prompt-cache.ts";
import { Speculator, keepDrafts, type DraftPlan, type SpeculationOptions, type SpeculationStats } from "./speculative.ts";

export interface EngineOptions {
  /** KV-cache slots: the most requests decoding together. Default 8. */
  maxConcurrency?: number;
  /** The most requests waiting for a slot; one more is refused with OverloadedError. Default 64. */
  maxQueue?: number;
  /** Positions per slot (prompt + generated tokens). Default (and at most): the model's context. */
  contextLength?: number;
  /** Storage of the KV cache: f32 (default), f16 (half the memory) or q8_0 (about a quarter). */
  kvDtype?: KvDtype;
  /**
   * Bound in bytes of the prompt cache (prompt-cache.ts: earlier requests' KV, reused for prompts
   * that start with the same tokens; kept in kvDtype). Default 0: off, so the engine's memory is
   * fixed at construction; the server turns it on (BackendOptions.promptCacheBytes).
   */
  promptCacheBytes?: number;
  /** Called (synchronously) whenever the number of queued or running requests changes; e.g. to publish stats. */
  onChange?: (stats: EngineStats) => void;
  /** Speculative decoding (speculative.ts): prompt lookup on by default, a draft model when given; false = off. */
  speculation?: SpeculationOptions | false;
}

export interface EngineRequest {
  /** Prompt token ids (at least one, fewer than the context). */
  prompt: readonly number[];
  /** Most tokens to generate; undefined = until a stop or the context is full. prompt + maxTokens > context is a UsageError. */
  maxTokens?: number;
  /** sampler.ts options (temperature 0 = greedy). */
  sampling?: SamplingOptions;
  /** The request samples from Rng(seed). Default 0. */
  seed?: number;
  /** Token ids that end the generation; not part of `ids`. */
  stopTokenIds?: readonly number[];
  /** Token-id sequences that end the generation, removed from `ids`; a partial match is held back from onToken. */
  stopSequences?: readonly (readonly number[])[];
  /**
   * Each output token once certain (never a stop token or a matched stop sequence), with its
   * log-probability when `logprobs` is set. Return false to stop (finishReason "stop").
   */
  onToken?: (id: number, logprob?: TokenLogprob) => void | boolean;
  /**
   * Report each output token's log-probability under the model's raw logits (before sampling
   * filters and any constraint) with this many most likely alternatives (0..20). Undefined: off.
   */
  logprobs?: number;
  /** Also the prompt tokens' log-probabilities (result.promptLogprobs; for `echo`). */
  promptLogprobs?: boolean;
  /** Abort to cancel: a queued request leaves the queue at once, a running one before the next decode step (finishReason "cancelled"). */
  signal?: AbortSignal;
  /**
   * Restricts every sampled token (structured output, src/infer/json-schema/); the request ends
   * with finishReason "stop" when the constraint is finished. Its minTokens above the budget is a UsageError.
   */
  constraint?: TokenConstraint;
}

export interface EngineStats {
  /** Requests waiting for a slot. */
  queued: number;
  /** Requests holding a slot (decoding together). */
  active: number;
  maxQueue: number;
  maxConcurrency: number;
  /** Requests finished since construction (any finish reason, errors included). */
  completed: number;
  /** Prompt tokens prefilled, tokens sampled in decode steps, and decode steps (forward passes after prefill; tq > 1 when verifying drafts). */
  prefillTokens: number;
  decodeTokens: number;
  decodeSteps: number;
  /** The prompt cache's counts (hits, tokens reused instead of prefilled, bytes held); null when it is off. */
  promptCache: PromptCacheStats | null;
  /** Draft tokens verified and kept, by source, and the draft model's forward calls (all 0 without speculation). */
  speculation: SpeculationStats;
}

interface Job extends TokenStream {
  prompt: Int32Array;
  /** Prompt tokens whose KV came from the prompt cache. */
  cached: number;
  sampler: Sampler;
  stopIds: ReadonlySet<number>;
  stopSeqs: readonly (readonly number[])[];
  onToken?: (id: number, logprob?: TokenLogprob) => void | boolean;
  signal?: AbortSignal;
  constraint?: TokenConstraint;
  /** Alternatives per token when log-probabilities are on (else undefined), the sampled tokens' entries, the prompt's. */
  topN?: number;
  lps: TokenLogprob[];
  promptLps?: (TokenLogprob | null)[];
  /** An error thrown by onToken: the request rejects with it. */
  error?: unknown;
  startedAt: number;
  resolve: (r: GenerateResult) => void;
  reject: (e: unknown) => void;
  unlisten: () => void;
}

/** Yields to the event loop, so messages, aborts and new requests are seen between steps. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

export class Engine {
  readonly maxConcurrency: number;
  readonly maxQueue: number;
  readonly contextLength: number;
  private readonly cache: KvCache; // (maxConcurrency slots, contextLength positions)
  private readonly slotViews: KvCache[]; // view(slot) of each slot, for prefill
  private readonly tape = new Tape({ grad: false });
  private readonly slots: (Job | null)[]; // slot -> job; slots 0..live-1 are occupied
  private live = 0;
  private readonly queue: Job[] = [];
  private running = false;
  private closing = false;
  private idleWaiters: (() => void)[] = [];
  private readonly ids: Int32Array; // (maxConcurrency) last token of each live slot
  private readonly starts: Int32Array; // (maxConcurrency) its position
  private readonly prefillStart = new Int32Array(1);
  private readonly promptCache: PromptCache | null;
  /** Moving average of seconds a request holds a slot (for Retry-After). */
  private avgSeconds = 0;
  private readonly counters = { completed: 0, prefillTokens: 0, decodeTokens: 0, decodeSteps: 0 };
  private readonly onChange?: (stats: EngineStats) => void;
  private readonly spec: Speculator | null;
  private lastQueued = 0;
  private lastActive = 0;

  constructor(
    readonly model: CausalLM,
    opts: EngineOptions = {},
  ) {
    const c = model.config;
    this.maxConcurrency = opts.maxConcurrency ?? 8;
    this.maxQueue = opts.maxQueue ?? 64;
    this.contextLength = opts.contextLength ?? c.maxSeqLen;
    this.onChange = opts.onChange;
    if (!Number.isInteger(this.maxConcurrency) || this.maxConcurrency < 1)
      throw new UsageError(`engine: maxConcurrency must be an integer >= 1, got ${opts.maxConcurrency}`);
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 0) throw new UsageError(`engine: maxQueue must be an integer >= 0, got ${opts.maxQueue}`);
    if (!Number.isInteger(this.contextLength) || this.contextLength < 2 || this.contextLength > c.maxSeqLen) {
      throw new UsageError(`engine: contextLength must be an integer in [2, ${c.maxSeqLen}] (the model's context), got ${opts.contextLength}`);
    }
    this.cache = new KvCache(c, this.maxConcurrency, this.contextLength, { dtype: opts.kvDtype ?? "f32" });
    this.slotViews = Array.from({ length: this.maxConcurrency }, (_, s) => this.cache.view(s));
    this.slots = new Array<Job | null>(this.maxConcurrency).fill(null);
    this.ids = new Int32Array(this.maxConcurrency);
    this.starts = new Int32Array(this.maxConcurrency);
    const pcBytes = opts.promptCacheBytes ?? 0;
    if (!Number.isSafeInteger(pcBytes) || pcBytes < 0)
      throw new UsageError(`engine: promptCacheBytes must be an integer >= 0 (0 = no prompt cache), got ${opts.promptCacheBytes}`);
    this.promptCache = pcBytes > 0 ? new PromptCache(pcBytes, this.cache.sequenceBytes(1)) : null;
    this.spec =
      opts.speculation === false ? null : new Speculator(model, opts.speculation ?? {}, this.maxConcurrency, this.contextLength, opts.kvDtype ?? "f32");
  }

  /** Bytes of the KV cache (allocated once, at construction). */
  get cacheBytes(): number {
    return this.cache.bytes;
  }

  /** Arena allocations of the inference tape so far: stops growing once the largest prefill has run. */
  get arenaAllocations(): number {
    return this.tape.arena.allocations;
  }

  stats(): EngineStats {
    const speculation = {
      ...(this.spec?.stats ?? { lookupProposed: 0, lookupAccepted: 0, draftProposed: 0, draftAccepted: 0, draftCalls: 0, verifySteps: 0 }),
    };
    return {
      queued: this.queue.length,
      active: this.live,
      maxQueue: this.maxQueue,
      maxConcurrency: this.maxConcurrency,
      ...this.counters,
      promptCache: this.promptCache?.stats() ?? null,
      speculation,
    };
  }

  /**
   * Queues a generation. Rejects with UsageError for a bad request (empty prompt, ids outside
   * the vocabulary, prompt + maxTokens beyond the context), OverloadedError when the queue is
   * full or the engine is closing; resolves with finishReason "cancelled" when aborted.
   */
  submit(req: EngineRequest): Promise<GenerateResult> {
    let resolve!: (r: GenerateResult) => void;
    let reject!: (e: unknown) => void;
    const p = new Promise<GenerateResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    let j: Job;
    try {
      j = this.makeJob(req, resolve, reject);
    } catch (e) {
      reject(e);
      return p;
    }
    if (this.closing) {
      j.reject(new OverloadedError("the inference engine is shutting down", 1));
      return p;
    }
    if (j.limit === 0 || req.signal?.aborted) {
      this.settle(j, req.signal?.aborted ? "cancelled" : "length");
      return p;
    }
    if (this.live + this.queue.length >= this.maxConcurrency + this.maxQueue) {
      const retry = Math.min(60, Math.max(1, Math.ceil(this.avgSeconds * (1 + this.queue.length / this.maxConcurrency))));
      j.reject(
        new OverloadedError(`too many requests: ${this.live} generating and ${this.queue.length} queued (the queue holds ${this.maxQueue})`, retry, {
          hint: `retry after ${retry} s`,
        }),
      );
      return p;
    }
    if (req.signal) {
      const onAbort = () => {
        const qi = this.queue.indexOf(j);
        if (qi >= 0) {
          this.queue.splice(qi, 1);
          this.settle(j, "cancelled");
        }
        // A running request is finished by the loop before its next step.
      };
      req.signal.addEventListener("abort", onAbort, { once: true });
      j.unlisten = () => req.signal!.removeEventListener("abort", onAbort);
    }
    this.queue.push(j);
    this.changed();
    this.kick();
    return p;
  }

  /**
   * Stops accepting requests (submit rejects with OverloadedError), lets queued and running
   * ones finish, and after `graceMs` cancels what is left. Resolves when nothing is running.
   */
  async close(graceMs = Infinity): Promise<void> {
    this.closing = true;
    if (this.idle()) return;
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    if (Number.isFinite(graceMs)) {
      const timer = setTimeout(() => this.cancelAll(), Math.max(0, graceMs));
      await idle;
      clearTimeout(timer);
    } else {
      await idle;
    }
  }

  /** Cancels every queued and running request (they resolve with finishReason "cancelled"). */
  cancelAll(): void {
    for (const j of this.queue.splice(0)) this.settle(j, "cancelled");
    // Running requests leave before the next step (the loop compacts them away).
    for (let s = 0; s < this.live; s++) if (this.slots[s]!.finish === null) this.finish(this.slots[s]!, "cancelled");
    this.notifyIdle();
  }

  private idle(): boolean {
    return this.live === 0 && this.queue.length === 0;
  }

  private notifyIdle(): void {
    if (!this.idle()) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Validates a request (throws UsageError) and builds its state. */
  private makeJob(req: EngineRequest, resolve: (r: GenerateResult) => void, reject: (e: unknown) => void): Job {
    const V = this.model.config.vocabSize;
    const C = this.contextLength;
    const checkId = (id: number, what: string) => {
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new UsageError(`${what} is ${id}, outside the vocabulary (0..${V - 1})`);
    };
    const prompt = req.prompt;
    if (!Array.isArray(prompt) && !(prompt instanceof Int32Array)) throw new UsageError("the prompt must be an array of token ids");
    if (prompt.length === 0) throw new UsageError("the prompt is empty", { hint: "start it with the BOS token id" });
    if (prompt.length >= C)
      throw new UsageError(`the prompt has ${prompt.length} tokens; the context is ${C}, which leaves no room to generate`, { hint: "shorten the prompt" });
    for (let i = 0; i < prompt.length; i++) checkId(prompt[i]!, `prompt token ${i}`);
    if (req.maxTokens !== undefined) {
      if (!Number.isInteger(req.maxTokens) || req.maxTokens < 0) throw new UsageError(`max_tokens must be an integer >= 0, got ${req.maxTokens}`);
      if (prompt.length + req.maxTokens > C) {
        throw new UsageError(`the prompt (${prompt.length} tokens) + max_tokens (${req.maxTokens}) is more than the context (${C} tokens)`, {
          hint: `ask for at most ${C - prompt.length} tokens, or shorten the prompt`,
        });
      }
    }
    const seed = req.seed ?? 0;
    if (!Number.isSafeInteger(seed)) throw new UsageError(`seed must be an integer, got ${req.seed}`);
    for (const id of req.stopTokenIds ?? []) checkId(id, "a stop token id");
    (req.stopSequences ?? []).forEach((s, i) => {
      if (!Array.isArray(s) || s.length === 0) throw new UsageError(`stop sequence ${i} must be a non-empty array of token ids`);
      s.forEach((id) => checkId(id, `stop sequence ${i}`));
    });
    if (req.logprobs !== undefined && (!Number.isInteger(req.logprobs) || req.logprobs < 0 || req.logprobs > MAX_TOP_LOGPROBS)) {
      throw new UsageError(`logprobs must be an integer in [0, ${MAX_TOP_LOGPROBS}] (the alternatives per token), got ${req.logprobs}`);
    }
    const limit = req.maxTokens ?? C - prompt.length;
    if (req.constraint && req.constraint.minTokens > limit) {
      throw new UsageError(`max_tokens is ${limit}, but the shortest output the response format allows takes ${req.constraint.minTokens} tokens`, {
        hint: "raise max_tokens (or simplify the schema)",
      });
    }
    let sampler: Sampler;
    try {
      sampler = new Sampler(V, req.sampling ?? {}, new Rng(seed));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    return {
      prompt: Int32Array.from(prompt),
      cached: 0,
      history: Array.from(prompt),
      out: [],
      emitted: 0,
      limit,
      sampled: 0,
      sampler,
      stopIds: new Set(req.stopTokenIds ?? []),
      stopSeqs: (req.stopSequences ?? []).map((s) => [...s]),
      onToken: req.onToken,
      signal: req.signal,
      constraint: req.constraint,
      topN: req.logprobs ?? (req.promptLogprobs ? 0 : undefined),
      lps: [],
      promptLps: req.promptLogprobs ? [null] : undefined,
      finish: null,
      startedAt: 0,
      resolve,
      reject,
      unlisten: () => {},
    };
  }

  /** Resolves (or rejects) a job that holds no slot. */
  private settle(j: Job, reason: FinishReason): void {
    j.finish ??= reason;
    j.unlisten();
    this.counters.completed++;
    if (j.error !== undefined) j.reject(j.error);
    else {
      const r: GenerateResult = { ids: j.out, finishReason: j.finish, promptTokens: j.prompt.length, completionTokens: j.sampled };
      if (this.promptCache) r.cachedTokens = j.cached;
      if (j.topN !== undefined) r.logprobs = j.lps.slice(0, j.out.length);
      if (j.promptLps) r.promptLogprobs = j.promptLps;
      j.resolve(r);
    }
    this.changed();
  }

  private changed(): void {
    if (!this.onChange || (this.queue.length === this.lastQueued && this.live === this.lastActive)) return;
    this.lastQueued = this.queue.length;
    this.lastActive = this.live;
    this.onChange(this.stats());
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      while (!this.idle()) {
        await tick();
        try {
          // Aborted requests leave before the step; newcomers join; then one shared step.
          for (let s = 0; s < this.live; s++) {
            const j = this.slots[s]!;
            if (j.finish === null && j.signal?.aborted) this.finish(j, "cancelled");
          }
          this.compact();
          this.admit();
          if (this.live > 0) this.step();
        } catch (e) {
          // A failing forward pass (a bug, or out of memory): fail the running requests, keep serving.
          for (let s = 0; s < this.live; s++) {
            const j = this.slots[s]!;
            if (j.finish === null) {
              j.error = e;
              j.finish = "stop";
            }
          }
          this.compact();
        }
      }
    } finally {
      this.running = false;
      this.tape.reset();
      this.notifyIdle();
    }
  }

  /** Takes queued requests into free slots: prefill, then sample their first token. */
  private admit(): void {
    const V = this.model.config.vocabSize;
    while (this.live < this.maxConcurrency && this.queue.length > 0) {
      const j = this.queue.shift()!;
      const slot = this.live++;
      this.slots[slot] = j;
      this.spec?.admitted(slot);
      j.startedAt = performance.now();
      const L = j.prompt.length;
      this.tape.reset();
      // ids (1, L) into slot `slot`; logits (1, V) of the last prompt token, or (L, V) of every
      // position when the prompt's log-probabilities are wanted (row p predicts token p + 1).
      const all = j.promptLps !== undefined;
      // Positions 0..m-1 from the prompt cache (not with log-probabilities: see the top of the file).
      const hit = j.topN !== undefined ? null : (this.promptCache?.lookup(j.prompt, L - 1) ?? null);
      const m = hit?.length ?? 0;
      if (hit) this.cache.loadSequence(slot, hit.entry.kv, hit.entry.tokens.length, m);
      j.cached = m;
      this.prefillStart[0] = m;
      const logits = this.model.forwardCached(this.tape, j.prompt.subarray(m), 1, L - m, this.slotViews[slot]!, this.prefillStart, {
        logits: all ? "all" : "last",
      }).data;
      this.counters.prefillTokens += L - m;
      if (all) for (let p = 0; p + 1 < L; p++) j.promptLps!.push(this.logprobOf(logits.subarray(p * V, (p + 1) * V), j.prompt[p + 1]!, j.topN!));
      const lastRow = all ? L - 1 : 0;
      this.sampleAndAccept(j, logits.subarray(lastRow * V, (lastRow + 1) * V));
      this.remember(slot, j.prompt, L); // after the first token is out: the copy does not delay it
      if (j.finish !== null) this.compact();
    }
    this.changed();
  }

  /** One decode step for every live request: feed each its last token at its own position (and drafts, when there are). */
  private step(): void {
    const V = this.model.config.vocabSize;
    const live = this.live;
    const plan = this.spec?.plan(this.slots.slice(0, live) as Job[], this.contextLength);
    if (plan) return this.verifyStep(plan);
    const t0 = performance.now();
    for (let s = 0; s < live; s++) {
      const h = this.slots[s]!.history;
      this.ids[s] = h[h.length - 1]!;
      this.starts[s] = h.length - 1;
    }
    this.tape.reset();
    // ids (live), one token each; logits (live, V)
    const logits = this.model.forwardCached(this.tape, this.ids.subarray(0, live), live, 1, this.cache, this.starts).data;
    this.spec?.timedTarget(performance.now() - t0);
    for (let s = 0; s < live; s++) {
      const j = this.slots[s]!;
      this.sampleAndAccept(j, logits.subarray(s * V, (s + 1) * V));
    }
    this.counters.decodeTokens += live;
    this.counters.decodeSteps++;
    this.compact();
  }

  /**
   * A step that verifies drafts: every live slot's last token and drafts (plan.ids (live, tq))
   * go through one forwardCached; each slot then samples position after position, as plain
   * steps would, while the sampled token equals the draft there and the request goes on.
   */
  private verifyStep(plan: DraftPlan): void {
    const V = this.model.config.vocabSize;
    const live = this.live,
      tq = plan.tq;
    const t0 = performance.now();
    this.tape.reset();
    // logits (live·tq, V): row s·tq + i predicts the token after ids[s·tq + i]
    const logits = this.model.forwardCached(this.tape, plan.ids, live, tq, this.cache, plan.starts).data;
    this.spec!.timedTarget(performance.now() - t0);
    let sampled = 0;
    for (let s = 0; s < live; s++) {
      const j = this.slots[s]!;
      const d = plan.drafts[s]!;
      const before = j.sampled;
      const kept = keepDrafts(j, d, (t) => this.sampleAndAccept(j, logits.subarray((s * tq + t) * V, (s * tq + t + 1) * V)));
      sampled += j.sampled - before;
      if (plan.sources[s]) this.spec!.record(j, plan.sources[s]!, d.length, kept);
    }
    this.counters.decodeTokens += sampled;
    this.counters.decodeSteps++;
    this.compact();
  }

  /** Releases finished jobs' slots, moving the last live slot into each hole. */
  private compact(): void {
    for (let slot = 0; slot < this.live; ) {
      const j = this.slots[slot]!;
      if (j.finish === null) {
        slot++;
        continue;
      }
      // Its prompt + generated tokens (all but the last sampled one have KV) outlive the slot.
      if (j.error === undefined) this.remember(slot, j.history, j.history.length - 1);
      const last = --this.live;
      if (slot !== last) {
        const m = this.slots[last]!;
        this.cache.copySequence(last, slot, m.history.length - 1);
        this.spec?.moved(last, slot);
        this.slots[slot] = m;
      }
      this.slots[last] = null;
      const secs = (performance.now() - j.startedAt) / 1000;
      this.avgSeconds = this.avgSeconds === 0 ? secs : 0.9 * this.avgSeconds + 0.1 * secs;
      this.settle(j, j.finish);
    }
  }

  /** Saves tokens[0..n)'s KV from `slot` into the prompt cache (when on and not already cached). */
  private remember(slot: number, tokens: ArrayLike<number>, n: number): void {
    this.promptCache?.insert(tokens, n, (kv) => this.cache.saveSequence(slot, n, kv));
  }

  /** Passes out[emitted..end) to onToken; false when the callback asked to stop (or threw). */
  private emit(j: Job, end: number): boolean {
    const cb = j.onToken;
    if (!cb) {
      j.emitted = Math.max(j.emitted, end);
      return true;
    }
    while (j.emitted < end) {
      const k = j.emitted++;
      const id = j.out[k]!;
      let more: void | boolean;
      try {
        more = cb(id, j.topN !== undefined ? j.lps[k] : undefined);
      } catch (e) {
        j.error = e;
        return false;
      }
      if (more === false) return false;
    }
    return true;
  }

  /** Ends a job; held-back tokens turn out to be output after all (a caller that stops keeps what it was shown). */
  private finish(j: Job, reason: FinishReason): void {
    finishStream(j, reason, (end) => this.emit(j, end));
  }

  /** Picks the next token from a logits row (V), through the job's constraint if it has one, and records it. */
  private sampleAndAccept(j: Job, row: Float32Array): void {
    const c = j.constraint;
    // Log-probabilities from the raw row, before a constraint masks it (the chosen id is never masked).
    const V = this.model.config.vocabSize;
    const lse = j.topN !== undefined ? logSumExp(row, V) : 0;
    const top = j.topN !== undefined ? topLogprobs(row, V, j.topN, lse) : undefined;
    let id = -1;
    if (c) {
      id = c.mask(row, j.limit - j.sampled);
      if (id === NO_TOKEN) return this.finish(j, "length");
    }
    if (id < 0) id = j.sampler.sample(row, j.history);
    c?.accept(id);
    if (top) j.lps.push({ id, logprob: row[id]! - lse, top });
    this.accept(j, id);
    // A complete value ends the request as "stop", also when it used the last token of the budget.
    if (c?.finished && j.finish === null) this.finish(j, "stop");
    else if (c?.finished && j.finish === "length") j.finish = "stop";
  }

  /** The log-probability of `id` under a raw logits row (V), with the n most likely tokens. */
  private logprobOf(row: Float32Array, id: number, n: number): TokenLogprob {
    const V = this.model.config.vocabSize;
    const lse = logSumExp(row, V);
    return { id, logprob: row[id]! - lse, top: topLogprobs(row, V, n, lse) };
  }

  /** Records a sampled token; marks the job finished when it should stop. */
  private accept(j: Job, id: number): void {
    acceptToken(j, id, { stopIds: j.stopIds, stopSeqs: j.stopSeqs }, (end) => this.emit(j, end));
  }
}
