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
   * A source is paused for a sequence when its running acceptance rate falls below this
   * (prompt lookup), or below the measured draft/target time ratio (draft model). Default 0.1.
   */
  minAcceptance?: number;
}

export const SPECULATION_DEFAULTS = {
  promptLookup: true,
  /** ROW_CAP − 1: one sequence may verify 7 drafts in one pass. */
  maxDraftTokens: ROW_CAP - 1,
  /** First draft length of a sequence; +2 after a fully accepted round, −1 after a rejection. */
  startDraftTokens: 4,
  minAcceptance: 0.1,
  /** Steps a paused source waits before it is tried again (with one draft token). */
  pauseSteps: 16,
  /** Weight of the latest round in the running acceptance rate. */
  emaWeight: 0.25,
} as const;

export type DraftSource = "lookup" | "draft";

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
  private readonly seqs = new WeakMap<object, SeqState>();
  readonly stats: SpeculationStats = { lookupProposed: 0, lookupAccepted: 0, draftProposed: 0, draftAccepted: 0, draftCalls: 0, verifySteps: 0 };
  /** Smoothed milliseconds of one draft-model call and of one target call (for the draft's break-even rate). */
  private draftMs = 0;
  private targetMs = 0;

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

  /** Records the time of a target forward call (any tq <= ROW_CAP: about one decode step on CPU). */
  timedTarget(ms: number): void {
    this.targetMs = this.targetMs === 0 ? ms : 0.9 * this.targetMs + 0.1 * ms;
  }

  /** The acceptance rate below which the draft model costs more than it saves (its time / the target's). */
  get draftBreakEven(): number {
    if (this.draftMs === 0 || this.targetMs === 0) return this.minAcceptance;
    return Math.max(this.minAcceptance, Math.min(1, this.draftMs / this.targetMs));
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
      if (this.draft && st.draft.paused === 0) wantDraft = Math.max(wantDraft, budgets[i]!);
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
    const floor = source === "lookup" ? this.minAcceptance : this.draftBreakEven;
    if (src.rate < floor) {
      src.paused = SPECULATION_DEFAULTS.pauseSteps;
      src.rate = floor + 0.5 * (1 - floor); // a fresh start when it is tried again
      if (source === "draft") st.k = 1;
    }
  }
}
