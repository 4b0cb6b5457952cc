// A byte-level recogniser for the JSON texts of a grammar (grammar.ts): which
// byte strings are a valid prefix of a value, when the value is complete, and
// the fewest bytes that would complete it. Works on UTF-8 bytes rather than
// characters so that a byte-level BPE token ending inside a multi-byte
// character is judged exactly. Knows nothing about tokens or models
// (token-mask.ts walks a vocabulary through it).
//
// A state is a set of stacks (anyOf and the end of a number make it
// nondeterministic). A stack is an immutable linked list of frames, innermost
// first; a frame is one value being written (object, map, array, string,
// number, literal) at some position. A frame finishes on the byte that ends
// its value: stepping that byte yields the stack below it (`rest`), whose top
// is already in its after-the-child position. The whole value is complete when
// a stack has run empty (null). Numbers are the one value that may end or go
// on: stepping a digit yields both.
//
// Keys: every state has a string key. The exact key tells stacks apart; the
// abstract key (given a horizon h, the most bytes one token holds) forgets a
// string's length or an array's item count while no token could reach a
// bound, so the states inside a long string share one key (and one cached
// token mask) while they allow the same tokens.
import type { Grammar, GrammarNode } from "./grammar.ts";

export interface Stack {
  readonly top: Frame;
  readonly rest: Stack | null;
  /** Cached exact key, abstract key (for horizon kh) and fewest bytes to complete. */
  k?: string;
  ka?: string;
  kh?: number;
  m?: number;
}

/** One set of stacks; null = the value is complete. */
export type State = readonly (Stack | null)[];

/** Number bounds: digits before the point, after it, and in the exponent (so a number always ends). */
const MAX_INT_DIGITS = 15;
const MAX_FRAC_DIGITS = 15;
const MAX_EXP_DIGITS = 2;

/** Grammar plus tables the frames share (start frames per node, object tails). */
export class Ctx {
  private readonly startCache = new Map<number, Frame[]>();
  private readonly tails = new Map<number, Float64Array>();
  private readonly cands = new Map<string, number[]>();

  constructor(readonly g: Grammar) {}

  node(id: number): GrammarNode {
    return this.g.nodes[id]!;
  }

  /** The frames a value of node `id` may start as (anyOf flattened). */
  starts(id: number): Frame[] {
    const c = this.startCache.get(id);
    if (c) return c;
    const out: Frame[] = [];
    const seen = new Set<number>();
    const visit = (n: number) => {
      if (seen.has(n)) return;
      seen.add(n);
      const node = this.node(n);
      switch (node.kind) {
        case "anyOf":
          for (const o of node.options) visit(o);
          break;
        case "object":
          out.push(new ObjFrame(n, 0, 0, true, 0, EMPTY));
          break;
        case "map":
          out.push(new MapFrame(n, 0, true));
          break;
        case "array":
          out.push(new ArrFrame(n, 0, 0, node));
          break;
        case "string":
          out.push(new StrFrame(node.min, node.max, true, 0, 0, 0x80, 0xbf, 0));
          break;
        case "number":
          out.push(new NumFrame(node.integer, 0, 0));
          break;
        case "literal":
          out.push(
            new LitFrame(
              n,
              0,
              node.alts.map((_, i) => i),
            ),
          );
          break;
      }
    };
    visit(id);
    this.startCache.set(id, out);
    return out;
  }

  /** Object node: tail[i] = bytes for the required properties from i on (each with its comma) plus "}". */
  tail(id: number): Float64Array {
    let t = this.tails.get(id);
    if (t) return t;
    const node = this.node(id) as Extract<GrammarNode, { kind: "object" }>;
    const n = node.props.length;
    t = new Float64Array(n + 1);
    t[n] = 1;
    for (let i = n - 1; i >= 0; i--) {
      const p = node.props[i]!;
      t[i] = t[i + 1]! + (p.required ? 1 + p.key.length + this.g.minLen[p.node]! : 0);
    }
    this.tails.set(id, t);
    return t;
  }

  /** Object node: the properties that may come next at position i (up to and including the next required one). */
  candidates(id: number, i: number): number[] {
    const k = `${id}.${i}`;
    let c = this.cands.get(k);
    if (c) return c;
    const props = (this.node(id) as Extract<GrammarNode, { kind: "object" }>).props;
    c = [];
    for (let j = i; j < props.length; j++) {
      c.push(j);
      if (props[j]!.required) break;
    }
    this.cands.set(k, c);
    return c;
  }

  /** Whether a required property remains at position i or later. */
  requiredFrom(id: number, i: number): boolean {
    const props = (this.node(id) as Extract<GrammarNode, { kind: "object" }>).props;
    for (let j = i; j < props.length; j++) if (props[j]!.required) return true;
    return false;
  }
}

const EMPTY: number[] = [];

function push(out: (Stack | null)[], top: Frame, rest: Stack | null): void {
  out.push({ top, rest });
}

/** Pushes a child value of node `id` on top of `parent` without consuming a byte. */
function pushChild(cx: Ctx, id: number, parent: Stack, out: (Stack | null)[]): void {
  for (const f of cx.starts(id)) push(out, f, parent);
}

/** Pushes a child value of node `id` and feeds it byte b. */
function feedChild(cx: Ctx, id: number, b: number, parent: Stack, out: (Stack | null)[]): void {
  for (const f of cx.starts(id)) f.step(cx, b, parent, out);
}

export interface Frame {
  /** Appends the stacks this frame leads to on byte b (with `rest` below it). */
  step(cx: Ctx, b: number, rest: Stack | null, out: (Stack | null)[]): void;
  /** Fewest bytes that finish this frame's value. */
  min(cx: Ctx): number;
  /** Exact key (h = Infinity) or abstract key for horizon h. */
  key(h: number): string;
}

class LitFrame implements Frame {
  constructor(
    readonly node: number,
    readonly pos: number,
    readonly alive: readonly number[],
  ) {}
  step(cx: Ctx, b: number, rest: Stack | null, out: (Stack | null)[]): void {
    const alts = (cx.node(this.node) as Extract<GrammarNode, { kind: "literal" }>).alts;
    const pos = this.pos;
    let done = false;
    let longer: number[] | null = null;
    for (const a of this.alive) {
      const t = alts[a]!;
      if (t[pos] !== b) continue;
      if (t.length === pos + 1) done = true;
      else (longer ??= []).push(a);
    }
    if (done) out.push(rest);
    if (longer) push(out, new LitFrame(this.node, pos + 1, longer), rest);
  }
  min(cx: Ctx): number {
    const alts = (cx.node(this.node) as Extract<GrammarNode, { kind: "literal" }>).alts;
    let m = Infinity;
    for (const a of this.alive) m = Math.min(m, alts[a]!.length - this.pos);
    return m;
  }
  key(): string {
    return `L${this.node}.${this.pos}.${this.alive.join(",")}`;
  }
}

/** Inside a string (lo0..hi0 = minLength..maxLength): `open` = the opening quote is still to come; `need` continuation bytes of a UTF-8 character remain, the next in [lo, hi]; `esc` = after a backslash. */
export class StrFrame implements Frame {
  constructor(
    readonly lo0: number,
    readonly hi0: number,
    readonly open: boolean,
    readonly len: number,
    readonly need: number,
    readonly lo: number,
    readonly hi: number,
    readonly esc: number,
  ) {}
  private next(len: number, need: number, lo: number, hi: number, esc: number): StrFrame {
    return new StrFrame(this.lo0, this.hi0, false, len, need, lo, hi, esc);
  }
  step(_cx: Ctx, b: number, rest: Stack | null, out: (Stack | null)[]): void {
    const len = this.len;
    if (this.open) {
      if (b === 0x22) push(out, this.next(0, 0, 0x80, 0xbf, 0), rest);
      return;
    }
    if (this.need > 0) {
      if (b >= this.lo && b <= this.hi) push(out, this.next(len, this.need - 1, 0x80, 0xbf, 0), rest);
      return;
    }
    if (this.esc) {
      // \" \\ \/ \b \f \n \r \t (no \u: see grammar.ts)
      if (b === 0x22 || b === 0x5c || b === 0x2f || b === 0x62 || b === 0x66 || b === 0x6e || b === 0x72 || b === 0x74)
        push(out, this.next(len + 1, 0, 0x80, 0xbf, 0), rest);
      return;
    }
    if (b === 0x22) {
      if (len >= this.lo0) out.push(rest);
      return;
    }
    if (len + 1 > this.hi0) return;
    if (b === 0x5c) return push(out, this.next(len, 0, 0x80, 0xbf, 1), rest);
    if (b < 0x20) return;
    if (b < 0x80) return push(out, this.next(len + 1, 0, 0x80, 0xbf, 0), rest);
    // UTF-8 lead bytes (well-formed sequences only: no overlongs, surrogates or > U+10FFFF).
    if (b >= 0xc2 && b <= 0xdf) return push(out, this.next(len + 1, 1, 0x80, 0xbf, 0), rest);
    if (b === 0xe0) return push(out, this.next(len + 1, 2, 0xa0, 0xbf, 0), rest);
    if ((b >= 0xe1 && b <= 0xec) || b === 0xee || b === 0xef) return push(out, this.next(len + 1, 2, 0x80, 0xbf, 0), rest);
    if (b === 0xed) return push(out, this.next(len + 1, 2, 0x80, 0x9f, 0), rest);
    if (b === 0xf0) return push(out, this.next(len + 1, 3, 0x90, 0xbf, 0), rest);
    if (b >= 0xf1 && b <= 0xf3) return push(out, this.next(len + 1, 3, 0x80, 0xbf, 0), rest);
    if (b === 0xf4) return push(out, this.next(len + 1, 3, 0x80, 0x8f, 0), rest);
  }
  min(): number {
    if (this.open) return 2 + this.lo0;
    return this.esc + this.need + Math.max(0, this.lo0 - this.len - this.esc) + 1;
  }
  key(h: number): string {
    // Below minLength the count matters; near maxLength the distance matters; otherwise neither.
    const len = this.len;
    const lk = len < this.lo0 ? `${len}` : this.hi0 - len <= h ? `r${this.hi0 - len}` : "f";
    return `S${this.lo0}.${this.hi0}.${this.open ? 1 : 0}.${lk}.${this.need}.${this.lo}.${this.hi}.${this.esc}`;
  }
}

/** Number phases: 0 start, 1 after "-", 2 after a leading 0, 3 integer digits, 4 after ".", 5 fraction digits, 6 after "e", 7 after the exponent's sign, 8 exponent digits. */
const NUM_CAN_END = [false, false, true, true, false, true, false, false, true];

class NumFrame implements Frame {
  constructor(
    readonly integer: boolean,
    readonly phase: number,
    readonly digits: number,
  ) {}
  private go(phase: number, digits: number, rest: Stack | null, out: (Stack | null)[]): void {
    push(out, new NumFrame(this.integer, phase, digits), rest);
    if (NUM_CAN_END[phase]) out.push(rest);
  }
  step(_cx: Ctx, b: number, rest: Stack | null, out: (Stack | null)[]): void {
    const digit = b >= 0x30 && b <= 0x39;
    const p = this.phase;
    const d = this.digits;
    const frac = !this.integer && b === 0x2e;
    const exp = !this.integer && (b === 0x65 || b === 0x45);
    switch (p) {
      case 0:
      case 1:
        if (p === 0 && b === 0x2d) return push(out, new NumFrame(this.integer, 1, 0), rest);
        if (b === 0x30) return this.go(2, 1, rest, out);
        if (digit) return this.go(3, 1, rest, out);
        return;
      case 2:
        if (frac) return push(out, new NumFrame(false, 4, 0), rest);
        if (exp) return push(out, new NumFrame(false, 6, 0), rest);
        return;
      case 3:
        if (digit && d < MAX_INT_DIGITS) return this.go(3, d + 1, rest, out);
        if (frac) return push(out, new NumFrame(false, 4, 0), rest);
        if (exp) return push(out, new NumFrame(false, 6, 0), rest);
        return;
      case 4:
        if (digit) return this.go(5, 1, rest, out);
        return;
      case 5:
        if (digit && d < MAX_FRAC_DIGITS) return this.go(5, d + 1, rest, out);
        if (exp) return push(out, new NumFrame(false, 6, 0), rest);
        return;
      case 6:
      case 7:
        if (p === 6 && (b === 0x2b || b === 0x2d)) return push(out, new NumFrame(false, 7, 0), rest);
        if (digit) return this.go(8, 1, rest, out);
        return;
      case 8:
        if (digit && d < MAX_EXP_DIGITS) return this.go(8, d + 1, rest, out);
        return;
    }
  }
  min(): number {
    return NUM_CAN_END[this.phase] ? 0 : 1;
  }
  key(): string {
    return `N${this.integer ? 1 : 0}.${this.phase}.${this.digits}`;
  }
}

/** An object with listed properties. Phases: 0 before "{", 1 after "{" or a value, 2 inside a key (pos bytes of `"name":` matched, alive = candidate props). */
class ObjFrame implements Frame {
  constructor(
    readonly node: number,
    readonly phase: number,
    readonly i: number,
    readonly first: boolean,
    readonly pos: number,
    readonly alive: readonly number[],
  ) {}
  private key_(cx: Ctx, b: number, pos: number, alive: readonly number[], rest: Stack | null, out: (Stack | null)[]): void {
    const props = (cx.node(this.node) as Extract<GrammarNode, { kind: "object" }>).props;
    let longer: number[] | null = null;
    for (const j of alive) {
      const k = props[j]!.key;
      if (k[pos] !== b) continue;
      if (k.length === pos + 1) pushChild(cx, props[j]!.node, { top: new ObjFrame(this.node, 1, j + 1, false, 0, EMPTY), rest }, out);
      else (longer ??= []).push(j);
    }
    if (longer) push(out, new ObjFrame(this.node, 2, this.i, this.first, pos + 1, longer), rest);
  }
  step(cx: Ctx, b: number, rest: Stack | null, out: (Stack | null)[]): void {
    if (this.phase === 0) {
      if (b === 0x7b) push(out, new ObjFrame(this.node, 1, 0, true, 0, EMPTY), rest);
      return;
    }
    if (this.phase === 2) return this.key_(cx, b, this.pos, this.alive, rest, out);
    if (b === 0x7d) {
      if (!cx.requiredFrom(this.node, this.i)) out.push(rest);
      return;
    }
    const cands = cx.candidates(this.node, this.i);
    if (cands.length === 0) return;
    if (this.first) return this.key_(cx, b, 0, cands, rest, out);
    if (b === 0x2c) push(out, new ObjFrame(this.node, 2, this.i, false, 0, cands), rest);
  }
  min(cx: Ctx): number {
    if (this.phase === 0) return cx.g.minLen[this.node]!;
    const tail = cx.tail(this.node);
    if (this.phase === 1) return tail[this.i]! - (this.first && cx.requiredFrom(this.node, this.i) ? 1 : 0);
    const props = (cx.node(this.node) as Extract<GrammarNode, { kind: "object" }>).props;
    let m = Infinity;
    for (const j of this.alive) m = Math.min(m, props[j]!.key.length - this.pos + cx.g.minLen[props[j]!.node]! + tail[j + 1]!);
    return m;
  }
  key(): string {
    return `O${this.node}.${this.phase}.${this.i}.${this.first ? 1 : 0}.${this.pos}.${this.alive.join(",")}`;
  }
}

/** An object with any keys. Phases: 0 before "{", 1 after "{" or a value, 2 after ",", 3 after a key. */
class MapFrame implements Frame {
  constructor(
    readonly node: number,
    readonly phase: number,
    readonly first: boolean,
  ) {}
  step(cx: Ctx, b: number, rest: Stack | null, out: (Stack | null)[]): void {
    const value = (cx.node(this.node) as Extract<GrammarNode, { kind: "map" }>).value;
    switch (this.phase) {
      case 0:
        if (b === 0x7b) push(out, new MapFrame(this.node, 1, true), rest);
        return;
      case 1:
      case 2:
        if (this.phase === 1 && b === 0x7d) return void out.push(rest);
        if (this.phase === 1 && !this.first) {
          if (b === 0x2c) push(out, new MapFrame(this.node, 2, false), rest);
          return;
        }
        // The first key starts right after "{", the others after ",".
        if (b === 0x22) push(out, new StrFrame(0, Infinity, false, 0, 0, 0x80, 0xbf, 0), { top: new MapFrame(this.node, 3, false), rest });
        return;
      case 3:
        if (b === 0x3a) pushChild(cx, value, { top: new MapFrame(this.node, 1, false), rest }, out);
        return;
    }
  }
  min(cx: Ctx): number {
    const value = (cx.node(this.node) as Extract<GrammarNode, { kind: "map" }>).value;
    switch (this.phase) {
      case 0:
        return 2;
      case 1:
        return 1;
      case 2:
        return 4 + cx.g.minLen[value]! + 1;
      default:
        return 1 + cx.g.minLen[value]! + 1;
    }
  }
  key(): string {
    return `M${this.node}.${this.phase}.${this.first ? 1 : 0}`;
  }
}

/** An array. Phases: 0 before "[", 1 after "[", 2 after an item (count items so far). */
class ArrFrame implements Frame {
  constructor(
    readonly node: number,
    readonly phase: number,
    readonly count: number,
    readonly arr: { min: number; max: number },
  ) {}
  step(cx: Ctx, b: number, rest: Stack | null, out: (Stack | null)[]): void {
    const n = cx.node(this.node) as Extract<GrammarNode, { kind: "array" }>;
    if (this.phase === 0) {
      if (b === 0x5b) push(out, new ArrFrame(this.node, 1, 0, n), rest);
      return;
    }
    if (b === 0x5d) {
      if (this.count >= n.min) out.push(rest);
      return;
    }
    if (this.phase === 1) {
      if (n.max >= 1) feedChild(cx, n.items, b, { top: new ArrFrame(this.node, 2, 1, n), rest }, out);
      return;
    }
    if (b === 0x2c && this.count < n.max) pushChild(cx, n.items, { top: new ArrFrame(this.node, 2, this.count + 1, n), rest }, out);
  }
  min(cx: Ctx): number {
    const n = cx.node(this.node) as Extract<GrammarNode, { kind: "array" }>;
    const item = cx.g.minLen[n.items]!;
    if (this.phase === 0) return cx.g.minLen[this.node]!;
    if (this.phase === 1) return n.min === 0 ? 1 : n.min * item + (n.min - 1) + 1;
    return Math.max(0, n.min - this.count) * (1 + item) + 1;
  }
  key(h: number): string {
    // The count matters below minItems and within reach of maxItems only (a token of h bytes adds at most h items).
    const n = this.count;
    const a = this.arr;
    const ck = n < a.min ? `${n}` : a.max - n <= h ? `r${a.max - n}` : "f";
    return `A${this.node}.${this.phase}.${ck}`;
  }
}

// ---------------------------------------------------------------- states

/** The state before any byte: the root value's start frames. */
export function initialState(cx: Ctx): State {
  return cx.starts(cx.g.root).map((f) => ({ top: f, rest: null }));
}

/** The exact key of a stack (cached). */
export function stackKey(s: Stack | null): string {
  if (s === null) return "#";
  if (s.k !== undefined) return s.k;
  s.k = `${s.top.key(Infinity)}/${stackKey(s.rest)}`;
  return s.k;
}

/** The abstract key of a stack for horizon h (cached for the last h asked). */
export function abstractKey(s: Stack | null, h: number): string {
  if (s === null) return "#";
  if (s.ka !== undefined && s.kh === h) return s.ka;
  s.ka = `${s.top.key(h)}/${abstractKey(s.rest, h)}`;
  s.kh = h;
  return s.ka;
}

/** Fewest bytes that complete a stack (cached). */
export function stackMin(cx: Ctx, s: Stack | null): number {
  if (s === null) return 0;
  if (s.m !== undefined) return s.m;
  s.m = s.top.min(cx) + stackMin(cx, s.rest);
  return s.m;
}

/** Fewest bytes that complete any stack of the state (Infinity for the empty, dead state). */
export function stateMin(cx: Ctx, st: State): number {
  let m = Infinity;
  for (const s of st) m = Math.min(m, stackMin(cx, s));
  return m;
}

/** The state after byte b (empty: b is not allowed). Duplicate stacks are merged. */
export function step(cx: Ctx, st: State, b: number): State {
  const out: (Stack | null)[] = [];
  for (const s of st) if (s !== null) s.top.step(cx, b, s.rest, out);
  if (out.length < 2) return out;
  const seen = new Set<string>();
  return out.filter((s) => {
    const k = stackKey(s);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The state after a byte string (empty if any byte is refused). */
export function stepBytes(cx: Ctx, st: State, bytes: Uint8Array): State {
  for (let i = 0; i < bytes.length && st.length > 0; i++) st = step(cx, st, bytes[i]!);
  return st;
}

/** Whether the value is complete (it may still go on, as a number may). */
export function isComplete(st: State): boolean {
  return st.includes(null);
}

/** Whether the value is complete and nothing may follow. */
export function isFinished(st: State): boolean {
  return st.length > 0 && st.every((s) => s === null);
}

/** A state's abstract key: the sorted abstract keys of its stacks. */
export function stateKey(st: State, h: number): string {
  if (st.length === 1) return abstractKey(st[0]!, h);
  return st
    .map((s) => abstractKey(s, h))
    .sort()
    .join("|");
}

/** Convenience for tests and callers with text: does `text` leave the grammar alive, and is the value complete? */
export function recognize(g: Grammar, text: string): { alive: boolean; complete: boolean; finished: boolean; min: number } {
  const cx = new Ctx(g);
  const st = stepBytes(cx, initialState(cx), new TextEncoder().encode(text));
  return { alive: st.length > 0, complete: isComplete(st), finished: isFinished(st), min: stateMin(cx, st) };
}
