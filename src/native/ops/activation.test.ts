import assert from "node:assert/strict";
import { test } from "node:test";

import { ShapeError } from "../../errors.ts";
import { referenceBackend } from "../reference.ts";
import { TOL, assertClose, checkGradient, dot, againstReference, comparesWithItself, forEachBackend, randn, rng, using } from "../testing.ts";
import { add, axpy, geluBackward, geluForward, softmaxForward, swigluBackward, swigluForward } from "./activation.ts";

// Element counts: tails of every vector width; the last splits across threads.
const lengths = [1, 7, 33, 129, 100003];
// Inputs that reach far into both tails of the activations.
const EXTREME = Float32Array.from([-100, -50, -20, -10, -5, -1, -1e-3, 0, 1e-3, 1, 5, 10, 20, 50, 100]);

forEachBackend("swiglu", (c) => {
  test("forward and backward match the reference", againstReference(c), () =>
    using(c, () => {
      const r = rng(1);
      for (const n of lengths) {
        const gate = randn(r, n, 3),
          up = randn(r, n),
          dout = randn(r, n);
        const out = new Float32Array(n),
          outR = new Float32Array(n);
        swigluForward(out, gate, up, n);
        referenceBackend.swigluForward(outR, gate, up, n);
        assertClose(out, outR, TOL.f32, `out n=${n}`);
        const dg0 = randn(r, n),
          du0 = randn(r, n);
        const dg = dg0.slice(),
          du = du0.slice(),
          dgR = dg0.slice(),
          duR = du0.slice();
        swigluBackward(dg, du, dout, gate, up, n);
        referenceBackend.swigluBackward(dgR, duR, dout, gate, up, n);
        assertClose(dg, dgR, TOL.f32, `dgate n=${n}`);
        assertClose(du, duR, TOL.f32, `dup n=${n}`);
      }
    }),
  );

  test("backward is the gradient of the forward (finite differences)", () =>
    using(c, () => {
      const r = rng(2);
      const n = 23,
        gate = randn(r, n, 2),
        up = randn(r, n),
        w = randn(r, n);
      const out = new Float32Array(n);
      const loss = () => {
        swigluForward(out, gate, up, n);
        return dot(out, w);
      };
      const dg = new Float32Array(n),
        du = new Float32Array(n);
      swigluBackward(dg, du, w, gate, up, n);
      checkGradient("dgate", gate, dg, loss, { samples: n });
      checkGradient("dup", up, du, loss, { samples: n });
    }));

  test("stays finite and accurate at ±50 and beyond", () =>
    using(c, () => {
      const n = EXTREME.length,
        up = new Float32Array(n).fill(1.5),
        dout = new Float32Array(n).fill(1);
      const out = new Float32Array(n),
        outR = new Float32Array(n);
      swigluForward(out, EXTREME, up, n);
      referenceBackend.swigluForward(outR, EXTREME, up, n);
      const dg = new Float32Array(n),
        du = new Float32Array(n),
        dgR = new Float32Array(n),
        duR = new Float32Array(n);
      swigluBackward(dg, du, dout, EXTREME, up, n);
      referenceBackend.swigluBackward(dgR, duR, dout, EXTREME, up, n);
      for (const a of [out, dg, du]) assert.ok(a.every(Number.isFinite), `non-finite: ${a}`);
      if (comparesWithItself(c)) return;
      assertClose(out, outR, TOL.f32, "out");
      assertClose(dg, dgR, TOL.f32, "dgate");
      assertClose(du, duR, TOL.f32, "dup");
    }));
});

forEachBackend("gelu", (c) => {
  test("forward and backward match the tanh formula", againstReference(c), () =>
    using(c, () => {
      const r = rng(3);
      for (const n of lengths) {
        const inp = randn(r, n, 3),
          dout = randn(r, n);
        const out = new Float32Array(n),
          outR = new Float32Array(n);
        geluForward(out, inp, n);
        referenceBackend.geluForward(outR, inp, n);
        assertClose(out, outR, TOL.f32, `out n=${n}`);
        const d0 = randn(r, n);
        const d = d0.slice(),
          dR = d0.slice();
        geluBackward(d, dout, inp, n);
        referenceBackend.geluBackward(dR, dout, inp, n);
        assertClose(d, dR, TOL.f32, `dinp n=${n}`);
      }
    }),
  );

  test("relative accuracy near zero and in the negative tail", againstReference(c), () =>
    using(c, () => {
      // gelu(x) ≈ x/2 near 0 and tiny for x ≪ 0: a formula with cancellation loses these.
      const xs = Float32Array.from([1e-6, -1e-6, 1e-4, -3e-3, -3, -4, -5, -6]);
      const out = new Float32Array(xs.length),
        outR = new Float32Array(xs.length);
      geluForward(out, xs, xs.length);
      referenceBackend.geluForward(outR, xs, xs.length);
      assertClose(out, outR, { rtol: 2e-6, atol: 0 }, "gelu");
    }),
  );

  test("backward is the gradient of the forward (finite differences)", () =>
    using(c, () => {
      const r = rng(4);
      const n = 23,
        inp = randn(r, n, 2),
        w = randn(r, n);
      const out = new Float32Array(n);
      const loss = () => {
        geluForward(out, inp, n);
        return dot(out, w);
      };
      const d = new Float32Array(n);
      geluBackward(d, w, inp, n);
      checkGradient("dinp", inp, d, loss, { samples: n });
    }));

  test("stays finite and accurate at ±50 and beyond", () =>
    using(c, () => {
      const n = EXTREME.length,
        dout = new Float32Array(n).fill(1);
      const out = new Float32Array(n),
        outR = new Float32Array(n),
        d = new Float32Array(n),
        dR = new Float32Array(n);
      geluForward(out, EXTREME, n);
      referenceBackend.geluForward(outR, EXTREME, n);
      geluBackward(d, dout, EXTREME, n);
      referenceBackend.geluBackward(dR, dout, EXTREME, n);
      assert.ok(out.every(Number.isFinite) && d.every(Number.isFinite), `non-finite: ${out} / ${d}`);
      if (comparesWithItself(c)) return;
      assertClose(out, outR, TOL.f32, "out");
      assertClose(d, dR, TOL.f32, "dinp");
    }));
});

forEachBackend("softmax", (c) => {
  test("matches the reference, rows sum to 1, in place too", () =>
    using(c, () => {
      const r = rng(5);
      for (const [n, v] of [
        [1, 1],
        [7, 33],
        [33, 129],
        [129, 7],
        [5, 5003],
        [64, 1537],
      ] as const) {
        const inp = randn(r, n * v, 4);
        const out = new Float32Array(n * v),
          want = new Float32Array(n * v);
        softmaxForward(out, inp, n, v);
        referenceBackend.softmaxForward(want, inp, n, v);
        if (!comparesWithItself(c)) assertClose(out, want, TOL.f32, `softmax ${n}x${v}`);
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let j = 0; j < v; j++) s += out[i * v + j]!;
          assert.ok(Math.abs(s - 1) < 1e-4, `row ${i} sums to ${s}`);
        }
        const inPlace = inp.slice();
        softmaxForward(inPlace, inPlace, n, v);
        assertClose(inPlace, out, { rtol: 0, atol: 0 }, "in place");
      }
    }));

  test("logits of ±1e4 stay finite", () =>
    using(c, () => {
      const v = 37,
        inp = new Float32Array(2 * v);
      for (let j = 0; j < v; j++) {
        inp[j] = j % 3 === 0 ? 1e4 : -1e4;
        inp[v + j] = 1e4 - j;
      }
      const out = new Float32Array(2 * v),
        want = new Float32Array(2 * v);
      softmaxForward(out, inp, 2, v);
      referenceBackend.softmaxForward(want, inp, 2, v);
      assert.ok(out.every(Number.isFinite));
      if (!comparesWithItself(c)) assertClose(out, want, TOL.f32, "softmax extremes");
    }));
});

forEachBackend("add and axpy", (c) => {
  test("match the reference, add in place", () =>
    using(c, () => {
      const r = rng(6);
      for (const n of lengths) {
        const a = randn(r, n),
          b = randn(r, n);
        const out = new Float32Array(n),
          want = new Float32Array(n);
        add(out, a, b, n);
        referenceBackend.add(want, a, b, n);
        if (!comparesWithItself(c)) assertClose(out, want, { rtol: 0, atol: 0 }, `add n=${n}`);
        const a2 = a.slice();
        add(a2, a2, b, n);
        assertClose(a2, want, { rtol: 0, atol: 0 }, `add in place n=${n}`);
        const y = a.slice(),
          yR = a.slice();
        axpy(y, -0.375, b, n);
        referenceBackend.axpy(yR, -0.375, b, n);
        if (!comparesWithItself(c)) assertClose(y, yR, TOL.f32, `axpy n=${n}`);
      }
    }));
});

test("activation wrappers reject bad arguments", () => {
  const a = new Float32Array(8);
  assert.throws(() => swigluForward(a, a, new Float32Array(7), 8), /up has 7 elements, \(8\) needs 8/);
  assert.throws(() => swigluBackward(a, a, a, a, a, 1.5), /n must be a positive integer/);
  assert.throws(() => geluForward(a, [1, 2] as unknown as Float32Array, 2), /inp must be a Float32Array/);
  assert.throws(() => geluBackward(new Float32Array(2), a, a, 8), ShapeError);
  assert.throws(() => softmaxForward(a, a, 3, 3), /out has 8 elements, \(3,3\) needs 9/);
  assert.throws(() => add(a, a, a, 0), ShapeError);
  assert.throws(() => axpy(a, Infinity, a, 8), /alpha must be a finite number/);
});
