// The key/value cache for generation: per layer, keys and values of B
// sequences laid out (B, KVH, maxT, D), the layout the attentionDecode kernel
// reads. Allocated once for a batch size and context length; view() gives a
// window of consecutive slots over the same memory (the batching engine
// prefills a newcomer straight into its slot). Knows nothing about sampling
// or which sequences are live (the engine tracks that).
import { ShapeError } from "../errors.ts";
import type { ModelConfig } from "./config.ts";

export class KvCache {
  readonly batch: number;
  readonly maxSeqLen: number;
  readonly kvHeads: number;
  readonly headDim: number;
  private readonly k: Float32Array[]; // per layer (B, KVH, maxT, D)
  private readonly v: Float32Array[];

  /** `shared`: per-layer buffers to use instead of allocating (view() passes them; not for general use). */
  constructor(config: Pick<ModelConfig, "nLayers" | "nKvHeads" | "headDim">, batch: number, maxSeqLen: number, shared?: { k: Float32Array[]; v: Float32Array[] }) {
    if (!Number.isInteger(batch) || batch < 1) throw new ShapeError(`KvCache: batch must be a positive integer, got ${batch}`);
    if (!Number.isInteger(maxSeqLen) || maxSeqLen < 1) throw new ShapeError(`KvCache: maxSeqLen must be a positive integer, got ${maxSeqLen}`);
    this.batch = batch;
    this.maxSeqLen = maxSeqLen;
    this.kvHeads = config.nKvHeads;
    this.headDim = config.headDim;
    const per = batch * config.nKvHeads * maxSeqLen * config.headDim;
    if (shared) {
      if (shared.k.length !== config.nLayers || shared.v.length !== config.nLayers || shared.k.some((b) => b.length !== per) || shared.v.some((b) => b.length !== per)) {
        throw new ShapeError(`KvCache: shared buffers must be ${config.nLayers} layers of ${per} floats`);
      }
      this.k = shared.k;
      this.v = shared.v;
      return;
    }
    this.k = Array.from({ length: config.nLayers }, () => new Float32Array(per));
    this.v = Array.from({ length: config.nLayers }, () => new Float32Array(per));
  }

  /** Bytes held by the cache. */
  get bytes(): number {
    return this.k.length * 2 * this.k[0]!.byteLength;
  }

  keys(layer: number): Float32Array {
    return this.k[layer]!;
  }

  values(layer: number): Float32Array {
    return this.v[layer]!;
  }

  /**
   * Stores k, v (B·Tq, KVH·D), token-major as projections produce them, for the Tq new tokens
   * of each of B sequences; token t of sequence b goes to position starts[b] + t. `stride`:
   * elements between consecutive tokens' rows (KVH·D when contiguous; more for fused views).
   */
  write(layer: number, k: Float32Array, v: Float32Array, batch: number, tq: number, starts: Int32Array, stride = this.kvHeads * this.headDim): void {
    const H = this.kvHeads, D = this.headDim, T = this.maxSeqLen;
    if (batch > this.batch) throw new ShapeError(`KvCache: ${batch} sequences, cache holds ${this.batch}`);
    const K = this.k[layer]!, V = this.v[layer]!;
    for (let b = 0; b < batch; b++) {
      const s = starts[b]!;
      if (s < 0 || s + tq > T) throw new ShapeError(`KvCache: positions ${s}..${s + tq - 1} outside [0, ${T})`);
      for (let t = 0; t < tq; t++) {
        const src = (b * tq + t) * stride;
        for (let h = 0; h < H; h++) {
          const dst = ((b * H + h) * T + s + t) * D;
          K.set(k.subarray(src + h * D, src + (h + 1) * D), dst);
          V.set(v.subarray(src + h * D, src + (h + 1) * D), dst);
        }
      }
    }
  }

  /**
   * Slots first..first+count-1 as a cache of `count` sequences sharing this cache's memory:
   * writes through the view land in those slots, and its slot 0 is this cache's slot `first`.
   */
  view(first: number, count = 1): KvCache {
    if (!Number.isInteger(first) || !Number.isInteger(count) || first < 0 || count < 1 || first + count > this.batch) {
      throw new ShapeError(`KvCache.view: slots ${first}..${first + count - 1} outside [0, ${this.batch})`);
    }
    const per = this.kvHeads * this.maxSeqLen * this.headDim; // one slot
    const cut = (b: Float32Array) => b.subarray(first * per, (first + count) * per);
    return new KvCache({ nLayers: this.k.length, nKvHeads: this.kvHeads, headDim: this.headDim }, count, this.maxSeqLen, { k: this.k.map(cut), v: this.v.map(cut) });
  }

  /** Copies sequence `from`'s rows into slot `to` (for beam-free prompt sharing in batches). */
  copySequence(from: number, to: number, length: number): void {
    const H = this.kvHeads, D = this.headDim, T = this.maxSeqLen;
    for (let l = 0; l < this.k.length; l++) {
      for (const buf of [this.k[l]!, this.v[l]!]) {
        for (let h = 0; h < H; h++) {
          buf.copyWithin(((to * H + h) * T) * D, ((from * H + h) * T) * D, ((from * H + h) * T + length) * D);
        }
      }
    }
  }
}
