// The BPE merge engine: a pair table (open addressing over packed id pairs,
// typed arrays, no per-lookup allocation) and the merge loop that turns a
// sequence of symbol ids into tokens. Short sequences use an array scan over
// cached pair ranks; long ones a binary heap over a linked list, so a
// 100 000-symbol SentencePiece segment is O(n log n). Lowest rank merges
// first; among equal ranks the leftmost pair wins (the order Hugging Face
// tokenizers and tiktoken both use). Knows nothing about text, bytes or files.

const EMPTY = -1;
const NO_RANK = 0x7fffffff;

/** (left id, right id) -> (rank, merged id). Ranks are merge priorities: lower merges first. */
export class PairTable {
  private keys: Int32Array; // (cap*2) left,right interleaved; left = -1 marks empty
  private ranks: Int32Array; // (cap)
  private results: Int32Array; // (cap)
  private mask: number;
  size = 0;

  constructor(expected = 1024) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.keys = new Int32Array(cap * 2).fill(EMPTY);
    this.ranks = new Int32Array(cap);
    this.results = new Int32Array(cap);
    this.mask = cap - 1;
  }

  private slotOf(a: number, b: number): number {
    let h = Math.imul(a ^ Math.imul(b, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 15;
    return h & this.mask;
  }

  /** Slot index of (a, b), or -1. */
  find(a: number, b: number): number {
    const keys = this.keys;
    const mask = this.mask;
    let i = this.slotOf(a, b);
    for (;;) {
      const k = keys[i * 2]!;
      if (k === EMPTY) return -1;
      if (k === a && keys[i * 2 + 1] === b) return i;
      i = (i + 1) & mask;
    }
  }

  /** Rank of (a, b), or NO_RANK (0x7fffffff) when the pair never merges. */
  rank(a: number, b: number): number {
    const s = this.find(a, b);
    return s < 0 ? NO_RANK : this.ranks[s]!;
  }

  rankAt(slot: number): number {
    return this.ranks[slot]!;
  }

  resultAt(slot: number): number {
    return this.results[slot]!;
  }

  /** Adds a merge; an existing pair keeps its lower (earlier) rank. */
  set(a: number, b: number, rank: number, result: number): void {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    const keys = this.keys;
    let i = this.slotOf(a, b);
    for (;;) {
      const k = keys[i * 2]!;
      if (k === EMPTY) break;
      if (k === a && keys[i * 2 + 1] === b) {
        if (rank < this.ranks[i]!) {
          this.ranks[i] = rank;
          this.results[i] = result;
        }
        return;
      }
      i = (i + 1) & this.mask;
    }
    keys[i * 2] = a;
    keys[i * 2 + 1] = b;
    this.ranks[i] = rank;
    this.results[i] = result;
    this.size++;
  }

  /** Calls fn for every entry (in table order). */
  forEach(fn: (a: number, b: number, rank: number, result: number) => void): void {
    for (let i = 0; i <= this.mask; i++) {
      const a = this.keys[i * 2]!;
      if (a !== EMPTY) fn(a, this.keys[i * 2 + 1]!, this.ranks[i]!, this.results[i]!);
    }
  }

  private grow(): void {
    const old = { keys: this.keys, ranks: this.ranks, results: this.results, cap: this.mask + 1 };
    const cap = old.cap * 2;
    this.keys = new Int32Array(cap * 2).fill(EMPTY);
    this.ranks = new Int32Array(cap);
    this.results = new Int32Array(cap);
    this.mask = cap - 1;
    this.size = 0;
    for (let i = 0; i < old.cap; i++) {
      const a = old.keys[i * 2]!;
      if (a !== EMPTY) this.set(a, old.keys[i * 2 + 1]!, old.ranks[i]!, old.results[i]!);
    }
  }
}

/** Sequences longer than this use the heap; shorter ones the array scan. */
const HEAP_THRESHOLD = 64;

/**
 * Reusable merge state. Not thread-safe and not re-entrant: one per tokenizer.
 * merge(syms, n) merges syms[0..n) in place and returns the new length.
 */
export class Merger {
  private pairRank = new Int32Array(HEAP_THRESHOLD); // (n-1) rank of (syms[i], syms[i+1])
  // Heap path buffers, grown on demand.
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private hRank = new Int32Array(0);
  private hPos = new Int32Array(0);

  constructor(readonly table: PairTable) {}

  merge(syms: Int32Array, n: number): number {
    if (n < 2) return n;
    return n <= HEAP_THRESHOLD ? this.mergeScan(syms, n) : this.mergeHeap(syms, n);
  }

  private mergeScan(syms: Int32Array, n: number): number {
    const t = this.table;
    const pr = this.pairRank;
    for (let i = 0; i < n - 1; i++) pr[i] = t.rank(syms[i]!, syms[i + 1]!);
    while (n > 1) {
      let best = NO_RANK;
      let at = -1;
      for (let i = 0; i < n - 1; i++) {
        const r = pr[i]!;
        if (r < best) {
          best = r;
          at = i;
        }
      }
      if (at < 0) break;
      syms[at] = t.resultAt(t.find(syms[at]!, syms[at + 1]!));
      for (let i = at + 1; i < n - 1; i++) {
        syms[i] = syms[i + 1]!;
        pr[i] = pr[i + 1]!;
      }
      n--;
      if (at > 0) pr[at - 1] = t.rank(syms[at - 1]!, syms[at]!);
      if (at < n - 1) pr[at] = t.rank(syms[at]!, syms[at + 1]!);
    }
    return n;
  }

  private mergeHeap(syms: Int32Array, n: number): number {
    const t = this.table;
    if (this.prev.length < n) {
      this.prev = new Int32Array(n * 2);
      this.next = new Int32Array(n * 2);
      this.hRank = new Int32Array(n * 6);
      this.hPos = new Int32Array(n * 6);
    }
    const prev = this.prev;
    const next = this.next;
    const hRank = this.hRank;
    const hPos = this.hPos;
    let size = 0;
    // Min-heap on (rank, position).
    const less = (i: number, j: number) => hRank[i]! < hRank[j]! || (hRank[i] === hRank[j] && hPos[i]! < hPos[j]!);
    const swap = (i: number, j: number) => {
      const r = hRank[i]!;
      hRank[i] = hRank[j]!;
      hRank[j] = r;
      const p = hPos[i]!;
      hPos[i] = hPos[j]!;
      hPos[j] = p;
    };
    const push = (rank: number, pos: number) => {
      let i = size++;
      hRank[i] = rank;
      hPos[i] = pos;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!less(i, p)) break;
        swap(i, p);
        i = p;
      }
    };
    const pop = () => {
      size--;
      if (size > 0) {
        hRank[0] = hRank[size]!;
        hPos[0] = hPos[size]!;
        let i = 0;
        for (;;) {
          const l = i * 2 + 1;
          if (l >= size) break;
          const r = l + 1;
          const c = r < size && less(r, l) ? r : l;
          if (!less(c, i)) break;
          swap(c, i);
          i = c;
        }
      }
    };
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    for (let i = 0; i < n - 1; i++) {
      const r = t.rank(syms[i]!, syms[i + 1]!);
      if (r !== NO_RANK) push(r, i);
    }
    while (size > 0) {
      const rank = hRank[0]!;
      const pos = hPos[0]!;
      pop();
      if (syms[pos]! < 0) continue; // merged away
      const nx = next[pos]!;
      if (nx < 0) continue;
      const slot = t.find(syms[pos]!, syms[nx]!);
      if (slot < 0 || t.rankAt(slot) !== rank) continue; // stale entry
      syms[pos] = t.resultAt(slot);
      syms[nx] = -1;
      const nn = next[nx]!;
      next[pos] = nn;
      if (nn >= 0) prev[nn] = pos;
      const pv = prev[pos]!;
      if (pv >= 0) {
        const r = t.rank(syms[pv]!, syms[pos]!);
        if (r !== NO_RANK) push(r, pv);
      }
      if (nn >= 0) {
        const r = t.rank(syms[pos]!, syms[nn]!);
        if (r !== NO_RANK) push(r, pos);
      }
    }
    let m = 0;
    for (let i = 0; i >= 0; i = next[i]!) syms[m++] = syms[i]!;
    return m;
  }
}
