// Speculative decoding for the batching engine: which draft tokens each live
// sequence gets before a decode step (prompt lookup, a draft model, or none),
// how many, and when speculation is switched off because it does not pay.
// The engine verifies the drafts itself (engine.ts, verifyStep): the target
// runs [last token, d1..dk] of every live slot in one forwardCached call and
// samples each position in turn, exactly as a plain step would, keeping draft
// tokens while the sampled token equals them.
//
// Why outputs do not change: at every position the engine samples from the
// target's own logits with the request's own sampler and Rng, one draw per
// kept token, as without speculation; a draft only decides how many positions
// one forward pass covers. Greedy: the longest prefix of drafts equal to the
// argmax is kept, plus the target's token after it. Sampling: "draw x from the
// target distribution p, keep the draft d iff x = d" accepts d with
// probability p(d) and otherwise yields x from p with d removed and
// renormalised: the standard speculative-sampling rule (accept with
// min(1, p(d)/q(d)), else resample from max(0, p − q)) for a deterministic
// draft (q one-hot at d), which both drafters are (lookup, and a greedy draft
// model). Coupling the draw to the token means a seed gives the same sampled
// text with or without speculation.
//
// Exactness needs the verified logits rows to be bitwise those of plain
// decode steps: matmuls of at most ROW_CAP rows (live × tq) take the batched
// decode kernels that sum every row as a single-row product does (gemm's few-
// rows path, qgemm's integer path), so a step never verifies more rows.
//
// Knows nothing about requests' stops, streaming or HTTP; token ids only.
import { ConfigError } from "../errors.ts";
import type { CausalLM, KvDtype } from "../models/index.ts";
import { QGEMM_QUANT_ROWS } from "../native/ops/qgemm.ts";
import { DraftModel } from "./draft-model.ts";
import { PROMPT_LOOKUP_DEFAULTS, promptLookup, type PromptLookupOptions } from "./prompt-lookup.ts";

/** The most rows (live sequences × tokens per sequence) one verification forward may have. */
export const ROW_CAP = Math.min(16, QGEMM_QUANT_ROWS);

export interface SpeculationOptions {
  /** Draft tokens by prompt lookup (prompt-lookup.ts); options or true. Default true. */
  promptLookup?: boolean | PromptLookupOptions;
  /** A draft model sharing the target's vocabulary (e.g. a student from `slm distill`). Default none. */
  draft?: CausalLM;
  /** Most draft tokens per sequence and step (also capped by ROW_CAP / live − 1). Default 7. */
  maxDraftTokens?: number;
  /**
   * A source is paused for a sequence when its running acceptance rate falls below this. The
   * draft model is also paused when, at its running acceptance rate, no draft length pays for
   * its calls and the longer verification (bestDraftLength, on measured times). Default 0.1.
   */
  minAcceptance?: number;
  /**
   * Default true: the draft model drafts only as many tokens as pay for their calls and the
   * longer verification on measured times (bestDraftLength), and is paused when none do; the
   * first step at each number of live sequences is then a plain one, to time it. false: by
   * acceptance alone (tests that must see drafts whatever they cost).
   */
  costRule?: boolean;
}

export const SPECULATION_DEFAULTS = {
  promptLookup: true,
  /** ROW_CAP − 1: one sequence may verify 7 drafts in one pass. */
  maxDraftTokens: ROW_CAP - 1,
  /** First draft length of a sequence; +2 after a fully accepted round (at most maxDraftTokens); after a draft-model rejection, the number kept + 1. */
  startDraftTokens: 4,
  minAcceptance: 0.1,
  /** Steps a paused source waits before it is tried again (with one draft token). */
  pauseSteps: 16,
  /** Weight of the latest round in the running acceptance rate. */
  emaWeight: 0.25,
} as const;

export type DraftSource = "lookup" | "draft";

/**
 * The draft-model length that maximises expected tokens per unit of time, or 0 when no length
 * beats a plain step. With each draft kept with probability `alpha` in turn, k drafts yield
 * 1 + α + … + α^k tokens and cost k draft calls (`draftCost` each) plus a verification of k + 1
 * tokens (`stepCost(k + 1)`); a plain step yields 1 token for `stepCost(1)`. Costs in any one unit.
 */
export function bestDraftLength(alpha: number, maxK: number, stepCost: (tq: number) => number, draftCost: number): number {
  let best = 0,
    bestRate = 1 / stepCost(1),
    tokens = 1,
    p = 1;
  for (let k = 1; k <= maxK; k++) {
    p *= alpha;
    tokens += p;
    const rate = tokens / (k * draftCost + stepCost(k + 1));
    if (rate > bestRate) {
      best = k;
      bestRate = rate;
    }
  }
  return best;
}

/** What a sequence looks like to the drafters: its tokens and budget. */
export interface SpecSequence {
  history: readonly number[];
  limit: number;
  sampled: number;
  finish: unknown;
}

/**
 * The verification of one sequence's drafts, after the target's forward over [last, d1..dk]:
 * `sampleAt(t)` samples and records the token at draft position t (logits row t) exactly as a
 * plain step would (stops, budget, streaming, constraint, logprobs); positions go on while the
 * token sampled equals the draft there and the sequence is not finished. Returns the drafts kept.
 */
export function keepDrafts(seq: SpecSequence, draft: readonly number[], sampleAt: (t: number) => void): number {
  let kept = 0;
  for (let t = 0; t <= draft.length; t++) {
    const n = seq.history.length;
    sampleAt(t);
    const same = t < draft.length && seq.history.length > n && seq.history[n] === draft[t];
    if (same) kept++;
    if (!same || seq.finish !== null) break;
  }
  return kept;
}

interface SourceState {
  /** Running acceptance rate (accepted / proposed per round, smoothed). */
  rate: number;
  /** Steps left before this source is tried again; 0 = on. */
  paused: number;
}

interface SeqState {
  k: number;
  lookup: SourceState;
  draft: SourceState;
}

/** Draft tokens for one step: ids (live, tq) = each slot's last token then its drafts (padded), and where they start. */
export interface DraftPlan {
  tq: number;
  ids: Int32Array; // (live, tq)
  starts: Int32Array; // (live) position of each slot's last token
  drafts: number[][]; // per slot, the real drafts (ids past them are padding)
  sources: (DraftSource | null)[];
}

export interface SpeculationStats {
  /** Draft tokens verified, and of them kept, per source. */
  lookupProposed: number;
  lookupAccepted: number;
  draftProposed: number;
  draftAccepted: number;
  /** Forward calls of the draft model, and steps that verified drafts. */
  draftCalls: number;
  verifySteps: number;
}

export class Speculator {
  readonly lookup: Required<PromptLookupOptions> | null;
  readonly draft: DraftModel | null;
  readonly maxDraftTokens: number;
  readonly minAcceptance: number;
  readonly costRule: boolean;
  private readonly seqs = new WeakMap<object, SeqState>();
  readonly stats: SpeculationStats = { lookupProposed: 0, lookupAccepted: 0, draftProposed: 0, draftAccepted: 0, draftCalls: 0, verifySteps: 0 };
  /** Smoothed milliseconds of one draft-model call, and of a target call by its rows (live × tq; 0 = not yet timed). */
  private draftMs = 0;
  private readonly stepMs = new Float64Array(ROW_CAP + 1);
  /** Rows of the target call the engine makes after the last plan(): live × tq, or live for a plain step. */
  private lastRows = 1;

  constructor(target: CausalLM, opts: SpeculationOptions, slots: number, contextLength: number, kvDtype: KvDtype = "f32") {
    const pl = opts.promptLookup ?? SPECULATION_DEFAULTS.promptLookup;
    this.lookup = pl === false ? null : { ...PROMPT_LOOKUP_DEFAULTS, ...(pl === true ? {} : pl) };
    if (
      this.lookup &&
      !(
        Number.isInteger(this.lookup.minNgram) &&
        Number.isInteger(this.lookup.maxNgram) &&
        this.lookup.minNgram >= 1 &&
        this.lookup.maxNgram >= this.lookup.minNgram
      )
    ) {
      throw new ConfigError(
        `prompt lookup: n-gram sizes must be integers with 1 <= minNgram <= maxNgram, got ${this.lookup.minNgram}..${this.lookup.maxNgram}`,
      );
    }
    this.draft = opts.draft ? new DraftModel(opts.draft, target, slots, contextLength, kvDtype) : null;
    this.maxDraftTokens = opts.maxDraftTokens ?? SPECULATION_DEFAULTS.maxDraftTokens;
    if (!Number.isInteger(this.maxDraftTokens) || this.maxDraftTokens < 1 || this.maxDraftTokens > ROW_CAP - 1) {
      throw new ConfigError(`maxDraftTokens must be an integer in [1, ${ROW_CAP - 1}], got ${opts.maxDraftTokens}`);
    }
    this.costRule = opts.costRule ?? true;
    this.minAcceptance = opts.minAcceptance ?? SPECULATION_DEFAULTS.minAcceptance;
    if (!(this.minAcceptance >= 0 && this.minAcceptance <= 1)) throw new ConfigError(`minAcceptance must be in [0, 1], got ${opts.minAcceptance}`);
  }

  /** Whether anything can draft at all. */
  get enabled(): boolean {
    return this.lookup !== null || this.draft !== null;
  }

  /** A sequence took `slot` (its prompt is in the target's cache). */
  admitted(slot: number): void {
    this.draft?.reset(slot);
  }

  /** The engine moved slot `from` into `to`. */
  moved(from: number, to: number): void {
    this.draft?.move(from, to);
  }

  /** Records the time of the target forward call that followed the last plan() (its rows are known from it). */
  timedTarget(ms: number): void {
    const r = Math.max(1, this.lastRows);
    if (r > ROW_CAP) return; // a plain step of many sequences: never a size a verification has
    this.stepMs[r] = this.stepMs[r] === 0 ? ms : 0.9 * this.stepMs[r]! + 0.1 * ms;
  }

  /**
   * Milliseconds of a target call of `rows` rows: the running average for that size, else that of
   * the nearest smaller size timed (optimistic, so a longer verification gets tried and timed), 0 if none.
   */
  private stepCost(rows: number): number {
    for (let r = Math.min(ROW_CAP, rows); r >= 1; r--) if (this.stepMs[r]! > 0) return this.stepMs[r]!;
    return 0;
  }

  private state(seq: SpecSequence): SeqState {
    let st = this.seqs.get(seq);
    if (!st) {
      st = { k: Math.min(SPECULATION_DEFAULTS.startDraftTokens, this.maxDraftTokens), lookup: { rate: 1, paused: 0 }, draft: { rate: 1, paused: 0 } };
      this.seqs.set(seq, st);
    }
    return st;
  }

  /**
   * Drafts for the live sequences (slot order), or null when this step should be a plain one
   * (nothing drafted, or too many live sequences to verify within ROW_CAP rows).
   * `contextLength`: positions per slot (verification writes up to history.length - 1 + tq - 1).
   */
  plan(seqs: readonly SpecSequence[], contextLength: number): DraftPlan | null {
    const live = seqs.length;
    if (!this.enabled || live === 0) return null;
    // Every slot runs tq positions from its last token: the longest history bounds tq.
    this.lastRows = live;
    let maxTq = Math.floor(ROW_CAP / live);
    for (const s of seqs) maxTq = Math.min(maxTq, contextLength - s.history.length + 1);
    if (maxTq < 2) return null;
    const drafts: number[][] = seqs.map(() => []);
    const sources: (DraftSource | null)[] = seqs.map(() => null);
    const budgets = seqs.map((s) => {
      const st = this.state(s);
      for (const src of [st.lookup, st.draft]) if (src.paused > 0) src.paused--;
      return Math.max(0, Math.min(st.k, maxTq - 1, s.limit - s.sampled - 1));
    });
    let wantDraft = 0; // the longest draft-model proposal wanted
    seqs.forEach((s, i) => {
      const st = this.state(s);
      if (budgets[i]! === 0) return;
      if (this.lookup && st.lookup.paused === 0) {
        const d = promptLookup(s.history, budgets[i]!, this.lookup);
        if (d.length > 0) {
          drafts[i] = d;
          sources[i] = "lookup";
          return;
        }
      }
      if (this.draft && st.draft.paused === 0) {
        // The first step at this many live sequences is a plain one, timed: drafts must beat it.
        if (this.costRule && this.stepMs[live] === 0) return;
        // Only as many drafts as pay for their calls and the longer verification (both timed).
        if (this.costRule && this.draftMs > 0) {
          const k = bestDraftLength(st.draft.rate, budgets[i]!, (tq) => this.stepCost(live * tq), this.draftMs);
          if (k === 0) {
            this.pause(st, "draft");
            return;
          }
          budgets[i] = k;
        }
        wantDraft = Math.max(wantDraft, budgets[i]!);
      }
    });
    if (wantDraft > 0) {
      const proposed = this.draft!.propose(
        seqs.map((s) => s.history),
        wantDraft,
      ); // (live, wantDraft)
      this.stats.draftCalls += wantDraft;
      const per = this.draft!.lastCallMs;
      this.draftMs = this.draftMs === 0 ? per : 0.9 * this.draftMs + 0.1 * per;
      seqs.forEach((s, i) => {
        const st = this.state(s);
        if (sources[i] !== null || budgets[i]! === 0 || st.draft.paused > 0) return;
        drafts[i] = Array.from(proposed.subarray(i * wantDraft, i * wantDraft + budgets[i]!));
        sources[i] = "draft";
      });
    }
    const tq = 1 + Math.max(...drafts.map((d) => d.length));
    if (tq === 1) return null;
    const ids = new Int32Array(live * tq);
    const starts = new Int32Array(live);
    seqs.forEach((s, i) => {
      const h = s.history;
      starts[i] = h.length - 1;
      ids[i * tq] = h[h.length - 1]!;
      const d = drafts[i]!;
      // Padding repeats the last real token: its rows are computed and ignored.
      for (let t = 1; t < tq; t++) ids[i * tq + t] = t <= d.length ? d[t - 1]! : ids[i * tq + t - 1]!;
    });
    this.stats.verifySteps++;
    this.lastRows = live * tq;
    return { tq, ids, starts, drafts, sources };
  }

  /** After verification: `accepted` of the `proposed` drafts from `source` were kept for this sequence. */
  record(seq: SpecSequence, source: DraftSource, proposed: number, accepted: number): void {
    if (proposed === 0) return;
    const st = this.state(seq);
    if (source === "lookup") {
      this.stats.lookupProposed += proposed;
      this.stats.lookupAccepted += accepted;
    } else {
      this.stats.draftProposed += proposed;
      this.stats.draftAccepted += accepted;
    }
    const w = SPECULATION_DEFAULTS.emaWeight;
    const src = source === "lookup" ? st.lookup : st.draft;
    src.rate = (1 - w) * src.rate + w * (accepted / proposed);
    // Prompt lookup proposes what the match allows: only the draft model's length adapts to rejections.
    if (accepted === proposed) st.k = Math.min(this.maxDraftTokens, st.k + 2);
    else if (source === "draft") st.k = Math.max(1, accepted + 1);
    if (src.rate < this.minAcceptance) this.pause(st, source);
  }

  /** Pauses a source for a sequence (pauseSteps steps), with a fresh acceptance rate for when it is tried again. */
  private pause(st: SeqState, source: DraftSource): void {
    const src = source === "lookup" ? st.lookup : st.draft;
    src.paused = SPECULATION_DEFAULTS.pauseSteps;
    src.rate = this.minAcceptance + 0.5 * (1 - this.minAcceptance);
    if (source === "draft") st.k = 1;
  }
}
