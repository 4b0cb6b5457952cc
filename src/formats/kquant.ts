// The K-quant block codecs (super-blocks of 256 values): Q4_K, Q5_K, Q6_K,
// with llama.cpp's byte layouts (ggml-common.h), bit for bit:
//   Q4_K, 144 bytes: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins for the
//         8 sub-blocks of 32, then 128 bytes of nibbles. Chunk c (64 values,
//         bytes 16 + 32c ..) holds sub-block 2c in the low nibbles and 2c + 1
//         in the high nibbles; value = d·sc·q − dmin·m, q in 0..15.
//   Q5_K, 176 bytes: as Q4_K plus 32 bytes of high bits (after the scales,
//         before the nibbles): bit 2c of byte l is the fifth bit of value
//         64c + l, bit 2c + 1 that of value 64c + 32 + l; q in 0..31.
//   Q6_K, 210 bytes: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs,
//         16 int8 scales (one per 16 values), f16 d; value = d·sc·(q − 32).
//   The 12 scale bytes (Q4_K, Q5_K): sub-block j < 4 keeps its scale in the
//   low 6 bits of byte j and its min in byte j + 4; j >= 4 keeps the low
//   4 bits of scale and min in byte j + 4 (scale low nibble, min high nibble)
//   and their top 2 bits in the top bits of bytes j − 4 (scale) and j (min).
// Decoding rounds every step to float32 in ggml's order, so it is exact to
// dequantize_row_q*_K. Encoding follows llama.cpp's reference quantizers
// (quantize_row_q*_K_ref: the weighted scale-and-min search for Q4_K/Q5_K, the
// weighted scale search for Q6_K, 6- and 8-bit quantized sub-block scales), in
// float32 step by step, so the bytes equal llama-quantize's (without an
// importance matrix): checked against libggml-base's quantize_row_q*_K_ref on
// random rows (192 super-blocks per type, every byte equal) and kept by the
// golden fixture test/fixtures/kquant-golden.json (made with
// tools/reference/kquant-golden.c); decoding equals dequantize_row_q*_K on
// random bytes. Our own code, written from the algorithm, not copied.
// Knows nothing about files, tensors or kernels: values in, bytes out, back.
import { f16BitsToF32, f32ToF16Bits } from "./half.ts";

/** Values per K-quant super-block. */
export const QK_K = 256;

const f = Math.fround;

/** ggml's nearest_int: round to nearest, ties to even (for |x| < 2^22). */
function nearestInt(x: number): number {
  const fl = Math.floor(x);
  const diff = x - fl;
  if (diff > 0.5) return fl + 1;
  if (diff < 0.5) return fl;
  return fl % 2 === 0 ? fl : fl + 1;
}

function putF16(dst: Uint8Array, o: number, v: number): void {
  const h = f32ToF16Bits(v);
  dst[o] = h & 0xff;
  dst[o + 1] = h >>> 8;
}

function getF16(src: Uint8Array, o: number): number {
  return f16BitsToF32(src[o]! | (src[o + 1]! << 8));
}

/** Scale and min (6 bits each) of sub-block j from the 12 packed bytes at `o`. */
function scaleMinK4(src: Uint8Array, o: number, j: number): [number, number] {
  if (j < 4) return [src[o + j]! & 63, src[o + j + 4]! & 63];
  const sc = (src[o + j + 4]! & 0xf) | ((src[o + j - 4]! >>> 6) << 4);
  const m = (src[o + j + 4]! >>> 4) | ((src[o + j]! >>> 6) << 4);
  return [sc, m];
}

function packScalesK4(dst: Uint8Array, o: number, ls: Uint8Array, lm: Uint8Array): void {
  dst.fill(0, o, o + 12);
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      dst[o + j] = ls[j]!;
      dst[o + j + 4] = lm[j]!;
    } else {
      dst[o + j + 4] = (ls[j]! & 0xf) | ((lm[j]! & 0xf) << 4);
      dst[o + j - 4] = dst[o + j - 4]! | ((ls[j]! >>> 4) << 6);
      dst[o + j] = dst[o + j]! | ((lm[j]! >>> 4) << 6);
    }
  }
}

/**
 * Weighted search for a scale and a (non-positive) offset of n values with codes
 * 0..nmax (llama.cpp's make_qkx2_quants with squared error): start from the
 * range, try nstep + 1 stretched inverse scales, keep the least-squares fit with
 * the lowest weighted error. Writes the codes to L; returns [scale, -min].
 */
function searchScaleMin(x: Float32Array, weights: Float32Array, nmax: number, L: Uint8Array, rmin: number, rdelta: number, nstep: number): [number, number] {
  const n = x.length;
  const aux = new Uint8Array(n);
  let min = x[0]!,
    max = x[0]!;
  let sumW = weights[0]!;
  let sumX = f(sumW * x[0]!);
  for (let i = 1; i < n; i++) {
    if (x[i]! < min) min = x[i]!;
    if (x[i]! > max) max = x[i]!;
    sumW = f(sumW + weights[i]!);
    sumX = f(sumX + f(weights[i]! * x[i]!));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0);
    return [0, -min];
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let best = 0;
  for (let i = 0; i < n; i++) {
    const l = nearestInt(f(iscale * f(x[i]! - min)));
    L[i] = Math.max(0, Math.min(nmax, l));
    const diff = f(f(f(scale * L[i]!) + min) - x[i]!);
    best = f(best + f(weights[i]! * f(diff * diff)));
  }
  for (let is = 0; is <= nstep; is++) {
    // max - min is taken afresh: an accepted fit moves min, and later trials start from it.
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0,
      sumL2 = 0,
      sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(x[i]! - min)))));
      aux[i] = l;
      const w = weights[i]!;
      sumL = f(sumL + f(w * l));
      sumL2 = f(sumL2 + f(f(w * l) * l));
      sumXL = f(sumXL + f(f(w * l) * x[i]!));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let mad = 0;
      for (let i = 0; i < n; i++) {
        const diff = f(f(f(thisScale * aux[i]!) + thisMin) - x[i]!);
        mad = f(mad + f(weights[i]! * f(diff * diff)));
      }
      if (mad < best) {
        L.set(aux);
        best = mad;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}

/** Q4_K and Q5_K share everything but the code range and the search's parameters. */
function encodeKWithMin(src: Float32Array, dst: Uint8Array, bits: 4 | 5): void {
  const nmax = bits === 4 ? 15 : 31;
  const blockBytes = bits === 4 ? 144 : 176;
  const nb = src.length / QK_K;
  const L = new Uint8Array(QK_K);
  const weights = new Float32Array(32);
  const scales = new Float32Array(8),
    mins = new Float32Array(8);
  const ls = new Uint8Array(8),
    lm = new Uint8Array(8);
  for (let b = 0; b < nb; b++) {
    const x = src.subarray(b * QK_K, (b + 1) * QK_K);
    const o = b * blockBytes;
    let maxScale = 0,
      maxMin = 0;
    for (let j = 0; j < 8; j++) {
      const xs = x.subarray(32 * j, 32 * j + 32);
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(xs[l]! * xs[l]!));
      const avX = f(Math.sqrt(f(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(xs[l]!));
      const [sc, mn] =
        bits === 4
          ? searchScaleMin(xs, weights, nmax, L.subarray(32 * j, 32 * j + 32), -1, f(0.1), 20)
          : searchScaleMin(xs, weights, nmax, L.subarray(32 * j, 32 * j + 32), -0.5, f(0.1), 15);
      scales[j] = sc;
      mins[j] = mn;
      if (scales[j]! > maxScale) maxScale = scales[j]!;
      if (mins[j]! > maxMin) maxMin = mins[j]!;
    }
    const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
    for (let j = 0; j < 8; j++) {
      ls[j] = Math.min(63, nearestInt(f(invScale * scales[j]!)) & 0xff);
      lm[j] = Math.min(63, nearestInt(f(invMin * mins[j]!)) & 0xff);
    }
    putF16(dst, o, f(maxScale / 63));
    putF16(dst, o + 2, f(maxMin / 63));
    packScalesK4(dst, o + 4, ls, lm);
    const d = getF16(dst, o),
      dmin = getF16(dst, o + 2);
    for (let j = 0; j < 8; j++) {
      const [sc, m] = scaleMinK4(dst, o + 4, j);
      const dd = f(d * sc);
      if (!dd) continue; // keeps the search's codes, as the reference does
      const dm = f(dmin * m);
      for (let i = 0; i < 32; i++) {
        const l = nearestInt(f(f(x[32 * j + i]! + dm) / dd));
        L[32 * j + i] = Math.max(0, Math.min(nmax, l));
      }
    }
    if (bits === 4) {
      for (let c = 0; c < 4; c++) {
        for (let l = 0; l < 32; l++) dst[o + 16 + 32 * c + l] = L[64 * c + l]! | (L[64 * c + 32 + l]! << 4);
      }
    } else {
      const qh = o + 16,
        ql = o + 48;
      dst.fill(0, qh, qh + 32);
      for (let c = 0; c < 4; c++) {
        for (let l = 0; l < 32; l++) {
          let l1 = L[64 * c + l]!,
            l2 = L[64 * c + 32 + l]!;
          if (l1 > 15) {
            l1 -= 16;
            dst[qh + l] = dst[qh + l]! | (1 << (2 * c));
          }
          if (l2 > 15) {
            l2 -= 16;
            dst[qh + l] = dst[qh + l]! | (2 << (2 * c));
          }
          dst[ql + 32 * c + l] = l1 | (l2 << 4);
        }
      }
    }
  }
}

export function encodeQ4_K(src: Float32Array, dst: Uint8Array): void {
  encodeKWithMin(src, dst, 4);
}

export function encodeQ5_K(src: Float32Array, dst: Uint8Array): void {
  encodeKWithMin(src, dst, 5);
}

function decodeKWithMin(src: Uint8Array, dst: Float32Array, bits: 4 | 5): void {
  const blockBytes = bits === 4 ? 144 : 176;
  const nb = dst.length / QK_K;
  for (let b = 0; b < nb; b++) {
    const o = b * blockBytes;
    const d = getF16(src, o),
      dmin = getF16(src, o + 2);
    const qh = o + 16,
      ql = bits === 4 ? o + 16 : o + 48;
    for (let c = 0; c < 4; c++) {
      const [sc1, m1] = scaleMinK4(src, o + 4, 2 * c);
      const [sc2, m2] = scaleMinK4(src, o + 4, 2 * c + 1);
      const d1 = f(d * sc1),
        dm1 = f(dmin * m1),
        d2 = f(d * sc2),
        dm2 = f(dmin * m2);
      const y = b * QK_K + 64 * c;
      for (let l = 0; l < 32; l++) {
        const q = src[ql + 32 * c + l]!;
        let lo = q & 0xf,
          hi = q >>> 4;
        if (bits === 5) {
          const h = src[qh + l]!;
          if (h & (1 << (2 * c))) lo += 16;
          if (h & (2 << (2 * c))) hi += 16;
        }
        dst[y + l] = f(d1 * lo) - dm1;
        dst[y + 32 + l] = f(d2 * hi) - dm2;
      }
    }
  }
}

export function decodeQ4_K(src: Uint8Array, dst: Float32Array): void {
  decodeKWithMin(src, dst, 4);
}

export function decodeQ5_K(src: Uint8Array, dst: Float32Array): void {
  decodeKWithMin(src, dst, 5);
}

/**
 * Weighted search for a symmetric scale of n values with codes -nmax..nmax-1
 * (llama.cpp's make_qx_quants, weights x², 19 stretched trial scales). Writes
 * codes + nmax to L; returns the scale (0 for an all-zero group).
 */
function searchScale(x: Float32Array, nmax: number, L: Uint8Array): number {
  const n = x.length;
  let max = 0,
    amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[i]!);
    if (ax > amax) {
      amax = ax;
      max = x[i]!;
    }
  }
  if (amax < 1e-15) {
    L.fill(0);
    return 0;
  }
  const clamp = (l: number) => Math.max(-nmax, Math.min(nmax - 1, l));
  let iscale = f(-nmax / max);
  let sumlx = 0,
    suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = clamp(nearestInt(f(iscale * x[i]!)));
    L[i] = l + nmax;
    const w = f(x[i]! * x[i]!);
    sumlx = f(sumlx + f(f(w * x[i]!) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(f(0.1) * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const l = clamp(nearestInt(f(iscale * x[i]!)));
      const w = f(x[i]! * x[i]!);
      sumlx = f(sumlx + f(f(w * x[i]!) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) L[i] = nmax + clamp(nearestInt(f(iscale * x[i]!)));
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

export function encodeQ6_K(src: Float32Array, dst: Uint8Array): void {
  const nb = src.length / QK_K;
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(16);
  for (let b = 0; b < nb; b++) {
    const x = src.subarray(b * QK_K, (b + 1) * QK_K);
    const o = b * 210;
    let maxScale = 0,
      maxAbsScale = 0;
    for (let g = 0; g < 16; g++) {
      const s = searchScale(x.subarray(16 * g, 16 * g + 16), 32, L.subarray(16 * g, 16 * g + 16));
      scales[g] = s;
      if (Math.abs(s) > maxAbsScale) {
        maxAbsScale = Math.abs(s);
        maxScale = s;
      }
    }
    dst.fill(0, o, o + 210);
    if (maxAbsScale < 1e-15) continue; // an all-zero block: every byte 0
    const iscale = f(-128 / maxScale);
    putF16(dst, o + 208, f(1 / iscale));
    for (let g = 0; g < 16; g++) dst[o + 192 + g] = Math.min(127, nearestInt(f(iscale * scales[g]!))) & 0xff;
    const d = getF16(dst, o + 208);
    for (let g = 0; g < 16; g++) {
      const dd = f(d * ((dst[o + 192 + g]! << 24) >> 24));
      if (!dd) continue;
      for (let i = 0; i < 16; i++) {
        const l = nearestInt(f(x[16 * g + i]! / dd));
        L[16 * g + i] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h,
        qh = o + 128 + 32 * h,
        y = 128 * h;
      for (let l = 0; l < 32; l++) {
        const q1 = L[y + l]!,
          q2 = L[y + l + 32]!,
          q3 = L[y + l + 64]!,
          q4 = L[y + l + 96]!;
        dst[ql + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
        dst[ql + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
        dst[qh + l] = (q1 >>> 4) | ((q2 >>> 4) << 2) | ((q3 >>> 4) << 4) | ((q4 >>> 4) << 6);
      }
    }
  }
}

export function decodeQ6_K(src: Uint8Array, dst: Float32Array): void {
  const nb = dst.length / QK_K;
  for (let b = 0; b < nb; b++) {
    const o = b * 210;
    const d = getF16(src, o + 208);
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h,
        qh = o + 128 + 32 * h,
        sc = o + 192 + 8 * h,
        y = b * QK_K + 128 * h;
      for (let l = 0; l < 32; l++) {
        const is = l >>> 4;
        const hb = src[qh + l]!;
        const q1 = ((src[ql + l]! & 0xf) | ((hb & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32]! & 0xf) | (((hb >>> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l]! >>> 4) | (((hb >>> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32]! >>> 4) | (((hb >>> 6) & 3) << 4)) - 32;
        const s = (i: number) => f(d * ((src[sc + is + i]! << 24) >> 24));
        dst[y + l] = s(0) * q1;
        dst[y + l + 32] = s(2) * q2;
        dst[y + l + 64] = s(4) * q3;
        dst[y + l + 96] = s(6) * q4;
      }
    }
  }
}
