// Rotary position embedding kernels: the raw signatures shared by the native
// addon and the TypeScript reference, and the validating wrappers.
// Two conventions: rotate-half (Hugging Face Llama: pairs (i, i + rot/2)) and
// interleaved (llama2.c, GGUF: pairs (2i, 2i+1)). Backward ADDS into dinp.
// Knows nothing about models: positions and tables come from the caller.
import { ShapeError } from "../../errors.ts";
import { backend } from "../load.ts";

export interface RopeKernels {
  /**
   * out (N,H,D) = rotate(inp (N,H,D)) where token i sits at positions[i] (N).
   * Only the first `rot` dims of each head rotate (rot <= D, even); the rest copy through.
   * cos, sin (P, rot/2): precomputed tables, P > max position. out may alias inp.
   */
  ropeForward(
    out: Float32Array,
    inp: Float32Array,
    cos: Float32Array,
    sin: Float32Array,
    positions: Int32Array,
    n: number,
    h: number,
    d: number,
    rot: number,
    interleaved: boolean,
  ): void;
  /** dinp (N,H,D) += rotateᵀ(dout); dinp must not alias dout. */
  ropeBackward(
    dinp: Float32Array,
    dout: Float32Array,
    cos: Float32Array,
    sin: Float32Array,
    positions: Int32Array,
    n: number,
    h: number,
    d: number,
    rot: number,
    interleaved: boolean,
  ): void;
}

/**
 * Angle tables for positions 0..maxPos-1: cos, sin (maxPos, rot/2) of p·theta^(−2j/rot).
 * The same tables serve both pair layouts (pair j has the same frequency in each).
 */
export function ropeTables(maxPos: number, rot: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  if (!Number.isInteger(maxPos) || maxPos < 1) throw new ShapeError(`ropeTables: maxPos must be a positive integer, got ${maxPos}`);
  if (!Number.isInteger(rot) || rot < 2 || rot % 2 !== 0) throw new ShapeError(`ropeTables: rot must be a positive even integer, got ${rot}`);
  if (!(theta > 0) || !Number.isFinite(theta)) throw new ShapeError(`ropeTables: theta must be a positive number, got ${theta}`);
  const half = rot / 2;
  const cos = new Float32Array(maxPos * half),
    sin = new Float32Array(maxPos * half);
  for (let j = 0; j < half; j++) {
    const freq = theta ** ((-2 * j) / rot);
    for (let p = 0; p < maxPos; p++) {
      cos[p * half + j] = Math.cos(p * freq);
      sin[p * half + j] = Math.sin(p * freq);
    }
  }
  return { cos, sin };
}

function overlaps(a: Float32Array, b: Float32Array): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

function checkRope(
  fn: string,
  y: Float32Array,
  x: Float32Array,
  cos: Float32Array,
  sin: Float32Array,
  positions: Int32Array,
  n: number,
  h: number,
  d: number,
  rot: number,
  names: [string, string],
): void {
  for (const [name, v] of [
    ["n", n],
    ["h", h],
    ["d", d],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ShapeError(`${fn}: ${name} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(rot) || rot < 2 || rot % 2 !== 0 || rot > d) throw new ShapeError(`${fn}: rot must be even and in [2, d=${d}], got ${rot}`);
  const need = n * h * d;
  if (y.length < need) throw new ShapeError(`${fn}: ${names[0]} has ${y.length} elements, (${n},${h},${d}) needs ${need}`);
  if (x.length < need) throw new ShapeError(`${fn}: ${names[1]} has ${x.length} elements, (${n},${h},${d}) needs ${need}`);
  const half = rot / 2;
  if (cos.length !== sin.length || cos.length === 0 || cos.length % half !== 0) {
    throw new ShapeError(`${fn}: cos and sin must both be (P, rot/2=${half}) tables, got ${cos.length} and ${sin.length} elements`, {
      hint: "make them with ropeTables(maxPos, rot, theta)",
    });
  }
  const p = cos.length / half;
  if (positions.length < n) throw new ShapeError(`${fn}: positions has ${positions.length} entries, n=${n} tokens need one each`);
  for (let i = 0; i < n; i++) {
    const pos = positions[i]!;
    if (pos < 0 || pos >= p)
      throw new ShapeError(`${fn}: positions[${i}] = ${pos} is outside the tables' range [0, ${p})`, { hint: "build the tables for a larger maxPos" });
  }
}

/** out (N,H,D) = rotate(inp) at positions (N); out may be inp itself (in place). See RopeKernels. */
export function ropeForward(
  out: Float32Array,
  inp: Float32Array,
  cos: Float32Array,
  sin: Float32Array,
  positions: Int32Array,
  n: number,
  h: number,
  d: number,
  rot: number,
  interleaved: boolean,
): void {
  checkRope("ropeForward", out, inp, cos, sin, positions, n, h, d, rot, ["out", "inp"]);
  if (overlaps(out, inp) && out.byteOffset !== inp.byteOffset) throw new ShapeError("ropeForward: out partially overlaps inp (it may only be inp itself)");
  backend().ropeForward(out, inp, cos, sin, positions, n, h, d, rot, interleaved);
}

/** dinp (N,H,D) += rotateᵀ(dout); dinp must not overlap dout. See RopeKernels. */
export function ropeBackward(
  dinp: Float32Array,
  dout: Float32Array,
  cos: Float32Array,
  sin: Float32Array,
  positions: Int32Array,
  n: number,
  h: number,
  d: number,
  rot: number,
  interleaved: boolean,
): void {
  checkRope("ropeBackward", dinp, dout, cos, sin, positions, n, h, d, rot, ["dinp", "dout"]);
  if (overlaps(dinp, dout)) throw new ShapeError("ropeBackward: dinp must not overlap dout");
  backend().ropeBackward(dinp, dout, cos, sin, positions, n, h, d, rot, interleaved);
}
