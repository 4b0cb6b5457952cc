// The prompt cache of the batching engine: keys and values of token sequences
// that earlier requests computed (their prompt after prefill, then prompt +
// generated tokens when they finish), kept after their cache slot is reused,
// so a later request whose prompt starts with the same tokens copies that KV
// instead of prefilling it again. Bounded in bytes, least recently used
// entries evicted first. Knows nothing about models or slots: an entry's KV
// is opaque bytes that the engine fills and reads (KvCache.saveSequence and
// loadSequence, in the KV cache's own storage type, so an f16 or q8_0 cache
// costs a half or about a quarter of f32 here too).
//
// Matching is token-exact: the key is the token sequence itself, and a lookup
// scans every entry for the longest common prefix with the new prompt
// (O(entries x prompt length) integer compares, microseconds beside a prefill;
// the byte bound keeps the entry count small). A prefix of an entry is as good
// as an entry: keys and values at position p depend only on tokens 0..p, so
// the first m positions of any entry whose first m tokens match can be reused.
// Hence an entry that is a prefix of another is redundant: inserting a longer
// sequence drops the entries it extends (a chat growing turn by turn keeps one
// entry, not one per turn), and inserting a prefix of an entry only touches it.
// Sequences sharing a head but diverging later are separate entries (the head
// is stored once per entry; no block sharing).
import { UsageError } from "../errors.ts";

/** Default bound of the server's prompt cache (BackendOptions.promptCacheBytes, `slm serve --prompt-cache-mb`): 256 MiB. */
export const DEFAULT_PROMPT_CACHE_BYTES = 256 * 2 ** 20;

/** One cached sequence: its tokens and the keys and values of each position, as the engine saved them. */
export interface PromptCacheEntry {
  readonly tokens: Int32Array;
  readonly kv: Uint8Array;
}

export interface PromptCacheStats {
  /** Entries held, and their bytes (KV + token ids). */
  entries: number;
  bytes: number;
  /** The most bytes held at any time, and the bound. */
  peakBytes: number;
  maxBytes: number;
  /** Lookups, those that found a cached prefix, and the tokens those reused. */
  lookups: number;
  hits: number;
  cachedTokens: number;
  /** Entries dropped to stay within the bound. */
  evictions: number;
}

export class PromptCache {
  /** Least recently used first (a Map keeps insertion order; a touched entry is moved to the end). */
  private readonly entries = new Map<PromptCacheEntry, number>(); // entry -> its bytes
  private held = 0;
  private readonly counts = { peakBytes: 0, lookups: 0, hits: 0, cachedTokens: 0, evictions: 0 };

  /**
   * `maxBytes`: the bound on what entries hold; `bytesPerToken`: KV bytes of one position
   * (KvCache.sequenceBytes(1)).
   */
  constructor(
    readonly maxBytes: number,
    readonly bytesPerToken: number,
  ) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new UsageError(`the prompt cache's size must be a whole number of bytes >= 0, got ${maxBytes}`);
    if (!Number.isSafeInteger(bytesPerToken) || bytesPerToken < 1) throw new UsageError(`bytesPerToken must be a positive integer, got ${bytesPerToken}`);
  }

  /** Bytes an entry of n tokens takes: its keys and values plus its token ids. */
  entryBytes(n: number): number {
    return n * (this.bytesPerToken + 4);
  }

  get bytes(): number {
    return this.held;
  }

  stats(): PromptCacheStats {
    return { entries: this.entries.size, bytes: this.held, maxBytes: this.maxBytes, ...this.counts };
  }

  /**
   * The entry sharing the longest prefix with `tokens`, and that prefix's length, capped at
   * `limit`; null when none shares even the first token. A hit counts as a use (LRU).
   */
  lookup(tokens: ArrayLike<number>, limit = tokens.length): { entry: PromptCacheEntry; length: number } | null {
    this.counts.lookups++;
    let best: PromptCacheEntry | null = null;
    let bestLen = 0;
    const cap = Math.min(limit, tokens.length);
    for (const e of this.entries.keys()) {
      const n = commonPrefix(e.tokens, tokens, cap);
      if (n > bestLen) {
        best = e;
        bestLen = n;
        if (n === cap) break;
      }
    }
    if (best === null) return null;
    this.touch(best);
    this.counts.hits++;
    this.counts.cachedTokens += bestLen;
    return { entry: best, length: bestLen };
  }

  /**
   * Keeps tokens[0..n)'s keys and values: `fill` writes them into the entry's buffer
   * (bytesPerToken x n bytes). Does nothing (and does not call fill) when an entry already
   * starts with those tokens (it is touched instead) or when the entry alone would exceed the
   * bound. Drops entries the new one extends, then least recently used ones until it fits.
   * Returns whether an entry was added.
   */
  insert(tokens: ArrayLike<number>, n: number, fill: (kv: Uint8Array) => void): boolean {
    if (!Number.isInteger(n) || n < 1 || n > tokens.length) throw new UsageError(`PromptCache.insert: n must be in [1, ${tokens.length}], got ${n}`);
    const size = this.entryBytes(n);
    if (size > this.maxBytes) return false;
    for (const e of [...this.entries.keys()]) {
      const m = commonPrefix(e.tokens, tokens, n);
      if (m === n) {
        this.touch(e); // already cached (as this sequence or a longer one)
        return false;
      }
      if (m === e.tokens.length) this.drop(e); // the new entry extends it
    }
    for (const e of this.entries.keys()) {
      if (this.held + size <= this.maxBytes) break;
      this.drop(e);
      this.counts.evictions++;
    }
    const kv = new Uint8Array(n * this.bytesPerToken);
    fill(kv);
    const key = Int32Array.from({ length: n }, (_, i) => tokens[i]!);
    this.entries.set({ tokens: key, kv }, size);
    this.held += size;
    this.counts.peakBytes = Math.max(this.counts.peakBytes, this.held);
    return true;
  }

  /** Drops every entry. */
  clear(): void {
    for (const e of [...this.entries.keys()]) this.drop(e);
  }

  private touch(e: PromptCacheEntry): void {
    const size = this.entries.get(e)!;
    this.entries.delete(e);
    this.entries.set(e, size);
  }

  private drop(e: PromptCacheEntry): void {
    this.held -= this.entries.get(e) ?? 0;
    this.entries.delete(e);
  }
}

/** Length of the common prefix of a and b, at most `cap`. */
function commonPrefix(a: ArrayLike<number>, b: ArrayLike<number>, cap: number): number {
  const n = Math.min(a.length, b.length, cap);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
