// Single-token decode through every layer of a Llama-family decoder in one kernel call: the
// raw kernel signatures shared by the native addon and the TypeScript reference, the one
// definition of the step's order (decodeLayersWith), and the validating wrappers.
//
// Why: decoding a token of a 0.5B model is ~170 small kernel calls; made one by one from
// JavaScript, the argument checks, tape bookkeeping and N-API crossings between them took
// 2–4 ms of a 25–35 ms token (docs/kernels.md, "Decode step"). The native decodeLayers makes
// the same kernel calls with the same arguments in the same order, so its result is bitwise
// what the calls made one by one give (decode.test.ts checks both backends).
import { ShapeError } from "../../errors.ts";
import { traitsById } from "../../formats/quant.ts";
import type { Kernels } from "../backend.ts";
import { backend } from "../load.ts";
import { checkF32 } from "./args.ts";

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
  weights: readonly Uint8Array[];
  biases: readonly (Float32Array | null)[];
  /** This layer's keys and values, float32 (nKvHeads, maxT, headDim). */
  kCache: Float32Array;
  vCache: Float32Array;
}

export interface DecodeSpec {
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  ffnDim: number;
  /** Rotated dims per head (rotate-half pairs). */
  rot: number;
  /** Positions each layer's cache holds. */
  maxT: number;
  eps: number;
  /** Attention logit scale (1/√headDim for these models). */
  scale: number;
  layers: readonly DecodeLayerSpec[];
}

export interface DecodeKernels {
  /** Prepares a plan for decodeLayers (the native addon checks and unpacks the spec once); opaque. */
  decodePlan(spec: DecodeSpec): unknown;
  /**
   * Runs one token, at position pos, through every layer of the plan, in place on x (dModel):
   * writes the token's keys and values into row pos of each layer's cache, attends over rows
   * 0..pos. cos, sin: the rotary tables (at least pos + 1 rows of rot/2).
   */
  decodeLayers(plan: unknown, x: Float32Array, pos: number, cos: Float32Array, sin: Float32Array): void;
}

/** Activations of one token, laid out as the native kernel does (decode.cpp). */
export function decodeBufferSize(s: DecodeSpec): number {
  return 3 * s.dModel + 2 * s.nHeads * s.headDim + 2 * s.nKvHeads * s.headDim + 2 * s.ffnDim + s.nHeads;
}

/**
 * The decode step as calls of `k`'s kernels: the reference backend's decodeLayers, and the
 * definition the native one follows call for call. buf: decodeBufferSize(spec) floats.
 */
export function decodeLayersWith(k: Kernels, s: DecodeSpec, buf: Float32Array, x: Float32Array, pos: number, cos: Float32Array, sin: Float32Array): void {
  const d = s.dModel,
    qd = s.nHeads * s.headDim,
    kd = s.nKvHeads * s.headDim,
    ffn = s.ffnDim;
  let at = 0;
  const take = (n: number) => buf.subarray(at, (at += n));
  const h = take(d),
    q = take(qd),
    kk = take(kd),
    v = take(kd),
    a = take(qd),
    o = take(d),
    gate = take(ffn),
    up = take(ffn),
    rstd = take(s.nHeads);
  const positions = Int32Array.of(pos),
    starts = Int32Array.of(pos);
  const bias = (y: Float32Array, b: Float32Array | null, n: number) => {
    if (b) k.add(y, y, b, n);
  };
  for (const L of s.layers) {
    const t = L.types,
      w = L.weights,
      b = L.biases;
    k.rmsnormForward(h, rstd, x, L.attnNorm, 1, d, s.eps);
    k.qgemmMulti([q, kk, v], h, 1, t.subarray(0, 3), [w[0]!, w[1]!, w[2]!], Int32Array.of(qd, kd, kd), d);
    bias(q, b[0]!, qd);
    bias(kk, b[1]!, kd);
    bias(v, b[2]!, kd);
    if (L.qNorm) k.rmsnormForward(q, rstd, q, L.qNorm, s.nHeads, s.headDim, s.eps);
    if (L.kNorm) k.rmsnormForward(kk, rstd, kk, L.kNorm, s.nKvHeads, s.headDim, s.eps);
    k.ropeForward(q, q, cos, sin, positions, 1, s.nHeads, s.headDim, s.rot, false);
    k.ropeForward(kk, kk, cos, sin, positions, 1, s.nKvHeads, s.headDim, s.rot, false);
    for (let g = 0; g < s.nKvHeads; g++) {
      const row = (g * s.maxT + pos) * s.headDim;
      L.kCache.set(kk.subarray(g * s.headDim, (g + 1) * s.headDim), row);
      L.vCache.set(v.subarray(g * s.headDim, (g + 1) * s.headDim), row);
    }
    k.attentionDecode(a, q, L.kCache, L.vCache, starts, 1, 1, s.nHeads, s.nKvHeads, s.headDim, s.maxT, s.scale);
    k.qgemm(o, a, 1, t[3]!, w[3]!, d, qd);
    bias(o, b[3]!, d);
    k.add(x, o, x, d);
    k.rmsnormForward(h, rstd, x, L.mlpNorm, 1, d, s.eps);
    k.qgemmMulti([gate, up], h, 1, t.subarray(4, 6), [w[4]!, w[5]!], Int32Array.of(ffn, ffn), d);
    bias(gate, b[4]!, ffn);
    bias(up, b[5]!, ffn);
    k.swigluForward(gate, gate, up, ffn);
    k.qgemm(o, gate, 1, t[6]!, w[6]!, d, ffn);
    bias(o, b[6]!, d);
    k.add(x, o, x, d);
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
  ] as const)
    positive(what, v);
  if (s.nHeads % s.nKvHeads !== 0) throw new ShapeError(`decodePlan: ${s.nHeads} query heads are not a multiple of ${s.nKvHeads} KV heads`);
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
    if (!(L.types instanceof Int32Array) || L.types.length !== 7 || L.weights.length !== 7 || L.biases.length !== 7)
      throw new ShapeError(`decodePlan: ${at} needs 7 types, weights and biases (${DECODE_WEIGHTS.join(", ")})`);
    DECODE_WEIGHTS.forEach((name, i) => {
      const t = traitsById(L.types[i]!);
      if (!t) throw new ShapeError(`decodePlan: ${at}.${name}: unknown ggml type ${L.types[i]}`);
      if (cols[i]! % t.blockSize !== 0) throw new ShapeError(`decodePlan: ${at}.${name}: ${cols[i]} columns are not whole ${t.name} blocks`);
      const need = rows[i]! * (cols[i]! / t.blockSize) * t.blockBytes;
      if (!(L.weights[i] instanceof Uint8Array) || L.weights[i]!.length !== need)
        throw new ShapeError(`decodePlan: ${at}.${name}: ${t.name} ${rows[i]}×${cols[i]} takes ${need} bytes, got ${L.weights[i]?.length}`);
      const b = L.biases[i];
      if (b !== null) checkF32("decodePlan", `${at}.biases.${name}`, b!, rows[i]!, `(${rows[i]})`);
    });
    checkF32("decodePlan", `${at}.kCache`, L.kCache, kd * s.maxT, `(${s.nKvHeads},${s.maxT},${s.headDim})`);
    checkF32("decodePlan", `${at}.vCache`, L.vCache, kd * s.maxT, `(${s.nKvHeads},${s.maxT},${s.headDim})`);
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
   * One token at position pos through every layer, in place on x (dModel). cos, sin: rotary
   * tables of rot/2 values per position, covering pos.
   */
  run(x: Float32Array, pos: number, cos: Float32Array, sin: Float32Array): void {
    const s = this.spec;
    if (!Number.isInteger(pos) || pos < 0 || pos >= s.maxT) throw new ShapeError(`decodeLayers: position ${pos} is outside the cache (${s.maxT} positions)`);
    checkF32("decodeLayers", "x", x, s.dModel, `(${s.dModel})`);
    const table = (pos + 1) * (s.rot / 2);
    checkF32("decodeLayers", "cos", cos, table, `(${pos + 1},${s.rot / 2})`);
    checkF32("decodeLayers", "sin", sin, table, `(${pos + 1},${s.rot / 2})`);
    const b = backend();
    if (this.owner !== b) {
      this.handle = b.decodePlan(s);
      this.owner = b;
    }
    b.decodeLayers(this.handle, x, pos, cos, sin);
  }
}
