// Near-duplicate detection: MinHash signatures over word 5-shingles, computed
// with one-permutation hashing (each shingle hashed once into one of 128 bins,
// empty bins filled by seeded densification), and LSH banding to find
// candidates, verified by the estimated Jaccard similarity. Documents are
// offered in a fixed order; the first of a near-duplicate group is kept.
// Memory: 512 bytes of signature per kept document plus one map entry per band.
// Knows nothing about files, sections or cleaning.

const MINHASH_BINS = 128;
const EMPTY = 0xffffffff;
/** ASCII word characters mapped to their lower-case code; 0 for separators. */
const ASCII_WORD = new Uint8Array(128);
for (let c = 48; c < 58; c++) ASCII_WORD[c] = c;
for (let c = 97; c < 123; c++) ASCII_WORD[c] = c;
for (let c = 65; c < 91; c++) ASCII_WORD[c] = c + 32;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** fmix32 kept in int32 range (no heap numbers in hot loops). */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

const INT_EMPTY = 0x7fffffff;
const scratch = new Int32Array(MINHASH_BINS); // (128,) per-bin minima, signed order

/**
 * The MinHash signature of a text's word shingles (case-folded ASCII letters).
 * The text may come in parts (a document's sections); a word never spans two
 * parts, shingles do. Returns null when the text has no words. out: (128,)
 * Bins keep the minimum under signed 32-bit order (any fixed order is a valid
 * MinHash); all arithmetic stays in int32 so the loops stay fast.
 */
export function minhash(text: string | readonly string[], seed: number, shingle = 5, out = new Uint32Array(MINHASH_BINS)): Uint32Array | null {
  const mins = scratch;
  mins.fill(INT_EMPTY);
  const parts = typeof text === "string" ? [text] : text;
  const ring = new Int32Array(shingle); // last `shingle` word hashes
  const s0 = fmix(seed ^ 0x9e3779b9);
  const w0 = 0x811c9dc5 ^ seed; // int32
  let words = 0;
  let pos = 0; // next ring slot; after `shingle` words it is also the oldest
  for (let p = 0; p < parts.length; p++) {
    const t = parts[p];
    const n = t.length;
    let w = w0;
    let inWord = false;
    for (let i = 0; i <= n; i++) {
      const c = i < n ? t.charCodeAt(i) : 32;
      const v = c < 128 ? ASCII_WORD[c] : c !== 0xa0 && !(c >= 0x2000 && c <= 0x206f) ? c : 0;
      if (v !== 0) {
        w = Math.imul(w ^ v, 0x01000193);
        inWord = true;
        continue;
      }
      if (!inWord) continue;
      // End of a word: push its hash, then hash the shingle ending here (oldest word first).
      ring[pos] = fmix(w);
      pos = pos + 1 === shingle ? 0 : pos + 1;
      words++;
      w = w0;
      inWord = false;
      if (words >= shingle) {
        let h = s0;
        for (let k = 0, j = pos; k < shingle; k++, j = j + 1 === shingle ? 0 : j + 1) h = (Math.imul(h ^ ring[j], 0x01000193) + 0x7f4a7c15) | 0;
        h = fmix(h);
        const bin = h & (MINHASH_BINS - 1);
        const val = fmix(h ^ 0x5bd1e995);
        if (val < mins[bin]) mins[bin] = val;
      }
    }
  }
  if (words === 0) return null;
  if (words < shingle) {
    // Short text: one shingle of all its words.
    let h = s0;
    for (let k = 0; k < words; k++) h = (Math.imul(h ^ ring[k], 0x01000193) + 0x7f4a7c15) | 0;
    h = fmix(h);
    mins[h & (MINHASH_BINS - 1)] = fmix(h ^ 0x5bd1e995);
  }
  // Densify: an empty bin borrows the value of a bin chosen by a seeded probe sequence.
  for (let b = 0; b < MINHASH_BINS; b++) out[b] = mins[b] === INT_EMPTY ? EMPTY : mins[b] >>> 0;
  let filled = 0;
  for (let b = 0; b < MINHASH_BINS; b++) if (out[b] !== EMPTY) filled++;
  if (filled < MINHASH_BINS) {
    const src = out.slice();
    for (let b = 0; b < MINHASH_BINS; b++) {
      if (src[b] !== EMPTY) continue;
      for (let attempt = 1; ; attempt++) {
        const k = fmix32(Math.imul(b + 1, 0x9e3779b1) ^ Math.imul(attempt, 0x85ebca6b) ^ seed) & (MINHASH_BINS - 1);
        if (src[k] !== EMPTY) {
          out[b] = src[k];
          break;
        }
      }
    }
  }
  return out;
}

/** Estimated Jaccard similarity: the fraction of equal bins. */
export function jaccardEstimate(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let eq = 0;
  for (let i = 0; i < MINHASH_BINS; i++) if (a[i] === b[i]) eq++;
  return eq / MINHASH_BINS;
}

/** Rows per LSH band for a threshold: the band/row split whose S-curve midpoint sits below it. */
function rowsForThreshold(threshold: number): number {
  return threshold >= 0.75 ? 8 : threshold >= 0.5 ? 4 : 2;
}

export interface NearDupMatch<K> {
  /** The earlier item this one duplicates. */
  of: K;
  jaccard: number;
}

/** Finds near duplicates among items offered in order; remembers only kept items. */
export class NearDupIndex<K> {
  readonly threshold: number;
  private readonly rows: number;
  private readonly bands: number;
  private readonly buckets = new Map<number, number | number[]>();
  private sigs = new Uint32Array(MINHASH_BINS * 256); // (kept, 128)
  private keys: K[] = [];

  constructor(threshold: number) {
    if (!(threshold > 0 && threshold <= 1)) throw new RangeError(`near-duplicate threshold must be in (0, 1], got ${threshold}`);
    this.threshold = threshold;
    this.rows = rowsForThreshold(threshold);
    this.bands = MINHASH_BINS / this.rows;
  }

  private bandKey(sig: Uint32Array, band: number): number {
    let h = 0x2545f491 ^ band;
    for (let r = 0; r < this.rows; r++) h = fmix32((h ^ sig[band * this.rows + r]) >>> 0) + r;
    return band * 4294967296 + (h >>> 0);
  }

  /** The best earlier kept match at or above the threshold, if any. */
  query(sig: Uint32Array): NearDupMatch<K> | null {
    let best: NearDupMatch<K> | null = null;
    const tried = new Set<number>();
    for (let b = 0; b < this.bands; b++) {
      const hit = this.buckets.get(this.bandKey(sig, b));
      if (hit === undefined) continue;
      for (const idx of typeof hit === "number" ? [hit] : hit) {
        if (tried.has(idx)) continue;
        tried.add(idx);
        const j = jaccardEstimate(sig, this.sigs.subarray(idx * MINHASH_BINS, (idx + 1) * MINHASH_BINS));
        if (j >= this.threshold && (!best || j > best.jaccard)) best = { of: this.keys[idx], jaccard: j };
      }
    }
    return best;
  }

  /** Remembers a kept item. */
  add(key: K, sig: Uint32Array): void {
    const idx = this.keys.length;
    if ((idx + 1) * MINHASH_BINS > this.sigs.length) {
      const s = new Uint32Array(this.sigs.length * 2);
      s.set(this.sigs);
      this.sigs = s;
    }
    this.sigs.set(sig, idx * MINHASH_BINS);
    this.keys.push(key);
    for (let b = 0; b < this.bands; b++) {
      const k = this.bandKey(sig, b);
      const prev = this.buckets.get(k);
      if (prev === undefined) this.buckets.set(k, idx);
      else if (typeof prev === "number") this.buckets.set(k, [prev, idx]);
      else prev.push(idx);
    }
  }
}
