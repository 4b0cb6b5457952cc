// Rope kernels on every backend: against the reference, in place, partial rotary,
// the two pair layouts as permutations of each other, gradients, bad arguments.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ShapeError } from "../../errors.ts";
import { referenceBackend } from "../reference.ts";
import { TOL, assertClose, checkGradient, dot, comparesWithItself, forEachBackend, randn, rng, using } from "../testing.ts";
import { ropeBackward, ropeForward, ropeTables } from "./rope.ts";

function randPositions(r: ReturnType<typeof rng>, n: number, p: number): Int32Array {
  const pos = new Int32Array(n);
  for (let i = 0; i < n; i++) pos[i] = r.int(p);
  return pos;
}

forEachBackend("rope", (c) => {
  const ref = c.backend.name === "reference";
  const shapes: [number, number, number, number][] = ref
    ? [
        [1, 1, 2, 2],
        [3, 2, 8, 6],
        [5, 3, 7, 4],
      ]
    : [
        [1, 1, 2, 2],
        [7, 3, 64, 64],
        [33, 2, 33, 32],
        [129, 4, 128, 64],
        [5, 1, 129, 128],
        [9, 6, 18, 18],
      ];

  test("ropeTables: angle p·theta^(-2j/rot) per pair", () => {
    const { cos, sin } = ropeTables(5, 8, 10000);
    assert.equal(cos.length, 20);
    for (let j = 0; j < 4; j++) assert.equal(cos[j], 1), assert.equal(sin[j], 0);
    for (let p = 0; p < 5; p++) assert.ok(Math.abs(cos[p * 4]! - Math.cos(p)) < 1e-6);
    assert.ok(Math.abs(sin[3 * 4 + 1]! - Math.sin(3 / 10)) < 1e-6);
  });

  test("forward and backward match the reference (both layouts, partial rotary), in place too", () =>
    using(c, () => {
      const r = rng(11);
      for (const [n, h, d, rot] of shapes)
        for (const inter of [false, true]) {
          const { cos, sin } = ropeTables(300, rot, 10000);
          const pos = randPositions(r, n, 300);
          const x = randn(r, n * h * d),
            dy = randn(r, n * h * d),
            dx0 = randn(r, n * h * d);
          const got = new Float32Array(n * h * d),
            want = new Float32Array(n * h * d);
          ropeForward(got, x, cos, sin, pos, n, h, d, rot, inter);
          referenceBackend.ropeForward(want, x, cos, sin, pos, n, h, d, rot, inter);
          if (!comparesWithItself(c)) assertClose(got, want, TOL.f32, `rope fwd n${n} h${h} d${d} rot${rot} inter=${inter}`);
          const inplace = x.slice();
          ropeForward(inplace, inplace, cos, sin, pos, n, h, d, rot, inter);
          assertClose(inplace, want, TOL.f32, "in place");
          const gotB = dx0.slice(),
            wantB = dx0.slice();
          ropeBackward(gotB, dy, cos, sin, pos, n, h, d, rot, inter);
          referenceBackend.ropeBackward(wantB, dy, cos, sin, pos, n, h, d, rot, inter);
          if (!comparesWithItself(c)) assertClose(gotB, wantB, TOL.f32, `rope bwd n${n} h${h} d${d} rot${rot} inter=${inter}`);
        }
    }));

  test("interleaved rope is rotate-half rope under a permutation of the dims", () =>
    using(c, () => {
      const r = rng(12);
      const n = 6,
        h = 2,
        d = 10,
        rot = 8,
        half = rot / 2;
      // rotate-half dim j -> interleaved dim 2j, dim j+half -> 2j+1; the rest stay
      const perm = (i: number) => (i < half ? 2 * i : i < rot ? 2 * (i - half) + 1 : i);
      const permute = (a: Float32Array) => {
        const o = new Float32Array(a.length);
        for (let row = 0; row < n * h; row++) for (let i = 0; i < d; i++) o[row * d + perm(i)] = a[row * d + i]!;
        return o;
      };
      const { cos, sin } = ropeTables(64, rot, 500);
      const pos = randPositions(r, n, 64);
      const x = randn(r, n * h * d);
      const yHalf = new Float32Array(x.length),
        yInter = new Float32Array(x.length);
      ropeForward(yHalf, x, cos, sin, pos, n, h, d, rot, false);
      ropeForward(yInter, permute(x), cos, sin, pos, n, h, d, rot, true);
      assertClose(yInter, permute(yHalf), TOL.f32, "interleaved vs permuted rotate-half");
      // and rotation changes the rotated dims but copies the others through
      assert.ok(yHalf.some((v, i) => Math.abs(v - x[i]!) > 1e-3));
      for (let row = 0; row < n * h; row++) for (let i = rot; i < d; i++) assert.equal(yHalf[row * d + i], x[row * d + i]);
    }));

  test("backward is the gradient of the forward (finite differences)", () =>
    using(c, () => {
      const r = rng(13);
      const n = 4,
        h = 2,
        d = 12,
        rot = 8;
      for (const inter of [false, true]) {
        const { cos, sin } = ropeTables(32, rot, 10000);
        const pos = randPositions(r, n, 32);
        const x = randn(r, n * h * d),
          w = randn(r, n * h * d);
        const y = new Float32Array(x.length);
        const loss = () => (ropeForward(y, x, cos, sin, pos, n, h, d, rot, inter), dot(y, w));
        const gx = new Float32Array(x.length);
        ropeBackward(gx, w, cos, sin, pos, n, h, d, rot, inter);
        checkGradient(`rope inter=${inter}`, x, gx, loss, { samples: 24 });
      }
    }));

  test("rejects bad arguments with ShapeError", () =>
    using(c, () => {
      const { cos, sin } = ropeTables(8, 4, 10000);
      const x = new Float32Array(2 * 1 * 4),
        y = new Float32Array(8);
      const ok = new Int32Array([0, 7]);
      assert.throws(() => ropeForward(y, x, cos, sin, new Int32Array([0, 8]), 2, 1, 4, 4, false), /positions\[1\] = 8/);
      assert.throws(() => ropeForward(y, x, cos, sin, new Int32Array([-1, 0]), 2, 1, 4, 4, false), ShapeError);
      assert.throws(() => ropeForward(y, x, cos, sin, new Int32Array([0]), 2, 1, 4, 4, false), ShapeError);
      assert.throws(() => ropeForward(y, x, cos, sin, ok, 2, 1, 4, 3, false), /rot must be even/);
      assert.throws(() => ropeForward(y, x, cos, sin, ok, 2, 1, 4, 6, false), ShapeError);
      assert.throws(() => ropeForward(new Float32Array(7), x, cos, sin, ok, 2, 1, 4, 4, false), ShapeError);
      assert.throws(() => ropeForward(y, x, cos, sin.subarray(1), ok, 2, 1, 4, 4, false), ShapeError);
      assert.throws(() => ropeForward(y, x, cos, sin, ok, 2.5, 1, 4, 4, false), ShapeError);
      assert.throws(() => ropeForward(x.subarray(1), x, cos, sin, ok, 1, 1, 4, 4, false), /partially overlaps/);
      assert.throws(() => ropeBackward(x, x, cos, sin, ok, 2, 1, 4, 4, false), /must not overlap/);
      ropeForward(y, x, cos, sin, ok, 2, 1, 4, 4, false);
    }));

  if (!ref) {
    test("the native binding itself refuses positions beyond the tables", () =>
      using(c, () => {
        const { cos, sin } = ropeTables(8, 4, 10000);
        const x = new Float32Array(8);
        assert.throws(() => c.backend.ropeForward(x, x, cos, sin, new Int32Array([0, 8]), 2, 1, 4, 4, false), RangeError);
        assert.throws(() => c.backend.ropeBackward(x, new Float32Array(4), cos, sin, new Int32Array([0, 1]), 2, 1, 4, 4, false), RangeError);
      }));
  }
});
