// A few tokens (decode, speculative verification, a batch of slots) through every layer of a
// Llama-family decoder in one kernel call: the
// raw kernel signatures shared by the native addon and the TypeScript reference, the one
// definition of the step's order (decodeLayersWith), and the validating wrappers.
//
// Why: decoding a token of a 0.5B model is ~170 small kernel calls; made one by one from
// JavaScript, the argument checks, tape bookkeeping and N-API crossings between them took
// 2–4 ms of a 25–35 ms token (docs/kernels.md, "Decode step"). The native decodeLayers makes
// the same kernel calls with the same arguments in the same order, so its result is bitwise
// what the calls made one by one give (decode.test.ts checks both backends).
import { ShapeError } from "../../errors.ts";
import { traits, traitsById } from "../../formats/quant.ts";
import type { Kernels } from "../backend.ts";
import { backend } from "../load.ts";
import { checkF32 } from "./args.ts";

/**
 * Most rows (sequences × tokens) one decodeLayers call takes: the quantized products' decode path,
 * QGEMM_QUANT_ROWS (a literal here: importing qgemm.ts would close an import cycle through the
 * reference backend; decode.test.ts checks the two agree), kDecodeMaxRows in decode_plan.h.
 */
export const DECODE_MAX_ROWS = 8;

/** The order of a layer's seven weights in DecodeLayerSpec.types / weights / biases. */
export const DECODE_WEIGHTS = ["q", "k", "v", "o", "gate", "up", "down"] as const;

/** One layer's weights, norms and KV cache, borrowed (not copied) by a plan. */
export interface DecodeLayerSpec {
  /** Pre-attention and pre-MLP RMSNorm weights (dModel); applied as they are (no offset). */
  attnNorm: Float32Array;
  mlpNorm: Float32Array;
  /** Per-head RMSNorm of queries and keys before the rotation (headDim; Qwen3), or null. */
  qNorm: Float32Array | null;
  kNorm: Float32Array | null;
  /** ggml type ids of q, k, v, o, gate, up, down (src/formats/quant.ts), GGUF layout data. */
  types: Int32Array;
  /**
   * 1 where the weight is a plain float32 parameter (type F32, its Float32Array's bytes), multiplied
   * as linear() does (rows start from the bias, the GEMM accumulates onto them); 0 for a weight
   * held in a storage type (F32 included), multiplied by the quantized products.
   */
  plain: Uint8Array;
  weights: readonly Uint8Array[];
  biases: readonly (Float32Array | null)[];
  /**
   * This layer's keys and values (slots, nKvHeads, maxT) rows of headDim values: a Float32Array
   * for an f32 cache, the encoded bytes (src/models/kv-cache.ts) for f16 / q8_0.
   */
  kCache: Float32Array | Uint8Array;
  vCache: Float32Array | Uint8Array;
}

export interface DecodeSpec {
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  ffnDim: number;
  /** Rotated dims per head (rotate-half pairs). */
  rot: number;
  /** Positions each layer's cache holds per sequence, and the sequences (slots) it holds. */
  maxT: number;
  slots: number;
  /** Storage of the cache rows. */
  kvType: "F32" | "F16" | "Q8_0";
  eps: number;
  /** Attention logit scale (1/√headDim for these models). */
  scale: number;
  layers: readonly DecodeLayerSpec[];
}

export interface DecodeKernels {
  /** Prepares a plan for decodeLayers (the native addon checks and unpacks the spec once); opaque. */
  decodePlan(spec: DecodeSpec): unknown;
  /**
   * Runs b sequences of tq tokens (b·tq <= DECODE_MAX_ROWS, b <= slots) through every layer of the
   * plan, in place on x (b·tq, dModel): token i of sequence s sits at position starts[s] + i, its
   * keys and values go to that row of cache slot s, and it attends over the slot's rows up to it.
   * cos, sin: the rotary tables, rot/2 values per position, covering every position used.
   */
  decodeLayers(plan: unknown, x: Float32Array, b: number, tq: number, starts: Int32Array, cos: Float32Array, sin: Float32Array): void;
}

/** The kernels one decode step calls. */
export type DecodeStepKernels = Pick<
  Kernels,
  "rmsnormForward" | "qgemmMulti" | "qgemm" | "gemm" | "add" | "ropeForward" | "attentionDecode" | "qgather" | "swigluForward"
>;

/** Activations of DECODE_MAX_ROWS rows, laid out as the native kernel does (decode.cpp). */
export function decodeBufferSize(s: DecodeSpec): number {
  return DECODE_MAX_ROWS * (3 * s.dModel + 2 * s.nHeads * s.headDim + 2 * s.nKvHeads * s.headDim + 2 * s.ffnDim + s.nHeads);
}

/**
 * The decode step as calls of `k`'s kernels: the reference backend's decodeLayers, and the
 * definition the native one follows call for call. buf: decodeBufferSize(spec) floats.
 */
export function decodeLayersWith(
  k: DecodeStepKernels,
  s: DecodeSpec,
  buf: Float32Array,
  x: Float32Array,
  b: number,
  tq: number,
  starts: Int32Array,
  cos: Float32Array,
  sin: Float32Array,
): void {
  const n = b * tq,
    d = s.dModel,
    qd = s.nHeads * s.headDim,
    kd = s.nKvHeads * s.headDim,
    ffn = s.ffnDim,
    hd = s.headDim;
  let at = 0;
  const take = (len: number) => buf.subarray(at, (at += len));
  const h = take(n * d),
    q = take(n * qd),
    kk = take(n * kd),
    v = take(n * kd),
    a = take(n * qd),
    o = take(n * d),
    gate = take(n * ffn),
    up = take(n * ffn),
    rstd = take(n * s.nHeads);
  const ones = new Float32Array(n).fill(1);
  const positions = Int32Array.from({ length: n }, (_, i) => starts[Math.floor(i / tq)]! + (i % tq));
  // y (n, out) += bias on every row, as tensor/ops.ts addBiasRows does: one add, or one GEMM.
  const bias = (y: Float32Array, bv: Float32Array | null, out: number) => {
    if (bv === null) return;
    if (n === 1) k.add(y, y, bv, out);
    else k.gemm(1, n, out, 1, ones, 1, n, false, bv, out, out, false, y, out, n * out, true);
  };
  // The weights first.. of L through x (n, cols), as linears() / linear() make them: several
  // stored weights in one qgemmMulti, biases after; else each alone, a plain float32 one as a GEMM
  // accumulating onto its bias rows, a stored one by qgemm with the bias after.
  const project = (L: DecodeLayerSpec, first: number, ys: Float32Array[], rows: number[], x: Float32Array, cols: number) => {
    const idx = ys.map((_, j) => first + j);
    if (ys.length > 1 && idx.every((i) => L.plain[i] === 0)) {
      k.qgemmMulti(
        ys,
        x,
        n,
        L.types.subarray(first, first + ys.length),
        idx.map((i) => L.weights[i]!),
        Int32Array.from(rows),
        cols,
      );
      idx.forEach((i, j) => bias(ys[j]!, L.biases[i]!, rows[j]!));
      return;
    }
    idx.forEach((i, j) => {
      const y = ys[j]!,
        out = rows[j]!,
        bv = L.biases[i]!;
      if (L.plain[i]) {
        const w = L.weights[i]!;
        if (bv !== null) for (let r = 0; r < n; r++) y.set(bv, r * out);
        k.gemm(
          1,
          n,
          out,
          cols,
          x,
          cols,
          n * cols,
          false,
          new Float32Array(w.buffer, w.byteOffset, w.byteLength / 4),
          cols,
          cols * out,
          true,
          y,
          out,
          n * out,
          bv !== null,
        );
      } else {
        k.qgemm(y, x, n, L.types[i]!, L.weights[i]!, out, cols);
        bias(y, bv, out);
      }
    });
  };
  for (const L of s.layers) {
    k.rmsnormForward(h, rstd, x, L.attnNorm, n, d, s.eps);
    project(L, 0, [q, kk, v], [qd, kd, kd], h, d);
    if (L.qNorm) k.rmsnormForward(q, rstd, q, L.qNorm, n * s.nHeads, hd, s.eps);
    if (L.kNorm) k.rmsnormForward(kk, rstd, kk, L.kNorm, n * s.nKvHeads, hd, s.eps);
    k.ropeForward(q, q, cos, sin, positions, n, s.nHeads, hd, s.rot, false);
    k.ropeForward(kk, kk, cos, sin, positions, n, s.nKvHeads, hd, s.rot, false);
    for (let i = 0; i < n; i++)
      for (let g = 0; g < s.nKvHeads; g++) {
        const row = (Math.floor(i / tq) * s.nKvHeads + g) * s.maxT + positions[i]!,
          src = i * kd + g * hd;
        writeRow(s, L.kCache, row, kk.subarray(src, src + hd));
        writeRow(s, L.vCache, row, v.subarray(src, src + hd));
      }
    if (s.kvType === "F32") {
      k.attentionDecode(a, q, L.kCache as Float32Array, L.vCache as Float32Array, starts, b, tq, s.nHeads, s.nKvHeads, hd, s.maxT, s.scale);
    } else {
      // f16 / q8_0: the positions in use expanded to float32 first, as KvCache.attendView does.
      let len = 1;
      for (let i = 0; i < b; i++) len = Math.max(len, starts[i]! + tq);
      const ids = Int32Array.from({ length: b * s.nKvHeads * len }, (_, i) => Math.floor(i / len) * s.maxT + (i % len));
      const keys = new Float32Array(ids.length * hd),
        values = new Float32Array(ids.length * hd);
      const id = traits(s.kvType).id,
        rows = s.slots * s.nKvHeads * s.maxT;
      k.qgather(keys, id, L.kCache as Uint8Array, rows, hd, ids, ids.length);
      k.qgather(values, id, L.vCache as Uint8Array, rows, hd, ids, ids.length);
      k.attentionDecode(a, q, keys, values, starts, b, tq, s.nHeads, s.nKvHeads, hd, len, s.scale);
    }
    project(L, 3, [o], [d], a, qd);
    k.add(x, o, x, n * d);
    k.rmsnormForward(h, rstd, x, L.mlpNorm, n, d, s.eps);
    project(L, 4, [gate, up], [ffn, ffn], h, d);
    k.swigluForward(gate, gate, up, n * ffn);
    project(L, 6, [o], [d], gate, ffn);
    k.add(x, o, x, n * d);
  }
}

/** Stores one row of headDim values at row index `row` of a cache, in the spec's storage type. */
function writeRow(s: DecodeSpec, cache: Float32Array | Uint8Array, row: number, x: Float32Array): void {
  if (s.kvType === "F32") (cache as Float32Array).set(x, row * s.headDim);
  else {
    const t = traits(s.kvType),
      bytes = (s.headDim / t.blockSize) * t.blockBytes;
    t.encode(x, (cache as Uint8Array).subarray(row * bytes, (row + 1) * bytes));
  }
}

function positive(what: string, v: number, min = 1): void {
  if (!Number.isInteger(v) || v < min) throw new ShapeError(`decodePlan: ${what} must be an integer >= ${min}, got ${v}`);
}

/** Checks a spec's every shape, naming what is wrong (the binding checks again, for bounds). */
function checkSpec(s: DecodeSpec): void {
  for (const [what, v] of [
    ["dModel", s.dModel],
    ["nHeads", s.nHeads],
    ["nKvHeads", s.nKvHeads],
    ["headDim", s.headDim],
    ["ffnDim", s.ffnDim],
    ["maxT", s.maxT],
    ["slots", s.slots],
  ] as const)
    positive(what, v);
  if (s.nHeads % s.nKvHeads !== 0) throw new ShapeError(`decodePlan: ${s.nHeads} query heads are not a multiple of ${s.nKvHeads} KV heads`);
  if (!["F32", "F16", "Q8_0"].includes(s.kvType)) throw new ShapeError(`decodePlan: kvType must be F32, F16 or Q8_0, got ${String(s.kvType)}`);
  if (s.kvType === "Q8_0" && s.headDim % 32 !== 0) throw new ShapeError(`decodePlan: a Q8_0 cache needs headDim a multiple of 32, got ${s.headDim}`);
  if (!Number.isInteger(s.rot) || s.rot < 2 || s.rot % 2 !== 0 || s.rot > s.headDim)
    throw new ShapeError(`decodePlan: rot must be an even integer in [2, headDim ${s.headDim}], got ${s.rot}`);
  const qd = s.nHeads * s.headDim,
    kd = s.nKvHeads * s.headDim;
  const rows = [qd, kd, kd, s.dModel, s.ffnDim, s.ffnDim, s.dModel],
    cols = [s.dModel, s.dModel, s.dModel, qd, s.dModel, s.dModel, s.ffnDim];
  s.layers.forEach((L, l) => {
    const at = `layers[${l}]`;
    checkF32("decodePlan", `${at}.attnNorm`, L.attnNorm, s.dModel, `(${s.dModel})`);
    checkF32("decodePlan", `${at}.mlpNorm`, L.mlpNorm, s.dModel, `(${s.dModel})`);
    if (L.qNorm !== null) checkF32("decodePlan", `${at}.qNorm`, L.qNorm, s.headDim, `(${s.headDim})`);
    if (L.kNorm !== null) checkF32("decodePlan", `${at}.kNorm`, L.kNorm, s.headDim, `(${s.headDim})`);
    if (
      !(L.types instanceof Int32Array) ||
      L.types.length !== 7 ||
      !(L.plain instanceof Uint8Array) ||
      L.plain.length !== 7 ||
      L.weights.length !== 7 ||
      L.biases.length !== 7
    )
      throw new ShapeError(`decodePlan: ${at} needs 7 types, plain flags, weights and biases (${DECODE_WEIGHTS.join(", ")})`);
    DECODE_WEIGHTS.forEach((name, i) => {
      const t = traitsById(L.types[i]!);
      if (!t) throw new ShapeError(`decodePlan: ${at}.${name}: unknown ggml type ${L.types[i]}`);
      if (L.plain[i] && t.name !== "F32") throw new ShapeError(`decodePlan: ${at}.${name}: a plain weight must be F32, got ${t.name}`);
      if (cols[i]! % t.blockSize !== 0) throw new ShapeError(`decodePlan: ${at}.${name}: ${cols[i]} columns are not whole ${t.name} blocks`);
      const need = rows[i]! * (cols[i]! / t.blockSize) * t.blockBytes;
      if (!(L.weights[i] instanceof Uint8Array) || L.weights[i]!.length !== need)
        throw new ShapeError(`decodePlan: ${at}.${name}: ${t.name} ${rows[i]}×${cols[i]} takes ${need} bytes, got ${L.weights[i]?.length}`);
      const b = L.biases[i];
      if (b !== null) checkF32("decodePlan", `${at}.biases.${name}`, b!, rows[i]!, `(${rows[i]})`);
    });
    for (const [name, c] of [
      ["kCache", L.kCache],
      ["vCache", L.vCache],
    ] as const) {
      const rows = s.slots * s.nKvHeads * s.maxT;
      if (s.kvType === "F32") checkF32("decodePlan", `${at}.${name}`, c as Float32Array, rows * s.headDim, `(${s.slots},${s.nKvHeads},${s.maxT},${s.headDim})`);
      else {
        const t = traits(s.kvType),
          need = rows * (s.headDim / t.blockSize) * t.blockBytes;
        if (!(c instanceof Uint8Array) || c.length < need)
          throw new ShapeError(`decodePlan: ${at}.${name}: a ${s.kvType} cache of ${rows} rows of ${s.headDim} takes ${need} bytes, got ${c.length}`);
      }
    }
  });
}

/** A checked spec with the backend's handle for it (made again if the backend changes). */
export class DecodePlan {
  readonly spec: DecodeSpec;
  private handle: unknown = null;
  private owner: Kernels | null = null;

  constructor(spec: DecodeSpec) {
    checkSpec(spec);
    this.spec = spec;
  }

  /**
   * b sequences of tq tokens (b·tq <= DECODE_MAX_ROWS, b <= slots) through every layer, in place
   * on x (b·tq, dModel); sequence s's tokens at positions starts[s].. (see DecodeKernels). cos,
   * sin: rotary tables of rot/2 values per position, covering every position used.
   */
  run(x: Float32Array, batch: number, tq: number, starts: Int32Array, cos: Float32Array, sin: Float32Array): void {
    const s = this.spec;
    if (!Number.isInteger(batch) || !Number.isInteger(tq) || batch < 1 || tq < 1 || batch * tq > DECODE_MAX_ROWS || batch > s.slots)
      throw new ShapeError(`decodeLayers: ${batch} sequences of ${tq} tokens; a call takes at most ${DECODE_MAX_ROWS} rows and ${s.slots} sequences`);
    if (!(starts instanceof Int32Array) || starts.length < batch) throw new ShapeError(`decodeLayers: starts must be an Int32Array of ${batch}`);
    let end = 0;
    for (let i = 0; i < batch; i++) {
      const p = starts[i]!;
      if (p < 0 || p + tq > s.maxT) throw new ShapeError(`decodeLayers: positions ${p}..${p + tq - 1} are outside the cache (${s.maxT} positions)`);
      end = Math.max(end, p + tq);
    }
    checkF32("decodeLayers", "x", x, batch * tq * s.dModel, `(${batch * tq},${s.dModel})`);
    const table = end * (s.rot / 2);
    checkF32("decodeLayers", "cos", cos, table, `(${end},${s.rot / 2})`);
    checkF32("decodeLayers", "sin", sin, table, `(${end},${s.rot / 2})`);
    const b = backend();
    if (this.owner !== b) {
      this.handle = b.decodePlan(s);
      this.owner = b;
    }
    b.decodeLayers(this.handle, x, batch, tq, starts, cos, sin);
  }
}
