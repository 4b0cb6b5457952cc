import assert from "node:assert/strict";
import { test } from "node:test";

import { ShapeError } from "../../errors.ts";
import { referenceBackend } from "../reference.ts";
import { TOL, assertClose, checkGradient, dot, againstReference, forEachBackend, randn, rng, using } from "../testing.ts";
import { layernormBackward, layernormForward, rmsnormBackward, rmsnormForward } from "./norm.ts";

// (n, c): odd widths for vector tails; the last two span several threads' worth of rows.
const shapes: [number, number][] = [
  [1, 1],
  [7, 33],
  [33, 129],
  [129, 7],
  [600, 129],
  [40, 1536],
];
const EPS = 1e-5;

/** Weights around 1 so the normalised values dominate, plus a non-zero mean in the input. */
function weights(r: ReturnType<typeof rng>, c: number): Float32Array {
  const w = randn(r, c, 0.3);
  for (let i = 0; i < c; i++) w[i] = w[i]! + 1;
  return w;
}

forEachBackend("rmsnorm", (c) => {
  test("forward matches the reference (out and rstd)", againstReference(c), () =>
    using(c, () => {
      const r = rng(1);
      for (const [n, ch] of shapes) {
        const inp = randn(r, n * ch, 2),
          w = weights(r, ch);
        const out = new Float32Array(n * ch),
          rstd = new Float32Array(n);
        const outR = new Float32Array(n * ch),
          rstdR = new Float32Array(n);
        rmsnormForward(out, rstd, inp, w, n, ch, EPS);
        referenceBackend.rmsnormForward(outR, rstdR, inp, w, n, ch, EPS);
        assertClose(out, outR, TOL.f32, `out ${n}x${ch}`);
        assertClose(rstd, rstdR, TOL.f32, `rstd ${n}x${ch}`);
      }
    }),
  );

  test("backward matches the reference and adds into pre-filled gradients", againstReference(c), () =>
    using(c, () => {
      const r = rng(2);
      for (const [n, ch] of shapes) {
        const inp = randn(r, n * ch),
          w = weights(r, ch),
          dout = randn(r, n * ch);
        const out = new Float32Array(n * ch),
          rstd = new Float32Array(n);
        referenceBackend.rmsnormForward(out, rstd, inp, w, n, ch, EPS);
        const dinp0 = randn(r, n * ch),
          dw0 = randn(r, ch);
        const dinp = dinp0.slice(),
          dw = dw0.slice(),
          dinpR = dinp0.slice(),
          dwR = dw0.slice();
        rmsnormBackward(dinp, dw, dout, inp, w, rstd, n, ch);
        referenceBackend.rmsnormBackward(dinpR, dwR, dout, inp, w, rstd, n, ch);
        assertClose(dinp, dinpR, TOL.f32, `dinp ${n}x${ch}`);
        assertClose(dw, dwR, n * ch > 10000 ? TOL.f32Loose : TOL.f32, `dweight ${n}x${ch}`);
      }
    }),
  );

  test("backward gives the same weight gradient on 1, 3 and 4 threads", againstReference(c), () =>
    using(c, () => {
      const r = rng(7);
      const n = 517,
        ch = 129; // rows split unevenly between tasks
      const inp = randn(r, n * ch),
        w = weights(r, ch),
        dout = randn(r, n * ch);
      const out = new Float32Array(n * ch),
        rstd = new Float32Array(n);
      referenceBackend.rmsnormForward(out, rstd, inp, w, n, ch, EPS);
      const dinpR = new Float32Array(n * ch),
        dwR = new Float32Array(ch);
      referenceBackend.rmsnormBackward(dinpR, dwR, dout, inp, w, rstd, n, ch);
      const before = c.backend.getThreads();
      try {
        for (const t of [1, 3, 4]) {
          c.backend.setThreads(t);
          const dinp = new Float32Array(n * ch),
            dw = new Float32Array(ch);
          rmsnormBackward(dinp, dw, dout, inp, w, rstd, n, ch);
          assertClose(dinp, dinpR, TOL.f32, `dinp, ${t} threads`);
          assertClose(dw, dwR, TOL.f32Loose, `dweight, ${t} threads`);
        }
      } finally {
        c.backend.setThreads(before);
      }
    }),
  );

  test("backward is the gradient of the forward (finite differences)", () =>
    using(c, () => {
      const r = rng(3);
      const n = 5,
        ch = 19;
      const inp = randn(r, n * ch),
        w = weights(r, ch),
        g = randn(r, n * ch);
      const out = new Float32Array(n * ch),
        rstd = new Float32Array(n);
      const loss = () => {
        rmsnormForward(out, rstd, inp, w, n, ch, EPS);
        return dot(out, g);
      };
      loss();
      const dinp = new Float32Array(n * ch),
        dw = new Float32Array(ch);
      rmsnormBackward(dinp, dw, g, inp, w, rstd, n, ch);
      checkGradient("rmsnorm dinp", inp, dinp, loss, { samples: 24 });
      checkGradient("rmsnorm dweight", w, dw, loss, { samples: ch });
    }));

  test("rejects bad shapes", () =>
    using(c, () => {
      const a = new Float32Array(12),
        s = new Float32Array(3),
        w = new Float32Array(4);
      assert.throws(() => rmsnormForward(a, s, a, w, 3, 4, NaN), /eps must be a finite number/);
      assert.throws(() => rmsnormForward(a, new Float32Array(2), a, w, 3, 4, EPS), /rstd has 2 elements/);
      assert.throws(() => rmsnormForward(a, s, a, new Float32Array(3), 3, 4, EPS), /weight has 3 elements/);
      assert.throws(() => rmsnormBackward(a, w, a, new Float32Array(11), w, s, 3, 4), /inp has 11 elements, \(3,4\) needs 12/);
      assert.throws(() => rmsnormForward(a, s, a, w, 0, 4, EPS), ShapeError);
    }));
});

forEachBackend("layernorm", (c) => {
  test("forward matches the reference, with and without bias", againstReference(c), () =>
    using(c, () => {
      const r = rng(4);
      for (const [n, ch] of shapes) {
        for (const withBias of [true, false]) {
          const inp = randn(r, n * ch, 2),
            w = weights(r, ch),
            b = withBias ? randn(r, ch) : null;
          for (let i = 0; i < inp.length; i++) inp[i] = inp[i]! + 3; // a mean far from 0
          const out = new Float32Array(n * ch),
            mean = new Float32Array(n),
            rstd = new Float32Array(n);
          const outR = new Float32Array(n * ch),
            meanR = new Float32Array(n),
            rstdR = new Float32Array(n);
          layernormForward(out, mean, rstd, inp, w, b, n, ch, EPS);
          referenceBackend.layernormForward(outR, meanR, rstdR, inp, w, b, n, ch, EPS);
          assertClose(out, outR, TOL.f32, `out ${n}x${ch} bias=${withBias}`);
          assertClose(mean, meanR, TOL.f32, `mean ${n}x${ch}`);
          assertClose(rstd, rstdR, TOL.f32, `rstd ${n}x${ch}`);
        }
      }
    }),
  );

  test("backward matches the reference and adds into pre-filled gradients", againstReference(c), () =>
    using(c, () => {
      const r = rng(5);
      for (const [n, ch] of shapes) {
        for (const withBias of [true, false]) {
          const inp = randn(r, n * ch),
            w = weights(r, ch),
            dout = randn(r, n * ch);
          const out = new Float32Array(n * ch),
            mean = new Float32Array(n),
            rstd = new Float32Array(n);
          referenceBackend.layernormForward(out, mean, rstd, inp, w, null, n, ch, EPS);
          const dinp0 = randn(r, n * ch),
            dw0 = randn(r, ch),
            db0 = randn(r, ch);
          const dinp = dinp0.slice(),
            dw = dw0.slice(),
            db = withBias ? db0.slice() : null;
          const dinpR = dinp0.slice(),
            dwR = dw0.slice(),
            dbR = withBias ? db0.slice() : null;
          layernormBackward(dinp, dw, db, dout, inp, w, mean, rstd, n, ch);
          referenceBackend.layernormBackward(dinpR, dwR, dbR, dout, inp, w, mean, rstd, n, ch);
          const tol = n * ch > 10000 ? TOL.f32Loose : TOL.f32;
          assertClose(dinp, dinpR, TOL.f32, `dinp ${n}x${ch}`);
          assertClose(dw, dwR, tol, `dweight ${n}x${ch}`);
          if (db && dbR) assertClose(db, dbR, tol, `dbias ${n}x${ch}`);
        }
      }
    }),
  );

  test("backward is the gradient of the forward (finite differences)", () =>
    using(c, () => {
      const r = rng(6);
      const n = 5,
        ch = 19;
      const inp = randn(r, n * ch),
        w = weights(r, ch),
        b = randn(r, ch),
        g = randn(r, n * ch);
      const out = new Float32Array(n * ch),
        mean = new Float32Array(n),
        rstd = new Float32Array(n);
      const loss = () => {
        layernormForward(out, mean, rstd, inp, w, b, n, ch, EPS);
        return dot(out, g);
      };
      loss();
      const dinp = new Float32Array(n * ch),
        dw = new Float32Array(ch),
        db = new Float32Array(ch);
      layernormBackward(dinp, dw, db, g, inp, w, mean, rstd, n, ch);
      checkGradient("layernorm dinp", inp, dinp, loss, { samples: 24 });
      checkGradient("layernorm dweight", w, dw, loss, { samples: ch });
      checkGradient("layernorm dbias", b, db, loss, { samples: ch });
    }));

  test("a constant row normalises to the bias without NaN", () =>
    using(c, () => {
      const ch = 33,
        inp = new Float32Array(ch).fill(4.25),
        w = new Float32Array(ch).fill(2),
        b = new Float32Array(ch).fill(0.5);
      const out = new Float32Array(ch),
        mean = new Float32Array(1),
        rstd = new Float32Array(1);
      layernormForward(out, mean, rstd, inp, w, b, 1, ch, EPS);
      assertClose(out, new Float32Array(ch).fill(0.5), TOL.f32, "out");
      assertClose(mean, [4.25], TOL.f32, "mean");
    }));

  test("rejects bad shapes", () =>
    using(c, () => {
      const a = new Float32Array(12),
        s = new Float32Array(3),
        w = new Float32Array(4);
      assert.throws(() => layernormForward(a, s, s, a, w, new Float32Array(3), 3, 4, EPS), /bias has 3 elements/);
      assert.throws(() => layernormBackward(a, w, new Float32Array(2), a, a, w, s, s, 3, 4), /dbias has 2 elements/);
      assert.throws(() => layernormBackward(a, w, null, a, a, w, s, new Float32Array(1), 3, 4), /rstd has 1 elements/);
      assert.throws(() => layernormForward(a, s, s, a, w, null, 3, -4, EPS), ShapeError);
    }));
});
