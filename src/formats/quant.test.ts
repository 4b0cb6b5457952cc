import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";

import { FormatError } from "../errors.ts";
import { Rng } from "../util/rng.ts";
import { f16BitsToF32, f32ToF16Bits } from "./half.ts";
import { blockScale, dequantize, ERROR_BUDGETS, quantize, TYPE_TRAITS, traitsById, type GgmlTypeName } from "./quant.ts";

test("traits table: ggml ids, block sizes and bytes per block as in ggml.h", () => {
  const rows = TYPE_TRAITS.map((t) => [t.name, t.id, t.blockSize, t.blockBytes]);
  assert.deepEqual(rows, [
    ["F32", 0, 1, 4],
    ["F16", 1, 1, 2],
    ["Q4_0", 2, 32, 18],
    ["Q5_0", 6, 32, 22],
    ["Q5_1", 7, 32, 24],
    ["Q8_0", 8, 32, 34],
    ["Q4_K", 12, 256, 144],
    ["Q5_K", 13, 256, 176],
    ["Q6_K", 14, 256, 210],
    ["BF16", 30, 1, 2],
  ]);
  assert.equal(traitsById(8)!.name, "Q8_0");
  assert.equal(traitsById(11), undefined, "Q3_K is not supported");
  assert.equal(new Set(TYPE_TRAITS.map((t) => t.id)).size, TYPE_TRAITS.length);
});

test("Q8_0 block layout: f16 scale max|x|/127 then int8 round(x/d), half away from zero", () => {
  // max|x| = 127 -> d = 1 exactly; codes are the values themselves.
  const x = Float32Array.from({ length: 32 }, (_, j) => (j === 5 ? -127 : j - 16 + (j % 2 ? 0.5 : 0)));
  const b = quantize("Q8_0", x);
  assert.equal(b.length, 34);
  assert.equal(f16BitsToF32(b[0]! | (b[1]! << 8)), 1);
  for (let j = 0; j < 32; j++) {
    const expect = x[j]! < 0 ? -Math.round(-x[j]!) : Math.round(x[j]!); // -15.5 -> -16, 0.5 -> 1
    assert.equal((b[2 + j]! << 24) >> 24, expect, `element ${j}`);
  }
  assert.equal((b[2 + 1]! << 24) >> 24, -15, "-14.5 rounds away from zero");
});

test("Q4_0 block layout: d = m/-8 with the signed extreme, q = min(15, trunc(x/d + 8.5)), nibbles j | j+16", () => {
  // m = -2 -> d = 0.25; x = (k - 8)·0.25 encodes to exactly k.
  const k = Array.from({ length: 32 }, (_, j) => (j * 7 + 3) % 16);
  k[9] = 0; // the extreme, -2
  const x = Float32Array.from(k, (q) => (q - 8) * 0.25);
  const b = quantize("Q4_0", x);
  assert.equal(b.length, 18);
  assert.equal(f16BitsToF32(b[0]! | (b[1]! << 8)), 0.25);
  for (let j = 0; j < 16; j++) {
    assert.equal(b[2 + j]! & 0x0f, k[j], `low nibble of byte ${j} is element ${j}`);
    assert.equal(b[2 + j]! >>> 4, k[j + 16], `high nibble of byte ${j} is element ${j + 16}`);
  }
  assert.deepEqual(dequantize("Q4_0", b, 32), x);
  // A positive extreme gives a negative scale; -m would be code 16, clamped to 15.
  const y = new Float32Array(32);
  y[0] = 2;
  y[1] = -2;
  const yb = quantize("Q4_0", y);
  assert.equal(f16BitsToF32(yb[0]! | (yb[1]! << 8)), -0.25);
  const back = dequantize("Q4_0", yb, 32);
  assert.equal(back[0], 2);
  assert.equal(back[1], -1.75, "the clamped code costs one full step");
  assert.ok(back[2] === 0);
});

test("all-zero blocks quantize to zero scale and decode to exact zeros", () => {
  for (const name of ["Q8_0", "Q4_0", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"] as const) {
    const b = quantize(name, new Float32Array(512));
    assert.ok(
      dequantize(name, b, 512).every((v) => v === 0),
      name,
    ); // -0 included (Q4_0's d = 0 / -8)
  }
});

function randomWeights(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = rng.fillNormal(new Float32Array(n), 0, 0.02);
  // a few outlier blocks and a block of tiny values
  for (let i = 0; i < n; i += 997) x[i] = (i % 2 ? 1 : -1) * 0.3;
  return x;
}

for (const name of ["F16", "BF16", "Q8_0", "Q4_0", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"] as GgmlTypeName[]) {
  test(`${name} round trip stays within its named error budget`, () => {
    const n = name.endsWith("_K") ? 256 * 160 : 32 * 512;
    const x = randomWeights(n, 7);
    const back = dequantize(name, quantize(name, x), n);
    const budget = ERROR_BUDGETS[name];
    const bs = TYPE_TRAITS.find((t) => t.name === name)!.blockSize;
    let errSq = 0,
      sq = 0,
      worst = 0;
    for (let b = 0; b < n; b += Math.max(bs, 1)) {
      const blk = x.subarray(b, b + bs);
      const d = bs === 1 ? Math.abs(x[b]!) : blockScale(name, blk);
      for (let j = 0; j < bs; j++) {
        const e = Math.abs(back[b + j]! - x[b + j]!);
        worst = Math.max(worst, d > 0 ? e / d : e);
        assert.ok(e <= budget.maxAbsPerScale * d + budget.absFloor, `${name} value ${b + j}: |err| ${e} > ${budget.maxAbsPerScale}·${d}`);
        errSq += e * e;
        sq += x[b + j]! * x[b + j]!;
      }
    }
    const rel = Math.sqrt(errSq / sq);
    assert.ok(rel <= budget.relRms, `${name} relative RMS error ${rel} > ${budget.relRms}`);
    // The budgets are not slack: the round trip does lose precision where it should.
    if (name !== "F16" && name !== "BF16") assert.ok(worst > 0.3 * budget.maxAbsPerScale, `${name} worst ${worst}`);
  });
}

test("F32 round trip is exact; partial blocks and wrong byte counts are FormatErrors", () => {
  const x = randomWeights(100, 3);
  assert.deepEqual(dequantize("F32", quantize("F32", x), 100), x);
  assert.throws(
    () => quantize("Q8_0", new Float32Array(33)),
    (e: unknown) => e instanceof FormatError && /blocks of 32/.test(e.message),
  );
  assert.throws(() => dequantize("Q4_0", new Uint8Array(17), 32), FormatError);
});

test("Q5_0 / Q5_1 hand-built blocks: fifth bits in a little-endian u32 after the scale(s)", () => {
  const q = (j: number) => (j * 7 + 2) % 32; // code of element j
  let qh = 0;
  const qs: number[] = [];
  for (let j = 0; j < 16; j++) {
    qs.push((q(j) & 15) | ((q(j + 16) & 15) << 4));
    if (q(j) & 16) qh |= 1 << j;
    if (q(j + 16) & 16) qh |= 1 << (j + 16);
  }
  qh >>>= 0;
  const qhBytes = [qh & 0xff, (qh >>> 8) & 0xff, (qh >>> 16) & 0xff, qh >>> 24];
  const b0 = Uint8Array.from([...f16(0.25), ...qhBytes, ...qs]);
  const b1 = Uint8Array.from([...f16(0.5), ...f16(-3), ...qhBytes, ...qs]);
  assert.equal(b0.length, 22);
  assert.equal(b1.length, 24);
  const y0 = dequantize("Q5_0", b0, 32),
    y1 = dequantize("Q5_1", b1, 32);
  for (let j = 0; j < 32; j++) {
    assert.equal(y0[j], (q(j) - 16) * 0.25, `Q5_0 element ${j}`);
    assert.equal(y1[j], q(j) * 0.5 - 3, `Q5_1 element ${j}`);
  }
});

// ---- K-quants -------------------------------------------------------------

const f16 = (v: number) => {
  const h = f32ToF16Bits(v);
  return [h & 0xff, h >>> 8];
};

/** The 12 scale bytes for 6-bit scales sc[8] and mins m[8], placed bit by bit as ggml-common.h describes. */
function packK4Scales(sc: number[], m: number[]): number[] {
  const b = new Array<number>(12).fill(0);
  for (let j = 0; j < 4; j++) {
    b[j] = (sc[j]! & 63) | ((sc[j + 4]! >> 4) << 6); // low 6: scale j; top 2: high bits of scale j+4
    b[j + 4] = (m[j]! & 63) | ((m[j + 4]! >> 4) << 6); // low 6: min j; top 2: high bits of min j+4
    b[j + 8] = (sc[j + 4]! & 15) | ((m[j + 4]! & 15) << 4);
  }
  return b;
}

test("Q4_K hand-built block decodes to d·sc·q − dmin·m, sub-block 2c low nibbles, 2c+1 high", () => {
  const sc = [1, 2, 3, 63, 17, 33, 48, 5],
    m = [0, 1, 2, 3, 63, 20, 36, 9];
  const q = (v: number) => (v * 5 + 3) % 16; // code of value v
  const bytes = [...f16(0.5), ...f16(0.25), ...packK4Scales(sc, m)];
  for (let c = 0; c < 4; c++) for (let l = 0; l < 32; l++) bytes.push(q(64 * c + l) | (q(64 * c + 32 + l) << 4));
  const block = Uint8Array.from(bytes);
  assert.equal(block.length, 144);
  const out = dequantize("Q4_K", block, 256);
  for (let v = 0; v < 256; v++) {
    const j = v >> 5;
    assert.equal(out[v], 0.5 * sc[j]! * q(v) - 0.25 * m[j]!, `value ${v}`);
  }
});

test("Q5_K hand-built block: the fifth bit of value 64c+l is bit 2c of qh[l], of 64c+32+l bit 2c+1", () => {
  const sc = [7, 2, 40, 1, 63, 12, 30, 8],
    m = [3, 0, 9, 1, 2, 44, 6, 63];
  const q = (v: number) => (v * 11 + 7) % 32;
  const qh = new Array<number>(32).fill(0);
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) {
      if (q(64 * c + l) & 16) qh[l] |= 1 << (2 * c);
      if (q(64 * c + 32 + l) & 16) qh[l] |= 2 << (2 * c);
    }
  }
  const bytes = [...f16(0.125), ...f16(1), ...packK4Scales(sc, m), ...qh];
  for (let c = 0; c < 4; c++) for (let l = 0; l < 32; l++) bytes.push((q(64 * c + l) & 15) | ((q(64 * c + 32 + l) & 15) << 4));
  const block = Uint8Array.from(bytes);
  assert.equal(block.length, 176);
  const out = dequantize("Q5_K", block, 256);
  for (let v = 0; v < 256; v++) assert.equal(out[v], 0.125 * sc[v >> 5]! * q(v) - m[v >> 5]!, `value ${v}`);
});

test("Q6_K hand-built block: ql, qh, 16 int8 scales, then d; value = d·sc·(q − 32)", () => {
  const sc = Array.from({ length: 16 }, (_, g) => ((g * 37) % 256) - 128); // includes -128 and positives
  const q = (v: number) => (v * 13 + 5) % 64;
  const ql = new Array<number>(128).fill(0),
    qh = new Array<number>(64).fill(0);
  for (let v = 0; v < 256; v++) {
    const h = v >> 7,
      r = v & 127,
      l = r & 31,
      quarter = r >> 5; // quarter 0..3 of a 128-value half
    const lowByte = 64 * h + l + (quarter & 1 ? 32 : 0);
    ql[lowByte] |= (q(v) & 15) << (quarter & 2 ? 4 : 0);
    qh[32 * h + l] |= (q(v) >> 4) << (2 * quarter);
  }
  const block = Uint8Array.from([...ql, ...qh, ...sc.map((s) => s & 0xff), ...f16(0.5)]);
  assert.equal(block.length, 210);
  const out = dequantize("Q6_K", block, 256);
  for (let v = 0; v < 256; v++) assert.equal(out[v], 0.5 * sc[v >> 4]! * (q(v) - 32), `value ${v}`);
});

test("K-quant encoders write the bytes llama.cpp's reference quantizers write (golden fixture)", (t) => {
  const path = new URL("../../test/fixtures/kquant-golden.json", import.meta.url);
  if (!existsSync(path)) return t.skip("test/fixtures/kquant-golden.json is absent");
  const g = JSON.parse(readFileSync(path, "utf8")) as Record<string, string | number>;
  const raw = Buffer.from(g.x as string, "base64");
  const x = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
  assert.equal(x.length, g.n);
  for (const name of ["Q4_K", "Q5_K", "Q6_K"] as const) {
    const want = new Uint8Array(Buffer.from(g[name] as string, "base64"));
    const got = quantize(name, x);
    let first = -1;
    for (let i = 0; i < got.length && first < 0; i++) if (got[i] !== want[i]) first = i;
    assert.equal(first, -1, `${name}: byte ${first} differs from llama.cpp (${got[first]} vs ${want[first]})`);
  }
});
