// Picks the next token from a row of logits: greedy, or sampling with
// temperature, top-k, top-p (nucleus), min-p and a repetition penalty, drawn
// from a seeded Rng so a seed reproduces a generation. Works on one logits
// row (V) and token ids only; knows nothing about models or text.
import { ConfigError } from "../errors.ts";
import { Rng } from "../util/rng.ts";

export interface SamplingOptions {
  /** 0 means greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability sums to at least p (1 = off). */
  topP?: number;
  /** Drop tokens whose probability is below minP × the top token's (0 = off). */
  minP?: number;
  /** > 1 discourages tokens already present in `history` (CTRL-style: divide positive logits, multiply negative). 1 = off. */
  repetitionPenalty?: number;
}

/** Checks option ranges and fills defaults; throws ConfigError naming the option. */
export function normalizeSampling(o: SamplingOptions = {}): Required<SamplingOptions> {
  const s = {
    temperature: o.temperature ?? 1,
    topK: o.topK ?? 0,
    topP: o.topP ?? 1,
    minP: o.minP ?? 0,
    repetitionPenalty: o.repetitionPenalty ?? 1,
  };
  if (!(s.temperature >= 0) || !Number.isFinite(s.temperature)) throw new ConfigError(`temperature must be a finite number >= 0, got ${o.temperature}`);
  if (!Number.isInteger(s.topK) || s.topK < 0) throw new ConfigError(`top_k must be an integer >= 0, got ${o.topK}`);
  if (!(s.topP > 0 && s.topP <= 1)) throw new ConfigError(`top_p must be in (0, 1], got ${o.topP}`);
  if (!(s.minP >= 0 && s.minP < 1)) throw new ConfigError(`min_p must be in [0, 1), got ${o.minP}`);
  if (!(s.repetitionPenalty > 0) || !Number.isFinite(s.repetitionPenalty))
    throw new ConfigError(`repetition_penalty must be a finite number > 0, got ${o.repetitionPenalty}`);
  return s;
}

/**
 * A reusable sampler for one vocabulary size: scratch buffers are allocated
 * once, so sampling allocates nothing per token.
 */
export class Sampler {
  private readonly opts: Required<SamplingOptions>;
  private readonly scratch: Float32Array; // (V) adjusted logits
  private readonly order: Int32Array; // (V) candidate ids
  private readonly probs: Float64Array; // (V) candidate probabilities
  private readonly keys: Float64Array; // (V) packed sort keys (see sortCandidates)

  constructor(
    readonly vocabSize: number,
    options: SamplingOptions = {},
    private readonly rng: Rng = new Rng(0),
  ) {
    this.opts = normalizeSampling(options);
    this.scratch = new Float32Array(vocabSize);
    this.order = new Int32Array(vocabSize);
    this.probs = new Float64Array(vocabSize);
    this.keys = new Float64Array(vocabSize);
  }

  get options(): Readonly<Required<SamplingOptions>> {
    return this.opts;
  }

  /** The next token for `logits` (V), given the ids generated or prompted so far (for the repetition penalty). */
  sample(logits: Float32Array, history?: ArrayLike<number>): number {
    const V = this.vocabSize;
    if (logits.length < V) throw new ConfigError(`sampler: logits row has ${logits.length} values, vocabulary is ${V}`);
    const o = this.opts;
    const x = this.scratch;
    x.set(logits.subarray(0, V));
    if (o.repetitionPenalty !== 1 && history) {
      for (let i = 0; i < history.length; i++) {
        const id = history[i]!;
        if (id < 0 || id >= V) continue;
        const l = logits[id]!;
        // Apply once per distinct id: recompute from the original logit.
        x[id] = l > 0 ? l / o.repetitionPenalty : l * o.repetitionPenalty;
      }
    }
    if (o.temperature === 0) return argmax(x, V);

    // Candidates: ids sorted by logit, descending (only when top-k or top-p needs the order), cut by top-k first.
    const maxLogit = x[argmax(x, V)]!;
    const invT = 1 / o.temperature;
    // Tokens more than ~40 nats below the top contribute < 1e-17 each: drop them before sorting.
    const floor = maxLogit - 40 * o.temperature;
    let n = 0;
    for (let i = 0; i < V; i++) if (x[i]! >= floor) this.order[n++] = i;
    const cand = this.order.subarray(0, n);
    if ((o.topK === 0 || o.topK >= n) && o.topP === 1) {
      // No filter needs the order: draw over the candidates in id order (O(V), no sort).
      // min-p keeps p >= minP × the top probability, which is exp(0) = 1.
      let m = 0;
      let total = 0;
      for (let i = 0; i < n; i++) {
        const id = cand[i]!;
        const p = Math.exp((x[id]! - maxLogit) * invT);
        if (p < o.minP) continue;
        cand[m] = id;
        this.probs[m++] = p;
        total += p;
      }
      let r = this.rng.uniform() * total;
      for (let i = 0; i < m; i++) {
        r -= this.probs[i]!;
        if (r < 0) return cand[i]!;
      }
      return cand[m - 1]!;
    }
    sortCandidates(x, cand, this.keys);
    if (o.topK > 0 && o.topK < n) n = o.topK;

    let sum = 0;
    for (let i = 0; i < n; i++) {
      const p = Math.exp((x[cand[i]!]! - maxLogit) * invT);
      this.probs[i] = p;
      sum += p;
    }
    // min-p relative to the top probability, then top-p over what is left.
    if (o.minP > 0) {
      const cut = o.minP * this.probs[0]!;
      let m = 1;
      while (m < n && this.probs[m]! >= cut) m++;
      sum = 0;
      for (let i = 0; i < m; i++) sum += this.probs[i]!;
      n = m;
    }
    if (o.topP < 1) {
      let acc = 0;
      let m = 0;
      while (m < n) {
        acc += this.probs[m]! / sum;
        m++;
        if (acc >= o.topP) break;
      }
      sum = 0;
      for (let i = 0; i < m; i++) sum += this.probs[i]!;
      n = m;
    }
    let r = this.rng.uniform() * sum;
    for (let i = 0; i < n; i++) {
      r -= this.probs[i]!;
      if (r < 0) return cand[i]!;
    }
    return cand[n - 1]!;
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Float32 bits mapped to a uint32 whose unsigned order is the float order (-0 counts as +0). */
function orderedBits(v: number): number {
  f32[0] = v + 0;
  const b = u32[0]!;
  return b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
}

/** Index of the largest value among the first n (the lowest index on ties). */
export function argmax(x: ArrayLike<number>, n = x.length): number {
  let best = 0;
  let bv = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    if (v > bv) {
      bv = v;
      best = i;
    }
  }
  return best;
}

/**
 * Sorts candidate ids by their logit in x, descending, ties by id ascending (in place).
 * Packs (inverted logit order, id) into one exact integer per candidate, so a numeric
 * Float64Array sort without a comparator callback does the work: about 10x faster than a
 * comparator at V = 8192, where an untrained model leaves nearly every token a candidate.
 * `keys`: scratch of at least cand.length.
 */
export function sortCandidates(x: Float32Array, cand: Int32Array, keys: Float64Array = new Float64Array(cand.length)): void {
  const n = cand.length;
  const idBits = Math.max(1, Math.ceil(Math.log2(Math.max(2, x.length))));
  if (32 + idBits > 53) {
    // Ids too wide to pack beside 32 bits of logit order in a double's integer range.
    cand.sort((a, b) => x[b]! - x[a]! || a - b);
    return;
  }
  const scale = 2 ** idBits;
  for (let i = 0; i < n; i++) {
    const id = cand[i]!;
    keys[i] = (0xffffffff - orderedBits(x[id]!)) * scale + id;
  }
  const k = keys.subarray(0, n).sort();
  for (let i = 0; i < n; i++) cand[i] = k[i]! % scale;
}
