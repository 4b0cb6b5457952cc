// The one traits table for GGML tensor types (ggml's `type_traits` idea):
// each type's GGML id, block size, bytes per block, and its float32 encoder
// and decoder. The quantized block layouts are llama.cpp's, bit for bit:
//   Q8_0: 32 values -> f16 scale d = max|x| / 127, then 32 int8 q = round(x / d)
//         (34 bytes; value = q·d).
//   Q4_0: 32 values -> f16 scale d = m / -8 where m is the value of largest
//         magnitude (sign kept), then q = min(15, trunc(x / d + 8.5)) packed two
//         per byte: byte j holds element j (low nibble) and j + 16 (high nibble)
//         (18 bytes; value = (q - 8)·d).
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

export type GgmlTypeName = "F32" | "F16" | "Q4_0" | "Q8_0" | "Q4_K" | "Q5_K" | "Q6_K" | "BF16";

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

function encodeF32(src: Float32Array, dst: Uint8Array): void {
  dst.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
}

function decodeF32(src: Uint8Array, dst: Float32Array): void {
  new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(src.subarray(0, dst.byteLength));
}

/** The traits table: one row per supported type. */
export const TYPE_TRAITS: readonly TypeTraits[] = [
  { name: "F32", id: 0, blockSize: 1, blockBytes: 4, quantized: false, encode: encodeF32, decode: decodeF32 },
  { name: "F16", id: 1, blockSize: 1, blockBytes: 2, quantized: false, encode: (s, d) => d.set(encodeHalf(s, "F16")), decode: (s, d) => void decodeHalf(s, d, "F16") },
  { name: "Q4_0", id: 2, blockSize: QK, blockBytes: 18, quantized: true, encode: encodeQ4_0, decode: decodeQ4_0 },
  { name: "Q8_0", id: 8, blockSize: QK, blockBytes: 34, quantized: true, encode: encodeQ8_0, decode: decodeQ8_0 },
  { name: "Q4_K", id: 12, blockSize: QK_K, blockBytes: 144, quantized: true, encode: encodeQ4_K, decode: decodeQ4_K },
  { name: "Q5_K", id: 13, blockSize: QK_K, blockBytes: 176, quantized: true, encode: encodeQ5_K, decode: decodeQ5_K },
  { name: "Q6_K", id: 14, blockSize: QK_K, blockBytes: 210, quantized: true, encode: encodeQ6_K, decode: decodeQ6_K },
  { name: "BF16", id: 30, blockSize: 1, blockBytes: 2, quantized: false, encode: (s, d) => d.set(encodeHalf(s, "BF16")), decode: (s, d) => void decodeHalf(s, d, "BF16") },
];

const BY_ID = new Map(TYPE_TRAITS.map((t) => [t.id, t]));
const BY_NAME = new Map(TYPE_TRAITS.map((t) => [t.name, t]));

/** Names of ggml types we know of but cannot read, for error messages. */
const OTHER_GGML_TYPES: Record<number, string> = {
  3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 15: "Q8_K",
  16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
  24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
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
  Q4_K: { maxAbsPerScale: 1, absFloor: 64 * 2 ** -25, relRms: 0.1 },
  Q5_K: { maxAbsPerScale: 1, absFloor: 64 * 2 ** -25, relRms: 0.05 },
  Q6_K: { maxAbsPerScale: 0.75, absFloor: 64 * 2 ** -25, relRms: 0.03 },
};

/** The float32 scale a block of `x` gets (the unit of maxAbsPerScale). */
export function blockScale(name: GgmlTypeName, x: Float32Array): number {
  let amax = 0, max = 0, min = 0;
  for (const v of x) {
    amax = Math.max(amax, Math.abs(v));
    max = Math.max(max, v);
    min = Math.min(min, v);
  }
  if (name === "Q8_0") return amax / 127;
  if (name === "Q4_0") return amax / 8;
  if (name === "Q4_K") return (max - min) / 15;
  if (name === "Q5_K") return (max - min) / 31;
  if (name === "Q6_K") return amax / 32;
  return amax;
}
