import assert from "node:assert/strict";
import { test } from "node:test";

import { ShapeError } from "../../errors.ts";
import { referenceBackend } from "../reference.ts";
import { TOL, assertClose, againstReference, forEachBackend, randn, rng, using } from "../testing.ts";
import { adamwStep, scale, sumSquares } from "./optim.ts";

const lengths = [1, 7, 33, 129, 100003];

forEachBackend("adamw", (c) => {
  test("first step by hand: m̂ = g, v̂ = g², so param moves by lr·(g/(|g|+eps) + wd·param)", () =>
    using(c, () => {
      const g = Float32Array.from([0.5, -2, 1e-3, 0, 3]);
      const p0 = Float32Array.from([1, -1, 0.25, 2, 0]);
      const lr = 0.1,
        eps = 1e-8;
      for (const wd of [0, 0.1]) {
        const p = p0.slice(),
          m = new Float32Array(5),
          v = new Float32Array(5);
        adamwStep(p, g, m, v, 5, lr, 0.9, 0.999, eps, wd, 1);
        const want = Array.from(p0, (pi, i) => pi - lr * (g[i]! / (Math.abs(g[i]!) + eps) + wd * pi));
        assertClose(p, want, TOL.f32, `param wd=${wd}`);
        assertClose(
          m,
          Array.from(g, (x) => 0.1 * x),
          TOL.f32,
          "m",
        );
        assertClose(
          v,
          Array.from(g, (x) => 0.001 * x * x),
          TOL.f32,
          "v",
        );
      }
    }));

  test("second step by hand, with bias correction", () =>
    using(c, () => {
      // m = 0.1·g1 after step 1; step 2 with g2: m = 0.9·0.1·g1 + 0.1·g2, m̂ = m/(1−0.81); same for v with 0.999.
      const g1 = 1,
        g2 = -3,
        lr = 0.01,
        eps = 1e-6,
        wd = 0.05,
        p0 = 2;
      const p = Float32Array.of(p0),
        m = new Float32Array(1),
        v = new Float32Array(1);
      adamwStep(p, Float32Array.of(g1), m, v, 1, lr, 0.9, 0.999, eps, wd, 1);
      const p1 = p0 - lr * (1 / (1 + eps) + wd * p0);
      adamwStep(p, Float32Array.of(g2), m, v, 1, lr, 0.9, 0.999, eps, wd, 2);
      const m2 = 0.09 * g1 + 0.1 * g2,
        v2 = 0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2;
      const upd = m2 / 0.19 / (Math.sqrt(v2 / (1 - 0.999 ** 2)) + eps);
      assertClose(p, [p1 - lr * (upd + wd * p1)], TOL.f32, "param after 2 steps");
      assertClose(m, [m2], TOL.f32, "m");
      assertClose(v, [v2], TOL.f32, "v");
    }));

  test("weight decay is decoupled: it adds exactly lr·wd·param to the step", () =>
    using(c, () => {
      const r = rng(1);
      const n = 257,
        g = randn(r, n),
        p0 = randn(r, n),
        m0 = randn(r, n, 0.1),
        v0 = randn(r, n, 0.1).map((x) => x * x);
      const run = (wd: number) => {
        const p = p0.slice();
        adamwStep(p, g, m0.slice(), v0.slice(), n, 0.02, 0.9, 0.95, 1e-8, wd, 7);
        return p;
      };
      const a = run(0),
        b = run(0.3);
      assertClose(
        Array.from(b, (x, i) => a[i]! - x),
        Array.from(p0, (x) => 0.02 * 0.3 * x),
        TOL.f32,
        "decay term",
      );
    }));

  test("matches the reference over several steps and sizes", againstReference(c), () =>
    using(c, () => {
      const r = rng(2);
      for (const n of lengths) {
        const p = randn(r, n),
          m = new Float32Array(n),
          v = new Float32Array(n);
        const pR = p.slice(),
          mR = m.slice(),
          vR = v.slice();
        for (let step = 1; step <= 3; step++) {
          const g = randn(r, n);
          adamwStep(p, g, m, v, n, 1e-3, 0.9, 0.95, 1e-8, 0.1, step);
          referenceBackend.adamwStep(pR, g, mR, vR, n, 1e-3, 0.9, 0.95, 1e-8, 0.1, step);
        }
        assertClose(p, pR, TOL.f32, `param n=${n}`);
        assertClose(m, mR, TOL.f32, `m n=${n}`);
        assertClose(v, vR, TOL.f32, `v n=${n}`);
      }
    }),
  );

  test("a late step (bias corrections near 1) stays finite", () =>
    using(c, () => {
      const p = Float32Array.of(1, -1),
        m = Float32Array.of(0.1, 0.1),
        v = Float32Array.of(0.01, 0.01);
      adamwStep(p, Float32Array.of(0.1, -0.1), m, v, 2, 1e-3, 0.9, 0.999, 1e-8, 0.1, 1_000_000);
      assert.ok(p.every(Number.isFinite), `${p}`);
    }));

  test("rejects bad arguments", () =>
    using(c, () => {
      const a = new Float32Array(4);
      assert.throws(() => adamwStep(a, a, a, new Float32Array(3), 4, 1e-3, 0.9, 0.999, 1e-8, 0, 1), /v has 3 elements/);
      assert.throws(() => adamwStep(a, a, a, a, 4, 1e-3, 0.9, 0.999, 1e-8, 0, 0), /step must be a positive integer/);
      assert.throws(() => adamwStep(a, a, a, a, 4, 1e-3, 1, 0.999, 1e-8, 0, 1), /beta1 and beta2 must be in \[0, 1\)/);
      assert.throws(() => adamwStep(a, a, a, a, 4, NaN, 0.9, 0.999, 1e-8, 0, 1), /lr must be a finite number/);
    }));
});

forEachBackend("sumSquares and scale", (c) => {
  test("sumSquares equals the float64 sum", () =>
    using(c, () => {
      const r = rng(3);
      for (const n of [...lengths, 1_000_003]) {
        const x = randn(r, n, 3);
        let want = 0;
        for (let i = 0; i < n; i++) want += x[i]! * x[i]!;
        const got = sumSquares(x, n);
        assert.equal(typeof got, "number");
        assert.ok(Math.abs(got - want) <= 1e-12 * want, `n=${n}: got ${got}, want ${want} (rel ${Math.abs(got - want) / want})`);
      }
      assert.equal(sumSquares(Float32Array.of(3, 4, 100), 2), 25); // only the first n count
    }));

  test("sumSquares of values whose squares overflow float32 stays finite", () =>
    using(c, () => {
      // (1e20)² = 1e40 is past float32 range: squaring or summing in float would give Infinity.
      const x = new Float32Array(13).fill(1e20);
      const want = 13 * x[0]! * x[0]!;
      const got = sumSquares(x, 13);
      assert.ok(Number.isFinite(got) && Math.abs(got / want - 1) < 1e-12, `${got}`);
    }));

  test("scale multiplies in place", () =>
    using(c, () => {
      const r = rng(4);
      for (const n of lengths) {
        const x = randn(r, n),
          want = x.map((v) => v * 0.3);
        scale(x, n, 0.3);
        assertClose(x, want, { rtol: 3e-7, atol: 0 }, `scale n=${n}`); // two float roundings
      }
      const y = Float32Array.of(1, 2, 3);
      scale(y, 2, -2);
      assert.deepEqual(Array.from(y), [-2, -4, 3]);
    }));

  test("reject bad arguments", () =>
    using(c, () => {
      assert.throws(() => sumSquares(new Float32Array(3), 4), /x has 3 elements, \(4\) needs 4/);
      assert.throws(() => scale(new Float32Array(3), 3, Infinity), /s must be a finite number/);
      assert.throws(() => scale(new Float32Array(3), 0, 1), ShapeError);
    }));
});
