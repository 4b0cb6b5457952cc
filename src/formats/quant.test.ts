import assert from "node:assert/strict";
import { test } from "node:test";

import { FormatError } from "../errors.ts";
import { Rng } from "../util/rng.ts";
import { f16BitsToF32 } from "./half.ts";
import { blockScale, dequantize, ERROR_BUDGETS, quantize, TYPE_TRAITS, traitsById, type GgmlTypeName } from "./quant.ts";

test("traits table: ggml ids, block sizes and bytes per block as in ggml.h", () => {
  const rows = TYPE_TRAITS.map((t) => [t.name, t.id, t.blockSize, t.blockBytes]);
  assert.deepEqual(rows, [["F32", 0, 1, 4], ["F16", 1, 1, 2], ["Q4_0", 2, 32, 18], ["Q8_0", 8, 32, 34], ["BF16", 30, 1, 2]]);
  assert.equal(traitsById(8)!.name, "Q8_0");
  assert.equal(traitsById(12), undefined);
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
  for (const name of ["Q8_0", "Q4_0"] as const) {
    const b = quantize(name, new Float32Array(64));
    assert.ok(dequantize(name, b, 64).every((v) => v === 0), name); // -0 included (Q4_0's d = 0 / -8)
  }
});

function randomWeights(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = rng.fillNormal(new Float32Array(n), 0, 0.02);
  // a few outlier blocks and a block of tiny values
  for (let i = 0; i < n; i += 997) x[i] = (i % 2 ? 1 : -1) * 0.3;
  return x;
}

for (const name of ["F16", "BF16", "Q8_0", "Q4_0"] as GgmlTypeName[]) {
  test(`${name} round trip stays within its named error budget`, () => {
    const n = 32 * 512;
    const x = randomWeights(n, 7);
    const back = dequantize(name, quantize(name, x), n);
    const budget = ERROR_BUDGETS[name];
    const bs = TYPE_TRAITS.find((t) => t.name === name)!.blockSize;
    let errSq = 0, sq = 0, worst = 0;
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
  assert.throws(() => quantize("Q8_0", new Float32Array(33)), (e: unknown) => e instanceof FormatError && /blocks of 32/.test(e.message));
  assert.throws(() => dequantize("Q4_0", new Uint8Array(17), 32), FormatError);
});
