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
import { Ctx, StrFrame, abstractKey, initialState, isComplete, isFinished, stateKey, stateMin, step, stepBytes, type Stack, type State } from "./recognizer.ts";

/** Some token ids in byte-lexicographic order, with the common-prefix length of neighbours. */
export interface SortedTokens {
  order: Int32Array;
  /** lcp[i]: bytes token order[i] shares with order[i-1] (0 for i = 0). */
  lcp: Int32Array;
}

function sortTokens(bytes: readonly (Uint8Array | null | undefined)[], ids: number[]): SortedTokens {
  const cmp = (a: Uint8Array, b: Uint8Array) => {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return a.length - b.length;
  };
  ids.sort((x, y) => cmp(bytes[x]!, bytes[y]!) || x - y);
  const lcp = new Int32Array(ids.length);
  for (let i = 1; i < ids.length; i++) {
    const a = bytes[ids[i - 1]!]!;
    const b = bytes[ids[i]!]!;
    let k = 0;
    while (k < a.length && k < b.length && a[k] === b[k]) k++;
    lcp[i] = k;
  }
  return { order: Int32Array.from(ids), lcp };
}

/**
 * Code points of a token that is plain string content (no quote, backslash or control byte;
 * well-formed UTF-8 that starts and ends on a character boundary), else -1. Inside a string
 * such a token only adds to the length, so the mask takes it without a walk.
 */
export function plainChars(b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (c < 0x20 || c === 0x22 || c === 0x5c) return -1;
    let need = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (c < 0x80) need = 0;
    else if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c === 0xe0) (need = 2), (lo = 0xa0);
    else if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) need = 2;
    else if (c === 0xed) (need = 2), (hi = 0x9f);
    else if (c === 0xf0) (need = 3), (lo = 0x90);
    else if (c >= 0xf1 && c <= 0xf3) need = 3;
    else if (c === 0xf4) (need = 3), (hi = 0x8f);
    else return -1;
    i++;
    for (let k = 0; k < need; k++, i++) {
      const d = b[i];
      if (d === undefined || d < lo || d > hi) return -1;
      lo = 0x80;
      hi = 0xbf;
    }
    n++;
  }
  return n;
}

/** The vocabulary as byte strings, sorted for prefix-sharing walks. Built once per tokenizer. */
export class TokenIndex {
  readonly vocabSize: number;
  /** Every token with bytes, sorted (tokens with no bytes, i.e. special or padding ids, left out). */
  readonly all: SortedTokens;
  /** The tokens that are not plain string content, sorted (what a walk inside a string still has to step through). */
  readonly nonPlain: SortedTokens;
  /** Plain-content tokens and their code-point counts (see plainChars). */
  readonly plainIds: Int32Array;
  readonly plainLen: Int32Array;
  /** The most code points one plain-content token holds. */
  readonly maxPlainChars: number;
  /** The longest token, in bytes. */
  readonly horizon: number;
  /** Whether every printable ASCII byte is a token of its own (the budget guarantee relies on it). */
  readonly singleBytes: boolean;

  /** `bytes[id]`: the id's bytes; null or empty for ids that never appear in JSON output (special tokens). */
  constructor(readonly bytes: readonly (Uint8Array | null | undefined)[]) {
    this.vocabSize = bytes.length;
    const ids: number[] = [];
    const other: number[] = [];
    const plainIds: number[] = [];
    const plainLen: number[] = [];
    let horizon = 1;
    const single = new Set<number>();
    bytes.forEach((b, id) => {
      if (!b || b.length === 0) return;
      ids.push(id);
      horizon = Math.max(horizon, b.length);
      if (b.length === 1) single.add(b[0]!);
      const n = plainChars(b);
      if (n >= 0) plainIds.push(id), plainLen.push(n);
      else other.push(id);
    });
    this.all = sortTokens(bytes, ids);
    this.nonPlain = sortTokens(bytes, other);
    this.plainIds = Int32Array.from(plainIds);
    this.plainLen = Int32Array.from(plainLen);
    this.maxPlainChars = plainLen.reduce((a, b) => Math.max(a, b), 0);
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
  /**
   * Inside a string (at or past minLength): the code points each allowed token adds to it (a
   * token is allowed only if they fit in the room left before maxLength), and their maximum.
   * One entry then serves every position in the string. Null elsewhere.
   */
  chars: Int32Array | null;
  maxChars: number;
  /**
   * Inside a string: every plain-content token of the index (TokenIndex.plainIds, not copied
   * into `ids`) is allowed too, when its code points fit the room, and leaves this many bytes to
   * complete the value. -1 elsewhere.
   */
  plainAfter: number;
  /** Allowed tokens in all (ids plus the plain ones). */
  count: number;
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

  constructor(
    readonly grammar: Grammar,
    readonly index: TokenIndex,
    private readonly maxCachedIds = DEFAULT_MASK_CACHE_IDS,
  ) {
    this.cx = new Ctx(grammar);
  }

  /** Bytes of the shortest value: the fewest tokens that can complete it from the start. */
  get minTokens(): number {
    return this.grammar.minLen[this.grammar.root]!;
  }

  /** The allowed-token entry of a state (cached by its abstract key). */
  entry(st: State): Entry {
    const inString = stringContent(st);
    const key = inString ? `S*${inString.top.lo0}.${inString.top.hi0}/${abstractKey(inString.rest, this.index.horizon)}` : stateKey(st, this.index.horizon);
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
    const e = inString ? this.walkString(inString.top, inString.rest) : this.walk(st);
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

  /** The allowed tokens from `st`, by walking every token's bytes. */
  private walk(st: State): Entry {
    const ids: number[] = [];
    const after: number[] = [];
    this.walkSorted(st, this.index.all, ids, after);
    return this.makeEntry(st, ids, after, null);
  }

  /**
   * Inside a string, at or past its minLength: plain-content tokens by their length alone, the
   * others walked from the same string with no maxLength; each token's added code points are
   * recorded so that mask() applies maxLength for the actual position.
   */
  private walkString(top: StrFrame, rest: Stack | null): Entry {
    const bytes = this.index.bytes;
    const below = stateMin(this.cx, [rest]);
    const relaxed: State = [{ top: new StrFrame(top.lo0, Infinity, false, top.lo0, 0, 0x80, 0xbf, 0), rest }];
    const ids: number[] = [];
    const after: number[] = [];
    this.walkSorted(relaxed, this.index.nonPlain, ids, after);
    const chars = ids.map((id) => charsBeforeClose(bytes[id]!));
    return this.makeEntry(relaxed, ids, after, chars, 1 + below);
  }

  private makeEntry(st: State, idList: ArrayLike<number>, afterList: ArrayLike<number>, charList: ArrayLike<number> | null, plainAfter = -1): Entry {
    const ids = idList instanceof Int32Array ? idList : Int32Array.from(idList);
    const after = afterList instanceof Int32Array ? afterList : Int32Array.from(afterList);
    const chars = charList === null ? null : charList instanceof Int32Array ? charList : Int32Array.from(charList);
    let maxAfter = 0;
    for (const a of after) maxAfter = Math.max(maxAfter, a);
    let maxChars = 0;
    if (chars) for (const c of chars) maxChars = Math.max(maxChars, c);
    const { vocabSize: V, plainIds } = this.index;
    const count = ids.length + (plainAfter >= 0 ? plainIds.length : 0);
    let banned: Int32Array | null = null;
    if (count > V / 2) {
      const ok = new Uint8Array(V);
      for (const id of ids) ok[id] = 1;
      if (plainAfter >= 0) for (const id of plainIds) ok[id] = 1;
      const b: number[] = [];
      for (let id = 0; id < V; id++) if (!ok[id]) b.push(id);
      banned = Int32Array.from(b);
    }
    return { ids, after, maxAfter, banned, complete: isComplete(st), chars, maxChars, plainAfter, count };
  }

  /** Walks sorted tokens' bytes from `st`: a shared prefix is stepped once, and the tokens below a dead prefix are skipped (binary search). */
  private walkSorted(st: State, sorted: SortedTokens, ids: number[], after: number[]): void {
    const { order, lcp } = sorted;
    const bytes = this.index.bytes;
    const cx = this.cx;
    const n = order.length;
    const states: State[] = [st];
    let valid = 0; // states[0..valid] hold the states after the current token's first bytes
    for (let i = 0; i < n; i++) {
      const t = bytes[order[i]!]!;
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
      if (!dead) {
        ids.push(order[i]!);
        after.push(stateMin(cx, states[t.length]!));
        continue;
      }
      // Every following token that starts with these d bytes is dead too: they are contiguous,
      // and sharing >= d bytes with token i is true then false, so binary-search the end.
      let lo = i + 1;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sharesPrefix(bytes[order[mid]!]!, t, d)) lo = mid + 1;
        else hi = mid;
      }
      i = lo - 1;
    }
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

  constructor(
    readonly masker: JsonMasker,
    private readonly stopIds: readonly number[],
  ) {
    this.state = initialState(masker.cx);
    this.stopSet = new Set(stopIds);
  }

  get minTokens(): number {
    return this.masker.minTokens;
  }

  /** The recogniser state (read-only; for tests and diagnostics). */
  get current(): State {
    return this.state;
  }

  /** The ids allowed next, ignoring the budget (for tests and diagnostics). */
  allowedIds(): Int32Array {
    const e = this.masker.entry(this.state);
    if (!e.chars) return e.ids;
    const top = this.state[0]!.top as StrFrame;
    const room = top.hi0 - top.len;
    const { plainIds, plainLen } = this.masker.index;
    const plain = e.plainAfter >= 0 ? plainIds.filter((_, i) => plainLen[i]! <= room) : new Int32Array(0);
    const rest = e.ids.filter((_, i) => e.chars![i]! <= room);
    const out = new Int32Array(plain.length + rest.length);
    out.set(plain);
    out.set(rest, plain.length);
    return out;
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
    const index = this.masker.index;
    const budget = remaining - 1; // tokens left after this one
    const eos = e.complete ? this.stopIds.filter((id) => id < logits.length) : [];
    // Inside a string: the room left before maxLength.
    const top = e.chars ? (this.state[0]!.top as StrFrame) : null;
    const room = top ? top.hi0 - top.len : Infinity;
    const plain = e.plainAfter >= 0;
    const maxAfter = plain ? Math.max(e.maxAfter, e.plainAfter) : e.maxAfter;
    const maxChars = plain ? Math.max(e.maxChars, index.maxPlainChars) : e.maxChars;
    const tight = budget < maxAfter || room < maxChars;
    if (!tight && e.banned && eos.length === 0) {
      // Most tokens allowed: ban the few others.
      const banned = e.banned;
      for (let i = 0; i < banned.length; i++) logits[banned[i]!] = -Infinity;
      if (e.count === 1) return e.ids.length === 1 ? e.ids[0]! : index.plainIds[0]!;
      return e.count === 0 ? NO_TOKEN : -1;
    }
    // Gather the allowed ids (filtered by budget and room when tight), then blank the row and put them back.
    const cap = e.count + eos.length;
    if (this.allowed.length < cap) {
      this.allowed = new Int32Array(cap);
      this.vals = new Float32Array(cap);
    }
    let m = 0;
    if (plain && e.plainAfter <= budget) {
      const { plainIds, plainLen } = index;
      for (let i = 0; i < plainIds.length; i++) {
        if (plainLen[i]! > room) continue;
        const id = plainIds[i]!;
        this.allowed[m] = id;
        this.vals[m++] = logits[id]!;
      }
    }
    for (let i = 0; i < e.ids.length; i++) {
      if (tight && (e.after[i]! > budget || (e.chars !== null && e.chars[i]! > room))) continue;
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

/** A state that is one stack writing string content (no escape or UTF-8 sequence open) at or past minLength, else null. */
function stringContent(st: State): { top: StrFrame; rest: Stack | null } | null {
  if (st.length !== 1) return null;
  const s = st[0]!;
  const top = s?.top;
  if (!s || !(top instanceof StrFrame) || top.open || top.need !== 0 || top.esc !== 0 || top.len < top.lo0) return null;
  return { top, rest: s.rest };
}

/** Code points a token adds to a string it starts inside (up to an unescaped closing quote); a trailing backslash counts as the character it starts. */
function charsBeforeClose(b: Uint8Array): number {
  let n = 0;
  let esc = false;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (esc) esc = false;
    else if (c === 0x5c) (esc = true), n++;
    else if (c === 0x22) break;
    else if (c < 0x80 || c >= 0xc0) n++;
  }
  return n;
}

function sharesPrefix(a: Uint8Array, b: Uint8Array, d: number): boolean {
  if (a.length < d) return false;
  for (let k = 0; k < d; k++) if (a[k] !== b[k]) return false;
  return true;
}

/** Fewest bytes that complete the value from a state (exported for tests). */
export function remainingBytes(masker: JsonMasker, st: State): number {
  return stateMin(masker.cx, st);
}
