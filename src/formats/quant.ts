// The one traits table for GGML tensor types (ggml's `type_traits` idea):
// each type's GGML id, block size, bytes per block, and its float32 encoder
// and decoder. The quantized block layouts are llama.cpp's, bit for bit:
//   Q8_0: 32 values -> f16 scale d = max|x| / 127, then 32 int8 q = round(x / d)
//         (34 bytes; value = q·d).
//   Q4_0: 32 values -> f16 scale d = m / -8 where m is the value of largest
//         magnitude (sign kept), then q = min(15, trunc(x / d + 8.5)) packed two
//         per byte: byte j holds element j (low nibble) and j + 16 (high nibble)
//         (18 bytes; value = (q - 8)·d).
//   Q5_0: 32 values -> f16 d = m / -16 (m the signed extreme), q = min(31,
//         trunc(x / d + 16.5)); low nibbles packed as Q4_0, the fifth bits in a
//         little-endian u32 after d (bit j for element j) (22 bytes; value = (q - 16)·d).
//   Q5_1: 32 values -> f16 d = (max - min) / 31, f16 m = min, q = trunc((x - min) / d + 0.5),
//         bits as Q5_0 after d and m (24 bytes; value = q·d + m).
//   (llama-quantize stores these where a K-quant does not fit: Q4_K -> Q5_0,
//   Q5_K -> Q5_1 for rows whose length is not a multiple of 256, e.g. d_model 896.)
//   Q4_K, Q5_K, Q6_K: super-blocks of 256 values (144, 176, 210 bytes); their
//         layouts and codecs live in kquant.ts.
// The arithmetic mirrors llama.cpp's reference quantizers in float32
// (multiply by a float32 reciprocal, half-away-from-zero rounding), so the
// bytes we write are the bytes `llama-quantize` would write for the same row.
// Also the named error budgets per type, which the tests hold us to.
// Knows nothing about files or models: float32 rows in, bytes out, and back.
import { FormatError } from "../errors.ts";
import { decodeHalf, encodeHalf, f16BitsToF32, f32ToF16Bits } from "./half.ts";
import { decodeQ4_K, decodeQ5_K, decodeQ6_K, encodeQ4_K, encodeQ5_K, encodeQ6_K, QK_K } from "./kquant.ts";

export type GgmlTypeName = "F32" | "F16" | "Q4_0" | "Q5_0" | "Q5_1" | "Q8_0" | "Q4_K" | "Q5_K" | "Q6_K" | "BF16";

export interface TypeTraits {
  readonly name: GgmlTypeName;
  /** ggml_type enum value (never reused, see ggml.h). */
  readonly id: number;
  /** Values per block (1 for plain float types). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly blockBytes: number;
  readonly quantized: boolean;
  /** src (n), n a multiple of blockSize -> dst (n / blockSize · blockBytes bytes). */
  readonly encode: (src: Float32Array, dst: Uint8Array) => void;
  /** src (n / blockSize · blockBytes bytes) -> dst (n). */
  readonly decode: (src: Uint8Array, dst: Float32Array) => void;
}

const QK = 32;

/** C's roundf: half away from zero. */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

// Q8_0 block: d (f16, 2 bytes) then qs (int8 × 32).
function encodeQ8_0(src: Float32Array, dst: Uint8Array): void {
  const nb = src.length / QK;
  for (let b = 0; b < nb; b++) {
    const x = src.subarray(b * QK, (b + 1) * QK);
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[j]!));
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = b * 34;
    const h = f32ToF16Bits(d);
    dst[o] = h & 0xff;
    dst[o + 1] = h >>> 8;
    for (let j = 0; j < QK; j++) dst[o + 2 + j] = roundHalfAway(Math.fround(x[j]! * id)) & 0xff;
  }
}

function decodeQ8_0(src: Uint8Array, dst: Float32Array): void {
  const nb = dst.length / QK;
  for (let b = 0; b < nb; b++) {
    const o = b * 34;
    const d = f16BitsToF32(src[o]! | (src[o + 1]! << 8));
    for (let j = 0; j < QK; j++) dst[b * QK + j] = ((src[o + 2 + j]! << 24) >> 24) * d;
  }
}

// Q4_0 block: d (f16, 2 bytes) then qs (16 bytes, two 4-bit values each).
function encodeQ4_0(src: Float32Array, dst: Uint8Array): void {
  const nb = src.length / QK;
  for (let b = 0; b < nb; b++) {
    const x = src.subarray(b * QK, (b + 1) * QK);
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const a = Math.abs(x[j]!);
      if (amax < a) {
        amax = a;
        max = x[j]!;
      }
    }
    const d = Math.fround(max / -8);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = b * 18;
    const h = f32ToF16Bits(d);
    dst[o] = h & 0xff;
    dst[o + 1] = h >>> 8;
    for (let j = 0; j < QK / 2; j++) {
      // x·id lies in [-8, 8], so + 8.5 is positive and truncation is floor.
      const q0 = Math.min(15, Math.trunc(Math.fround(Math.fround(x[j]! * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(Math.fround(Math.fround(x[j + QK / 2]! * id) + 8.5)));
      dst[o + 2 + j] = q0 | (q1 << 4);
    }
  }
}

function decodeQ4_0(src: Uint8Array, dst: Float32Array): void {
  const nb = dst.length / QK;
  for (let b = 0; b < nb; b++) {
    const o = b * 18;
    const d = f16BitsToF32(src[o]! | (src[o + 1]! << 8));
    for (let j = 0; j < QK / 2; j++) {
      const v = src[o + 2 + j]!;
      dst[b * QK + j] = ((v & 0x0f) - 8) * d;
      dst[b * QK + j + QK / 2] = ((v >>> 4) - 8) * d;
    }
  }
}

// Q5_0 block: d (f16), qh (u32 little-endian: bit j = fifth bit of element j), qs (16 bytes as Q4_0).
// Q5_1 block: d (f16), m (f16), then qh and qs as Q5_0.
function encodeQ5(src: Float32Array, dst: Uint8Array, withMin: boolean): void {
  const nb = src.length / QK;
  const bb = withMin ? 24 : 22;
  for (let b = 0; b < nb; b++) {
    const x = src.subarray(b * QK, (b + 1) * QK);
    const o = b * bb;
    let d: number,
      id: number,
      min = 0;
    if (withMin) {
      let lo = Infinity,
        hi = -Infinity;
      for (let j = 0; j < QK; j++) {
        if (x[j]! < lo) lo = x[j]!;
        if (x[j]! > hi) hi = x[j]!;
      }
      min = lo;
      d = Math.fround(Math.fround(hi - lo) / 31);
    } else {
      let amax = 0,
        max = 0;
      for (let j = 0; j < QK; j++) {
        const a = Math.abs(x[j]!);
        if (amax < a) {
          amax = a;
          max = x[j]!;
        }
      }
      d = Math.fround(max / -16);
    }
    id = d !== 0 ? Math.fround(1 / d) : 0;
    const h = f32ToF16Bits(d);
    dst[o] = h & 0xff;
    dst[o + 1] = h >>> 8;
    if (withMin) {
      const hm = f32ToF16Bits(min);
      dst[o + 2] = hm & 0xff;
      dst[o + 3] = hm >>> 8;
    }
    const code = (v: number) =>
      withMin
        ? Math.trunc(Math.fround(Math.fround(Math.fround(v - min) * id) + 0.5)) & 0xff
        : Math.min(31, Math.trunc(Math.fround(Math.fround(v * id) + 16.5)));
    let qh = 0;
    const qs = o + (withMin ? 8 : 6);
    for (let j = 0; j < QK / 2; j++) {
      const q0 = code(x[j]!),
        q1 = code(x[j + QK / 2]!);
      dst[qs + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 & 0x10) >>> 4) << j;
      qh |= ((q1 & 0x10) >>> 4) << (j + QK / 2);
    }
    const qo = o + (withMin ? 4 : 2);
    dst[qo] = qh & 0xff;
    dst[qo + 1] = (qh >>> 8) & 0xff;
    dst[qo + 2] = (qh >>> 16) & 0xff;
    dst[qo + 3] = qh >>> 24;
  }
}

function decodeQ5(src: Uint8Array, dst: Float32Array, withMin: boolean): void {
  const nb = dst.length / QK;
  const bb = withMin ? 24 : 22;
  for (let b = 0; b < nb; b++) {
    const o = b * bb;
    const d = f16BitsToF32(src[o]! | (src[o + 1]! << 8));
    const m = withMin ? f16BitsToF32(src[o + 2]! | (src[o + 3]! << 8)) : 0;
    const qo = o + (withMin ? 4 : 2),
      qs = qo + 4;
    const qh = (src[qo]! | (src[qo + 1]! << 8) | (src[qo + 2]! << 16) | (src[qo + 3]! << 24)) >>> 0;
    for (let j = 0; j < QK / 2; j++) {
      const v = src[qs + j]!;
      const q0 = (v & 0x0f) | (((qh >>> j) & 1) << 4);
      const q1 = (v >>> 4) | (((qh >>> (j + 16)) & 1) << 4);
      if (withMin) {
        dst[b * QK + j] = Math.fround(q0 * d) + m;
        dst[b * QK + j + QK / 2] = Math.fround(q1 * d) + m;
      } else {
        dst[b * QK + j] = (q0 - 16) * d;
        dst[b * QK + j + QK / 2] = (q1 - 16) * d;
      }
    }
  }
}

function encodeF32(src: Float32Array, dst: Uint8Array): void {
  dst.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
}

function decodeF32(src: Uint8Array, dst: Float32Array): void {
  new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(src.subarray(0, dst.byteLength));
}

/** The traits table: one row per supported type. */
export const TYPE_TRAITS: readonly TypeTraits[] = [
  { name: "F32", id: 0, blockSize: 1, blockBytes: 4, quantized: false, encode: encodeF32, decode: decodeF32 },
  {
    name: "F16",
    id: 1,
    blockSize: 1,
    blockBytes: 2,
    quantized: false,
    encode: (s, d) => d.set(encodeHalf(s, "F16")),
    decode: (s, d) => void decodeHalf(s, d, "F16"),
  },
  { name: "Q4_0", id: 2, blockSize: QK, blockBytes: 18, quantized: true, encode: encodeQ4_0, decode: decodeQ4_0 },
  { name: "Q5_0", id: 6, blockSize: QK, blockBytes: 22, quantized: true, encode: (s, d) => encodeQ5(s, d, false), decode: (s, d) => decodeQ5(s, d, false) },
  { name: "Q5_1", id: 7, blockSize: QK, blockBytes: 24, quantized: true, encode: (s, d) => encodeQ5(s, d, true), decode: (s, d) => decodeQ5(s, d, true) },
  { name: "Q8_0", id: 8, blockSize: QK, blockBytes: 34, quantized: true, encode: encodeQ8_0, decode: decodeQ8_0 },
  { name: "Q4_K", id: 12, blockSize: QK_K, blockBytes: 144, quantized: true, encode: encodeQ4_K, decode: decodeQ4_K },
  { name: "Q5_K", id: 13, blockSize: QK_K, blockBytes: 176, quantized: true, encode: encodeQ5_K, decode: decodeQ5_K },
  { name: "Q6_K", id: 14, blockSize: QK_K, blockBytes: 210, quantized: true, encode: encodeQ6_K, decode: decodeQ6_K },
  {
    name: "BF16",
    id: 30,
    blockSize: 1,
    blockBytes: 2,
    quantized: false,
    encode: (s, d) => d.set(encodeHalf(s, "BF16")),
    decode: (s, d) => void decodeHalf(s, d, "BF16"),
  },
];

const BY_ID = new Map(TYPE_TRAITS.map((t) => [t.id, t]));
const BY_NAME = new Map(TYPE_TRAITS.map((t) => [t.name, t]));

/** Names of ggml types we know of but cannot read, for error messages. */
const OTHER_GGML_TYPES: Record<number, string> = {
  3: "Q4_1",
  9: "Q8_1",
  10: "Q2_K",
  11: "Q3_K",
  15: "Q8_K",
  16: "IQ2_XXS",
  17: "IQ2_XS",
  18: "IQ3_XXS",
  19: "IQ1_S",
  20: "IQ4_NL",
  21: "IQ3_S",
  22: "IQ2_S",
  23: "IQ4_XS",
  24: "I8",
  25: "I16",
  26: "I32",
  27: "I64",
  28: "F64",
  29: "IQ1_M",
  34: "TQ1_0",
  35: "TQ2_0",
  39: "MXFP4",
};

export function traitsById(id: number): TypeTraits | undefined {
  return BY_ID.get(id);
}

/** A readable name for any ggml type id (for error messages). */
export function ggmlTypeLabel(id: number): string {
  return BY_ID.get(id)?.name ?? OTHER_GGML_TYPES[id] ?? `unknown type ${id}`;
}

export function traits(name: GgmlTypeName): TypeTraits {
  const t = BY_NAME.get(name);
  if (!t) throw new FormatError(`unknown tensor type "${name}"`, { hint: `supported: ${TYPE_TRAITS.map((x) => x.name).join(", ")}` });
  return t;
}

/** Bytes needed for n values of a type; n must be a whole number of blocks. */
export function byteSize(t: TypeTraits, n: number): number {
  if (n % t.blockSize !== 0) throw new FormatError(`${t.name} stores blocks of ${t.blockSize} values; ${n} values is not a whole number of blocks`);
  return (n / t.blockSize) * t.blockBytes;
}

/** float32 values -> bytes of the given type. */
export function quantize(name: GgmlTypeName, src: Float32Array): Uint8Array {
  const t = traits(name);
  const out = new Uint8Array(byteSize(t, src.length));
  t.encode(src, out);
  return out;
}

/** Bytes of the given type -> n float32 values. */
export function dequantize(name: GgmlTypeName, bytes: Uint8Array, n: number): Float32Array {
  const t = traits(name);
  const need = byteSize(t, n);
  if (bytes.length !== need) throw new FormatError(`${name}: ${bytes.length} bytes for ${n} values (needs ${need})`);
  const out = new Float32Array(n);
  t.decode(bytes, out);
  return out;
}

/**
 * Named error budgets for a quantize -> dequantize round trip, per type.
 * maxAbsPerScale bounds |x - x̂| for every value, in units of its block's
 * float32 scale (d = max|x|/127 for Q8_0, |m|/8 for Q4_0, |x| for the float
 * types): half a step from rounding (Q8_0) or one step (Q4_0, whose top code
 * is clamped from 16 to 15), plus the f16 rounding of d (relative 2^-11)
 * times the largest code (127 or 8). relRms bounds RMS(x - x̂) / RMS(x) over a
 * tensor of normally distributed weights (a step of 2.5σ/127 or 2.5σ/8 gives
 * about 0.006 and 0.09; the budgets leave headroom, not slack for a bug).
 * absFloor adds the f16 subnormal range's absolute rounding (2^-25 per unit
 * of code, for a value or a scale below 2^-14).
 * Q5_0 is Q4_0 with twice the codes (unit max|x|/16, clamped top code); Q5_1's
 * unit is its step (max - min)/31: half a step from rounding (truncating
 * x + 0.5), plus the f16 rounding of d (31 codes · 2^-11 of a step) and of
 * m (2^-11 of |min|, which the test data keeps within a few steps): budget 1;
 * relRms 0.06 for both (measured 0.042 for Q5_1 on the outlier-heavy test data).
 * K-quants (blocks are 256-value super-blocks): the unit is the super-block's
 * range over its codes, (max(x, 0) - min(x, 0)) / 15 or / 31 for Q4_K and
 * Q5_K (codes with an offset), max|x| / 32 for Q6_K. A sub-block's step is at
 * most about that unit, but its 6- or 8-bit scale is rounded before the codes
 * are chosen, so a sub-block whose scale rounds down clamps its extreme value
 * by more than half a step; the budgets (1 unit for Q4_K/Q5_K, 0.75 for Q6_K)
 * sit above the worst seen on 40k normal weights with an outlier every 997
 * values, the tests' data (0.63, 0.72, 0.52 units), relRms likewise (measured
 * 0.080, 0.040, 0.022: the outliers widen their super-blocks' steps).
 * Budget per value: |x - x̂| ≤ maxAbsPerScale·d + absFloor.
 */
export const ERROR_BUDGETS: Record<GgmlTypeName, { maxAbsPerScale: number; absFloor: number; relRms: number }> = {
  F32: { maxAbsPerScale: 0, absFloor: 0, relRms: 0 },
  F16: { maxAbsPerScale: 2 ** -11, absFloor: 2 ** -25, relRms: 2 ** -11 },
  BF16: { maxAbsPerScale: 2 ** -8, absFloor: 0, relRms: 2 ** -8 },
  Q8_0: { maxAbsPerScale: 0.5 + 127 * 2 ** -11, absFloor: 127 * 2 ** -25, relRms: 0.01 },
  Q4_0: { maxAbsPerScale: 1 + 8 * 2 ** -11, absFloor: 8 * 2 ** -25, relRms: 0.12 },
  Q5_0: { maxAbsPerScale: 1 + 16 * 2 ** -11, absFloor: 16 * 2 ** -25, relRms: 0.06 },
  Q5_1: { maxAbsPerScale: 1, absFloor: 32 * 2 ** -25, relRms: 0.06 },
  Q4_K: { maxAbsPerScale: 1, absFloor: 64 * 2 ** -25, relRms: 0.1 },
  Q5_K: { maxAbsPerScale: 1, absFloor: 64 * 2 ** -25, relRms: 0.05 },
  Q6_K: { maxAbsPerScale: 0.75, absFloor: 64 * 2 ** -25, relRms: 0.03 },
};

/** The float32 scale a block of `x` gets (the unit of maxAbsPerScale). */
export function blockScale(name: GgmlTypeName, x: Float32Array): number {
  let amax = 0,
    max = 0,
    min = 0;
  for (const v of x) {
    amax = Math.max(amax, Math.abs(v));
    max = Math.max(max, v);
    min = Math.min(min, v);
  }
  if (name === "Q8_0") return amax / 127;
  if (name === "Q4_0") return amax / 8;
  if (name === "Q5_0") return amax / 16;
  if (name === "Q5_1") return (Math.max(...x) - Math.min(...x)) / 31;
  if (name === "Q4_K") return (max - min) / 15;
  if (name === "Q5_K") return (max - min) / 31;
  if (name === "Q6_K") return amax / 32;
  return amax;
}
