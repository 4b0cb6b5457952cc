// Which vocabulary tokens keep the output a valid prefix of a grammar's JSON
// language, for constrained decoding. A TokenIndex is built once per
// vocabulary (token bytes sorted, with the common-prefix length of neighbours,
// so a walk steps every shared prefix once and skips every token below a dead
// prefix); a JsonMasker pairs it with one grammar and caches the allowed set
// per recogniser state key (LRU); a JsonConstraint is one request's cursor
// (the TokenConstraint that generate() and the engine call). Token ids and
// bytes only: the caller supplies the bytes of each id (no tokenizer here).
//
// Budget ("none truncated"): every cached entry records, for each allowed
// token, the fewest bytes that would complete the value after it. A token is
// allowed only if that many bytes fit in the tokens left after it (one byte
// per token at worst: byte-level vocabularies hold every single byte, see
// TokenIndex.singleBytes). So the output steers towards closing as the budget
// runs low and is complete when the budget ends. The end-of-sequence ids are
// allowed only when the value is complete, and the sequence ends by itself
// when nothing may follow (a closing brace of the root object).
import { UsageError } from "../../errors.ts";
import type { TokenConstraint } from "../constraint.ts";
import { NO_TOKEN } from "../constraint.ts";
import type { Grammar } from "./grammar.ts";
import { Ctx, initialState, isComplete, isFinished, stateKey, stateMin, step, stepBytes, type State } from "./recognizer.ts";

/** The vocabulary as byte strings, sorted for prefix-sharing walks. Built once per tokenizer. */
export class TokenIndex {
  readonly vocabSize: number;
  /** Token ids in byte-lexicographic order (tokens with no bytes, or excluded, left out). */
  readonly order: Int32Array;
  /** lcp[i]: bytes token order[i] shares with order[i-1] (0 for i = 0). */
  readonly lcp: Int32Array;
  /** The longest token, in bytes. */
  readonly horizon: number;
  /** Whether every printable ASCII byte is a token of its own (the budget guarantee relies on it). */
  readonly singleBytes: boolean;

  /** `bytes[id]`: the id's bytes; null or empty for ids that never appear in JSON output (special tokens). */
  constructor(readonly bytes: readonly (Uint8Array | null | undefined)[]) {
    this.vocabSize = bytes.length;
    const ids: number[] = [];
    let horizon = 1;
    const single = new Set<number>();
    bytes.forEach((b, id) => {
      if (!b || b.length === 0) return;
      ids.push(id);
      horizon = Math.max(horizon, b.length);
      if (b.length === 1) single.add(b[0]!);
    });
    const cmp = (a: Uint8Array, b: Uint8Array) => {
      const n = Math.min(a.length, b.length);
      for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
      return a.length - b.length;
    };
    ids.sort((x, y) => cmp(bytes[x]!, bytes[y]!) || x - y);
    this.order = Int32Array.from(ids);
    this.lcp = new Int32Array(ids.length);
    for (let i = 1; i < ids.length; i++) {
      const a = bytes[ids[i - 1]!]!;
      const b = bytes[ids[i]!]!;
      let k = 0;
      while (k < a.length && k < b.length && a[k] === b[k]) k++;
      this.lcp[i] = k;
    }
    this.horizon = horizon;
    let all = true;
    for (let c = 0x20; c < 0x7f; c++) if (!single.has(c)) all = false;
    this.singleBytes = all;
  }
}

/** The allowed tokens in one state: ids, and the fewest bytes completing the value after each. */
interface Entry {
  ids: Int32Array;
  after: Int32Array;
  maxAfter: number;
  /** Tokens NOT allowed (kept when they are fewer than the allowed ones, for a faster apply). */
  banned: Int32Array | null;
  complete: boolean;
}

export interface MaskerStats {
  hits: number;
  misses: number;
  entries: number;
  /** Milliseconds spent walking the vocabulary on cache misses. */
  walkMs: number;
}

/** Default cap on token ids held by one masker's cache (ids + completion lengths: 8 bytes each). */
export const DEFAULT_MASK_CACHE_IDS = 4_000_000;

/** One grammar over one vocabulary: allowed-token sets per state, cached. Shared by the requests using the same schema. */
export class JsonMasker {
  readonly cx: Ctx;
  private readonly cache = new Map<string, Entry>();
  private cachedIds = 0;
  readonly stats: MaskerStats = { hits: 0, misses: 0, entries: 0, walkMs: 0 };

  constructor(readonly grammar: Grammar, readonly index: TokenIndex, private readonly maxCachedIds = DEFAULT_MASK_CACHE_IDS) {
    this.cx = new Ctx(grammar);
  }

  /** Bytes of the shortest value: the fewest tokens that can complete it from the start. */
  get minTokens(): number {
    return this.grammar.minLen[this.grammar.root]!;
  }

  /** The allowed-token entry of a state (cached by its abstract key). */
  entry(st: State): Entry {
    const key = stateKey(st, this.index.horizon);
    const hit = this.cache.get(key);
    if (hit) {
      this.stats.hits++;
      // LRU: move to the back.
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    this.stats.misses++;
    const t0 = performance.now();
    const e = this.walk(st);
    this.stats.walkMs += performance.now() - t0;
    this.cache.set(key, e);
    this.cachedIds += e.ids.length + (e.banned?.length ?? 0);
    while (this.cachedIds > this.maxCachedIds && this.cache.size > 1) {
      const [k, old] = this.cache.entries().next().value as [string, Entry];
      this.cache.delete(k);
      this.cachedIds -= old.ids.length + (old.banned?.length ?? 0);
    }
    this.stats.entries = this.cache.size;
    return e;
  }

  /** Walks every token's bytes from `st` (shared prefixes once, dead prefixes skipped). */
  private walk(st: State): Entry {
    const { order, lcp, bytes } = this.index;
    const cx = this.cx;
    const n = order.length;
    const states: State[] = [st];
    const ids: number[] = [];
    const after: number[] = [];
    let valid = 0; // states[0..valid] hold the states after the current token's first bytes
    for (let i = 0; i < n; i++) {
      const id = order[i]!;
      const t = bytes[id]!;
      let d = Math.min(lcp[i]!, valid);
      let dead = false;
      while (d < t.length) {
        const next = step(cx, states[d]!, t[d]!);
        states[d + 1] = next;
        d++;
        if (next.length === 0) {
          dead = true;
          break;
        }
      }
      valid = d;
      if (dead) {
        // Every following token that starts with these d bytes is dead too.
        while (i + 1 < n && lcp[i + 1]! >= d) i++;
        continue;
      }
      ids.push(id);
      after.push(stateMin(cx, states[t.length]!));
    }
    let maxAfter = 0;
    for (const a of after) maxAfter = Math.max(maxAfter, a);
    const V = this.index.vocabSize;
    let banned: Int32Array | null = null;
    if (ids.length > V / 2) {
      const ok = new Uint8Array(V);
      for (const id of ids) ok[id] = 1;
      const b: number[] = [];
      for (let id = 0; id < V; id++) if (!ok[id]) b.push(id);
      banned = Int32Array.from(b);
    }
    return { ids: Int32Array.from(ids), after: Int32Array.from(after), maxAfter, banned, complete: isComplete(st) };
  }

  /** A cursor for one generation, ending with one of `stopIds` once the value is complete (when it may go on). */
  constraint(stopIds: readonly number[] = []): JsonConstraint {
    return new JsonConstraint(this, stopIds);
  }
}

/** One request's constraint: the recogniser state, advanced token by token. */
export class JsonConstraint implements TokenConstraint {
  private state: State;
  private vals = new Float32Array(0);
  private allowed = new Int32Array(0);
  private readonly stopSet: ReadonlySet<number>;

  constructor(readonly masker: JsonMasker, private readonly stopIds: readonly number[]) {
    this.state = initialState(masker.cx);
    this.stopSet = new Set(stopIds);
  }

  get minTokens(): number {
    return this.masker.minTokens;
  }

  get finished(): boolean {
    return isFinished(this.state);
  }

  /** Whether the output so far is a complete value. */
  get complete(): boolean {
    return isComplete(this.state);
  }

  mask(logits: Float32Array, remaining: number): number {
    const e = this.masker.entry(this.state);
    const budget = remaining - 1; // tokens left after this one
    const eos = e.complete ? this.stopIds.filter((id) => id < logits.length) : [];
    if (budget >= e.maxAfter && e.banned && eos.length === 0) {
      // Most tokens allowed: ban the few others.
      const banned = e.banned;
      for (let i = 0; i < banned.length; i++) logits[banned[i]!] = -Infinity;
      return e.ids.length === 1 ? e.ids[0]! : e.ids.length === 0 ? NO_TOKEN : -1;
    }
    // Gather the allowed ids (filtered by budget when it is tight), then blank the row and put them back.
    const cap = e.ids.length + eos.length;
    if (this.allowed.length < cap) {
      this.allowed = new Int32Array(cap);
      this.vals = new Float32Array(cap);
    }
    let m = 0;
    const tight = budget < e.maxAfter;
    for (let i = 0; i < e.ids.length; i++) {
      if (tight && e.after[i]! > budget) continue;
      const id = e.ids[i]!;
      this.allowed[m] = id;
      this.vals[m++] = logits[id]!;
    }
    for (const id of eos) {
      this.allowed[m] = id;
      this.vals[m++] = logits[id]!;
    }
    logits.fill(-Infinity);
    for (let i = 0; i < m; i++) logits[this.allowed[i]!] = this.vals[i]!;
    return m === 1 ? this.allowed[0]! : m === 0 ? NO_TOKEN : -1;
  }

  accept(id: number): void {
    if (this.stopSet.has(id)) {
      if (!isComplete(this.state)) throw new UsageError(`constrained decoding: stop token ${id} before the JSON value is complete`);
      this.state = [null];
      return;
    }
    const b = this.masker.index.bytes[id];
    const next = b && b.length > 0 ? stepBytes(this.masker.cx, this.state, b) : [];
    if (next.length === 0) throw new UsageError(`constrained decoding: token ${id} does not continue the JSON value`);
    this.state = next;
  }
}

/** Fewest bytes that complete the value from a state (exported for tests). */
export function remainingBytes(masker: JsonMasker, st: State): number {
  return stateMin(masker.cx, st);
}
