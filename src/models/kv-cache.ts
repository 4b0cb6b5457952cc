// The key/value cache for generation: per layer, keys and values of B
// sequences laid out (B, KVH, maxT, D), the layout the attentionDecode kernel
// reads. Allocated once for a batch size and context length; view() gives a
// window of consecutive slots over the same memory (the batching engine
// prefills a newcomer straight into its slot). Knows nothing about sampling
// or which sequences are live (the engine tracks that).
//
// Storage types (`dtype`): f32 (default), f16 (half the memory) or q8_0 (about
// 0.27 of it: blocks of 32 values as one f16 scale + 32 int8, llama.cpp's
// Q8_0), so long contexts fit. Rows are encoded as they are written; attention
// reads a float32 view of the positions in use (attendView), expanded per
// layer into a scratch buffer by the exact GGML decoders of the quantized
// kernels, so only one layer's keys and values are ever float32 at a time.
import { ConfigError, ShapeError } from "../errors.ts";
// The codecs come from formats/quant.ts, a leaf module (it imports only errors.ts and
// half.ts), as the quantized kernels' contract does: one traits table for every type.
import { traits } from "../formats/quant.ts";
import { qrows, qweight } from "../native/ops/qgemm.ts";
import type { ModelConfig } from "./config.ts";

export const KV_DTYPES = ["f32", "f16", "q8_0"] as const;
export type KvDtype = (typeof KV_DTYPES)[number];

export function parseKvDtype(s: string, what = "--kv-dtype"): KvDtype {
  const d = s.toLowerCase();
  if (!(KV_DTYPES as readonly string[]).includes(d))
    throw new ConfigError(`${what}: "${s}" is not a KV-cache type`, { hint: `choose one of ${KV_DTYPES.join(", ")}` });
  return d as KvDtype;
}

export interface KvCacheOptions {
  /** Storage of keys and values. Default f32. */
  dtype?: KvDtype;
  /** Per-layer buffers to use instead of allocating (view() passes them; not for general use). */
  shared?: { k: (Float32Array | Uint8Array)[]; v: (Float32Array | Uint8Array)[] };
}

/** Keys and values of one layer as float32 (B, KVH, maxT, D), for attentionDecode. */
export interface KvFloatView {
  keys: Float32Array;
  values: Float32Array;
  /** Positions per sequence in keys / values (the cache's maxSeqLen, or fewer for a scratch view). */
  maxT: number;
}

const GGML_TYPE = { f16: "F16", q8_0: "Q8_0" } as const;
/** Row encoders: the GGML block codecs (the same bytes a GGUF file would hold). */
const ENCODE = { f16: traits("F16").encode, q8_0: traits("Q8_0").encode };

export class KvCache {
  readonly batch: number;
  readonly maxSeqLen: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly dtype: KvDtype;
  /** Bytes of one stored row (one position of one head). */
  private readonly rowBytes: number;
  private readonly k: (Float32Array | Uint8Array)[]; // per layer (B, KVH, maxT, D), as stored
  private readonly v: (Float32Array | Uint8Array)[];
  private scratch: { k: Float32Array; v: Float32Array; ids: Int32Array } | null = null;

  constructor(config: Pick<ModelConfig, "nLayers" | "nKvHeads" | "headDim">, batch: number, maxSeqLen: number, opts: KvCacheOptions = {}) {
    if (!Number.isInteger(batch) || batch < 1) throw new ShapeError(`KvCache: batch must be a positive integer, got ${batch}`);
    if (!Number.isInteger(maxSeqLen) || maxSeqLen < 1) throw new ShapeError(`KvCache: maxSeqLen must be a positive integer, got ${maxSeqLen}`);
    const dtype = opts.dtype ?? "f32";
    if (!(KV_DTYPES as readonly string[]).includes(dtype)) throw new ConfigError(`KvCache: dtype "${String(dtype)}" is not one of ${KV_DTYPES.join(", ")}`);
    const D = config.headDim;
    if (dtype === "q8_0" && D % 32 !== 0)
      throw new ConfigError(`KvCache: a q8_0 cache stores blocks of 32 values; head_dim ${D} is not a multiple of 32`, { hint: "use --kv-dtype f16" });
    this.batch = batch;
    this.maxSeqLen = maxSeqLen;
    this.kvHeads = config.nKvHeads;
    this.headDim = D;
    this.dtype = dtype;
    this.rowBytes = dtype === "f32" ? 4 * D : dtype === "f16" ? 2 * D : (D / 32) * 34;
    const rows = batch * config.nKvHeads * maxSeqLen;
    const make = () => (dtype === "f32" ? new Float32Array(rows * D) : new Uint8Array(rows * this.rowBytes));
    if (opts.shared) {
      const ok = (b: Float32Array | Uint8Array) => b.byteLength === rows * this.rowBytes && b instanceof Float32Array === (dtype === "f32");
      if (opts.shared.k.length !== config.nLayers || opts.shared.v.length !== config.nLayers || !opts.shared.k.every(ok) || !opts.shared.v.every(ok)) {
        throw new ShapeError(`KvCache: shared buffers must be ${config.nLayers} layers of ${rows} ${dtype} rows`);
      }
      this.k = opts.shared.k;
      this.v = opts.shared.v;
      return;
    }
    this.k = Array.from({ length: config.nLayers }, make);
    this.v = Array.from({ length: config.nLayers }, make);
  }

  /** Bytes held by the cache (its stored keys and values). */
  get bytes(): number {
    return this.k.length * 2 * this.k[0]!.byteLength;
  }

  /** Layer `layer`'s keys as float32 (B, KVH, maxT, D). Only for an f32 cache: use attendView otherwise. */
  keys(layer: number): Float32Array {
    return this.float(this.k[layer]!);
  }

  /** Layer `layer`'s values as float32 (B, KVH, maxT, D). Only for an f32 cache: use attendView otherwise. */
  values(layer: number): Float32Array {
    return this.float(this.v[layer]!);
  }

  /** Layer `layer`'s keys and values as stored: float32 values, or the encoded f16 / q8_0 rows (B, KVH, maxT). */
  stored(layer: number): { keys: Float32Array | Uint8Array; values: Float32Array | Uint8Array } {
    return { keys: this.k[layer]!, values: this.v[layer]! };
  }

  private float(b: Float32Array | Uint8Array): Float32Array {
    if (!(b instanceof Float32Array)) throw new ShapeError(`KvCache: the ${this.dtype} cache holds no float32 keys and values; read them with attendView()`);
    return b;
  }

  /**
   * Keys and values of layer `layer` for attention over sequences 0..batch-1 whose queries
   * end at starts[b] + tq: the stored buffers themselves for an f32 cache; for f16 / q8_0
   * the positions in use (the longest sequence's) expanded to float32 in a scratch buffer
   * shared by every layer (read it before the next call).
   */
  attendView(layer: number, batch: number, tq: number, starts: Int32Array): KvFloatView {
    if (this.dtype === "f32") return { keys: this.k[layer] as Float32Array, values: this.v[layer] as Float32Array, maxT: this.maxSeqLen };
    const H = this.kvHeads,
      D = this.headDim,
      T = this.maxSeqLen;
    let L = 1;
    for (let b = 0; b < batch; b++) L = Math.max(L, starts[b]! + tq);
    if (L > T) throw new ShapeError(`KvCache: positions up to ${L} outside [0, ${T})`);
    const n = batch * H * L;
    if (!this.scratch || this.scratch.ids.length < n) this.scratch = { k: new Float32Array(n * D), v: new Float32Array(n * D), ids: new Int32Array(n) };
    const ids = this.scratch.ids.subarray(0, n);
    for (let bh = 0; bh < batch * H; bh++) for (let t = 0; t < L; t++) ids[bh * L + t] = bh * T + t;
    const type = GGML_TYPE[this.dtype];
    const rows = this.batch * H * T;
    const keys = this.scratch.k.subarray(0, n * D),
      values = this.scratch.v.subarray(0, n * D);
    qrows(keys, qweight(type, this.k[layer] as Uint8Array, rows, D), ids);
    qrows(values, qweight(type, this.v[layer] as Uint8Array, rows, D), ids);
    return { keys, values, maxT: L };
  }

  /**
   * Stores k, v (B·Tq, KVH·D), token-major as projections produce them, for the Tq new tokens
   * of each of B sequences; token t of sequence b goes to position starts[b] + t. `stride`:
   * elements between consecutive tokens' rows (KVH·D when contiguous; more for fused views).
   */
  write(layer: number, k: Float32Array, v: Float32Array, batch: number, tq: number, starts: Int32Array, stride = this.kvHeads * this.headDim): void {
    const H = this.kvHeads,
      D = this.headDim,
      T = this.maxSeqLen;
    if (batch > this.batch) throw new ShapeError(`KvCache: ${batch} sequences, cache holds ${this.batch}`);
    const K = this.k[layer]!,
      V = this.v[layer]!;
    for (let b = 0; b < batch; b++) {
      const s = starts[b]!;
      if (s < 0 || s + tq > T) throw new ShapeError(`KvCache: positions ${s}..${s + tq - 1} outside [0, ${T})`);
      if (K instanceof Float32Array) {
        // f32: copied element by element (no view per row: a 512-token prefill writes 2·KVH·512 rows a layer)
        copyRows(K, V as Float32Array, k, v, b, tq, s, H, D, T, stride);
        continue;
      }
      for (let t = 0; t < tq; t++) {
        const src = (b * tq + t) * stride;
        for (let h = 0; h < H; h++) {
          const row = (b * H + h) * T + s + t;
          this.store(K as Uint8Array, row, k.subarray(src + h * D, src + (h + 1) * D));
          this.store(V as Uint8Array, row, v.subarray(src + h * D, src + (h + 1) * D));
        }
      }
    }
  }

  /** Writes one row of D values at row index `row`, encoded in the cache's (f16 or q8_0) type. */
  private store(buf: Uint8Array, row: number, x: Float32Array): void {
    ENCODE[this.dtype as "f16" | "q8_0"](x, buf.subarray(row * this.rowBytes, (row + 1) * this.rowBytes));
  }

  /**
   * Slots first..first+count-1 as a cache of `count` sequences sharing this cache's memory:
   * writes through the view land in those slots, and its slot 0 is this cache's slot `first`.
   */
  view(first: number, count = 1): KvCache {
    if (!Number.isInteger(first) || !Number.isInteger(count) || first < 0 || count < 1 || first + count > this.batch) {
      throw new ShapeError(`KvCache.view: slots ${first}..${first + count - 1} outside [0, ${this.batch})`);
    }
    const per = this.kvHeads * this.maxSeqLen * (this.dtype === "f32" ? this.headDim : this.rowBytes); // one slot, in elements
    const cut = <A extends Float32Array | Uint8Array>(b: A): A => b.subarray(first * per, (first + count) * per) as A;
    return new KvCache({ nLayers: this.k.length, nKvHeads: this.kvHeads, headDim: this.headDim }, count, this.maxSeqLen, {
      dtype: this.dtype,
      shared: { k: this.k.map(cut), v: this.v.map(cut) },
    });
  }

  /**
   * Bytes that `length` positions of one sequence take as stored (every layer, keys and
   * values): the size of saveSequence's output.
   */
  sequenceBytes(length: number): number {
    return length * this.k.length * 2 * this.kvHeads * this.rowBytes;
  }

  /**
   * Copies positions 0..length-1 of slot `slot`, as stored (no re-encoding), into `out`
   * (sequenceBytes(length) bytes), laid out (layer, k|v, KVH, length, row bytes): the prompt
   * cache keeps a sequence's keys and values this way after its slot is reused.
   */
  saveSequence(slot: number, length: number, out: Uint8Array): void {
    const H = this.kvHeads,
      T = this.maxSeqLen,
      R = this.rowBytes;
    this.checkSequence("saveSequence", slot, length);
    if (out.byteLength !== this.sequenceBytes(length))
      throw new ShapeError(`KvCache.saveSequence: ${length} positions take ${this.sequenceBytes(length)} bytes, the output holds ${out.byteLength}`);
    let o = 0;
    for (let l = 0; l < this.k.length; l++) {
      for (const buf of [bytesOf(this.k[l]!), bytesOf(this.v[l]!)]) {
        for (let h = 0; h < H; h++) {
          const from = (slot * H + h) * T * R;
          out.set(buf.subarray(from, from + length * R), o);
          o += length * R;
        }
      }
    }
  }

  /**
   * Writes positions 0..length-1 of slot `slot` from `saved`, which saveSequence filled with
   * `savedLength` >= length positions of a cache of the same layers, heads and storage type
   * (a prefix of a saved sequence is loaded by passing a smaller `length`).
   */
  loadSequence(slot: number, saved: Uint8Array, savedLength: number, length: number): void {
    const H = this.kvHeads,
      T = this.maxSeqLen,
      R = this.rowBytes;
    this.checkSequence("loadSequence", slot, length);
    if (!Number.isInteger(savedLength) || savedLength < length || saved.byteLength !== this.sequenceBytes(savedLength)) {
      throw new ShapeError(
        `KvCache.loadSequence: ${length} positions from a saved sequence of ${savedLength} (${saved.byteLength} bytes; ${this.sequenceBytes(savedLength)} expected)`,
      );
    }
    let i = 0;
    for (let l = 0; l < this.k.length; l++) {
      for (const buf of [bytesOf(this.k[l]!), bytesOf(this.v[l]!)]) {
        for (let h = 0; h < H; h++) {
          const src = i++ * savedLength * R;
          buf.set(saved.subarray(src, src + length * R), (slot * H + h) * T * R);
        }
      }
    }
  }

  private checkSequence(what: string, slot: number, length: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.batch) throw new ShapeError(`KvCache.${what}: slot ${slot} outside [0, ${this.batch})`);
    if (!Number.isInteger(length) || length < 0 || length > this.maxSeqLen)
      throw new ShapeError(`KvCache.${what}: length ${length} outside [0, ${this.maxSeqLen}]`);
  }

  /** Copies sequence `from`'s rows into slot `to` (for beam-free prompt sharing in batches). */
  copySequence(from: number, to: number, length: number): void {
    const H = this.kvHeads,
      T = this.maxSeqLen;
    const row = this.dtype === "f32" ? this.headDim : this.rowBytes; // elements per stored row
    for (let l = 0; l < this.k.length; l++) {
      for (const buf of [this.k[l]!, this.v[l]!]) {
        for (let h = 0; h < H; h++) {
          buf.copyWithin((to * H + h) * T * row, (from * H + h) * T * row, ((from * H + h) * T + length) * row);
        }
      }
    }
  }
}

/** Rows of tokens t < tq of sequence b of k, v (token stride `stride`) into an f32 cache's K, V (B, H, T, D) from position s. */
function copyRows(
  K: Float32Array,
  V: Float32Array,
  k: Float32Array,
  v: Float32Array,
  b: number,
  tq: number,
  s: number,
  H: number,
  D: number,
  T: number,
  stride: number,
): void {
  for (let t = 0; t < tq; t++) {
    const src = (b * tq + t) * stride;
    for (let h = 0; h < H; h++) {
      const dst = ((b * H + h) * T + s + t) * D,
        from = src + h * D;
      for (let i = 0; i < D; i++) {
        K[dst + i] = k[from + i]!;
        V[dst + i] = v[from + i]!;
      }
    }
  }
}

/** The bytes of a stored buffer (a float32 one included), for copies that do not decode. */
function bytesOf(b: Float32Array | Uint8Array): Uint8Array {
  return b instanceof Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
