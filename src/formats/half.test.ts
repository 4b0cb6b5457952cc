import assert from "node:assert/strict";
import { test } from "node:test";

import { bf16BitsToF32, decodeHalf, encodeHalf, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from "./half.ts";

test("f16: every half value survives half → float → half", () => {
  for (let h = 0; h < 65536; h++) {
    const x = f16BitsToF32(h);
    if (Number.isNaN(x)) {
      assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(x))));
      continue;
    }
    assert.equal(f32ToF16Bits(x), h, `bits ${h.toString(16)}`);
  }
});

test("f16: known values, rounding to nearest even, overflow and subnormals", () => {
  assert.equal(f32ToF16Bits(1), 0x3c00);
  assert.equal(f32ToF16Bits(-2), 0xc000);
  assert.equal(f32ToF16Bits(65504), 0x7bff);
  assert.equal(f32ToF16Bits(65520), 0x7c00); // rounds up to infinity
  assert.equal(f32ToF16Bits(1e6), 0x7c00);
  assert.equal(f32ToF16Bits(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(f32ToF16Bits(2 ** -26), 0x0000); // below half of it: zero
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00); // tie → even (down)
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
});

test("bf16: exact for representable values, rounds ties to even, keeps NaN", () => {
  for (const x of [0, 1, -1.5, 3.140625, 1e30, -1e-30]) {
    const b = f32ToBf16Bits(x);
    assert.equal(f32ToBf16Bits(bf16BitsToF32(b)), b);
  }
  assert.equal(f32ToBf16Bits(1), 0x3f80);
  assert.equal(bf16BitsToF32(0x4049), 3.140625);
  assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(Number.NaN))));
});

test("bulk encode/decode agree with the scalar conversions", () => {
  const src = new Float32Array([0, 1, -1, 0.1, 1234.5, -3e-5, 7e4]);
  for (const kind of ["F16", "BF16"] as const) {
    const back = decodeHalf(encodeHalf(src, kind), new Float32Array(src.length), kind);
    for (let i = 0; i < src.length; i++) {
      const want = kind === "F16" ? f16BitsToF32(f32ToF16Bits(src[i]!)) : bf16BitsToF32(f32ToBf16Bits(src[i]!));
      assert.equal(back[i], Math.fround(want));
    }
  }
});
