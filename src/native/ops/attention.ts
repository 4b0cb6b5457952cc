// Causal self-attention kernels with grouped-query heads: the raw signatures
// shared by the native addon and the TypeScript reference, and the validating
// wrappers. Layouts are token-major, as projections produce them: q is
// (B,T,H,D) with consecutive tokens `qStride` elements apart (H·D when
// contiguous; larger when q is a view into a fused qkv buffer), likewise k, v
// with KVH heads (H % KVH == 0; query head j reads kv head j / (H/KVH)).
// Backward ADDS (+=) into dq, dk, dv. Knows nothing about models or caches'
// bookkeeping: the caller owns positions and buffers.
import { ShapeError } from "../../errors.ts";
import { backend } from "../load.ts";

export interface AttentionKernels {
  /**
   * out (B,T,H,D) contiguous = softmax(q·kᵀ·scale, causal) · v. lse (B,H,T) receives each
   * row's log-sum-exp for backward. Tiled with an online softmax: no (T,T) buffer.
   */
  attentionForward(
    out: Float32Array,
    lse: Float32Array,
    q: Float32Array,
    qStride: number,
    k: Float32Array,
    kStride: number,
    v: Float32Array,
    vStride: number,
    b: number,
    t: number,
    h: number,
    kvh: number,
    d: number,
    scale: number,
  ): void;
  /** dq (same layout as q, qStride), dk, dv (kStride, vStride) += gradients from dout (B,T,H,D) contiguous. */
  attentionBackward(
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    dout: Float32Array,
    q: Float32Array,
    qStride: number,
    k: Float32Array,
    kStride: number,
    v: Float32Array,
    vStride: number,
    out: Float32Array,
    lse: Float32Array,
    b: number,
    t: number,
    h: number,
    kvh: number,
    d: number,
    scale: number,
  ): void;
  /**
   * Attention over a KV cache, for generation. q, out (B,Tq,H,D) contiguous; kCache, vCache
   * (B,KVH,maxT,D). Query i of sequence b sits at position starts[b] + i and attends to cache
   * positions 0..starts[b]+i inclusive (the caller has already written those keys/values).
   * Tq = 1 is single-token decode; Tq > 1 continues a prompt after a cached prefix.
   */
  attentionDecode(
    out: Float32Array,
    q: Float32Array,
    kCache: Float32Array,
    vCache: Float32Array,
    starts: Int32Array,
    b: number,
    tq: number,
    h: number,
    kvh: number,
    d: number,
    maxT: number,
    scale: number,
  ): void;
}

function positiveInts(fn: string, dims: [string, number][]): void {
  for (const [name, v] of dims) {
    if (!Number.isInteger(v) || v < 1) throw new ShapeError(`${fn}: ${name} must be a positive integer, got ${v}`);
  }
}

function checkHeads(fn: string, h: number, kvh: number, scale: number): void {
  if (h % kvh !== 0) throw new ShapeError(`${fn}: h=${h} query heads is not a multiple of kvh=${kvh} kv heads`);
  if (typeof scale !== "number" || !Number.isFinite(scale)) throw new ShapeError(`${fn}: scale must be a finite number, got ${scale}`);
}

function checkStride(fn: string, name: string, stride: number, width: number): void {
  if (!Number.isInteger(stride) || stride < width) throw new ShapeError(`${fn}: ${name} must be an integer >= the row width ${width}, got ${stride}`);
}

function checkLen(fn: string, name: string, a: Float32Array, need: number, what: string): void {
  if (!(a instanceof Float32Array)) throw new ShapeError(`${fn}: ${name} must be a Float32Array`);
  if (a.length < need) throw new ShapeError(`${fn}: ${name} has ${a.length} elements, ${what} needs ${need}`);
}

/** Elements spanned by `rows` rows of `width` floats, `stride` apart. */
function spanRows(rows: number, width: number, stride: number): number {
  return (rows - 1) * stride + width;
}

function checkQkv(
  fn: string,
  q: Float32Array,
  qStride: number,
  k: Float32Array,
  kStride: number,
  v: Float32Array,
  vStride: number,
  b: number,
  t: number,
  h: number,
  kvh: number,
  d: number,
  names = ["q", "k", "v"],
): void {
  checkStride(fn, "qStride", qStride, h * d);
  checkStride(fn, "kStride", kStride, kvh * d);
  checkStride(fn, "vStride", vStride, kvh * d);
  const rows = b * t;
  checkLen(fn, names[0]!, q, spanRows(rows, h * d, qStride), `(${b},${t},${h},${d}) with stride ${qStride}`);
  checkLen(fn, names[1]!, k, spanRows(rows, kvh * d, kStride), `(${b},${t},${kvh},${d}) with stride ${kStride}`);
  checkLen(fn, names[2]!, v, spanRows(rows, kvh * d, vStride), `(${b},${t},${kvh},${d}) with stride ${vStride}`);
}

/** out (B,T,H,D), lse (B,H,T) = causal attention of q, k, v (strided rows). See AttentionKernels. */
export function attentionForward(
  out: Float32Array,
  lse: Float32Array,
  q: Float32Array,
  qStride: number,
  k: Float32Array,
  kStride: number,
  v: Float32Array,
  vStride: number,
  b: number,
  t: number,
  h: number,
  kvh: number,
  d: number,
  scale: number,
): void {
  const fn = "attentionForward";
  positiveInts(fn, [
    ["b", b],
    ["t", t],
    ["h", h],
    ["kvh", kvh],
    ["d", d],
  ]);
  checkHeads(fn, h, kvh, scale);
  checkQkv(fn, q, qStride, k, kStride, v, vStride, b, t, h, kvh, d);
  checkLen(fn, "out", out, b * t * h * d, `(${b},${t},${h},${d})`);
  checkLen(fn, "lse", lse, b * h * t, `(${b},${h},${t})`);
  backend().attentionForward(out, lse, q, qStride, k, kStride, v, vStride, b, t, h, kvh, d, scale);
}

/** dq, dk, dv (q's, k's, v's layouts) += gradients given dout (B,T,H,D). See AttentionKernels. */
export function attentionBackward(
  dq: Float32Array,
  dk: Float32Array,
  dv: Float32Array,
  dout: Float32Array,
  q: Float32Array,
  qStride: number,
  k: Float32Array,
  kStride: number,
  v: Float32Array,
  vStride: number,
  out: Float32Array,
  lse: Float32Array,
  b: number,
  t: number,
  h: number,
  kvh: number,
  d: number,
  scale: number,
): void {
  const fn = "attentionBackward";
  positiveInts(fn, [
    ["b", b],
    ["t", t],
    ["h", h],
    ["kvh", kvh],
    ["d", d],
  ]);
  checkHeads(fn, h, kvh, scale);
  checkQkv(fn, q, qStride, k, kStride, v, vStride, b, t, h, kvh, d);
  checkQkv(fn, dq, qStride, dk, kStride, dv, vStride, b, t, h, kvh, d, ["dq", "dk", "dv"]);
  checkLen(fn, "dout", dout, b * t * h * d, `(${b},${t},${h},${d})`);
  checkLen(fn, "out", out, b * t * h * d, `(${b},${t},${h},${d})`);
  checkLen(fn, "lse", lse, b * h * t, `(${b},${h},${t})`);
  backend().attentionBackward(dq, dk, dv, dout, q, qStride, k, kStride, v, vStride, out, lse, b, t, h, kvh, d, scale);
}

/** out (B,Tq,H,D) = attention of q (B,Tq,H,D) over a KV cache (B,KVH,maxT,D). See AttentionKernels. */
export function attentionDecode(
  out: Float32Array,
  q: Float32Array,
  kCache: Float32Array,
  vCache: Float32Array,
  starts: Int32Array,
  b: number,
  tq: number,
  h: number,
  kvh: number,
  d: number,
  maxT: number,
  scale: number,
): void {
  const fn = "attentionDecode";
  positiveInts(fn, [
    ["b", b],
    ["tq", tq],
    ["h", h],
    ["kvh", kvh],
    ["d", d],
    ["maxT", maxT],
  ]);
  checkHeads(fn, h, kvh, scale);
  checkLen(fn, "out", out, b * tq * h * d, `(${b},${tq},${h},${d})`);
  checkLen(fn, "q", q, b * tq * h * d, `(${b},${tq},${h},${d})`);
  checkLen(fn, "kCache", kCache, b * kvh * maxT * d, `(${b},${kvh},${maxT},${d})`);
  checkLen(fn, "vCache", vCache, b * kvh * maxT * d, `(${b},${kvh},${maxT},${d})`);
  if (!(starts instanceof Int32Array) || starts.length < b) throw new ShapeError(`${fn}: starts must be an Int32Array with one entry per sequence (b=${b})`);
  for (let i = 0; i < b; i++) {
    const s = starts[i]!;
    if (s < 0 || s + tq > maxT) throw new ShapeError(`${fn}: starts[${i}] = ${s} leaves no room for ${tq} queries in a cache of ${maxT} positions`);
  }
  backend().attentionDecode(out, q, kCache, vCache, starts, b, tq, h, kvh, d, maxT, scale);
}
