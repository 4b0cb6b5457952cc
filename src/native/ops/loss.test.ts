import assert from "node:assert/strict";
import { test } from "node:test";

import { ShapeError } from "../../errors.ts";
import { referenceBackend } from "../reference.ts";
import { TOL, assertClose, checkGradient, againstReference, comparesWithItself, forEachBackend, randn, rng, using } from "../testing.ts";
import { crossEntropyBackward, crossEntropyForward, distillDenseBackward, softmaxLsePair } from "./loss.ts";

const IGNORE = -100;
// (n, v): vector tails, a row longer than one 1024-block, and rows spread over threads.
const shapes: [number, number][] = [
  [1, 1],
  [7, 33],
  [33, 129],
  [129, 7],
  [5, 5003],
  [3, 50021],
];

function targetsFor(r: ReturnType<typeof rng>, n: number, v: number, ignoreEvery = 0): Int32Array {
  const t = new Int32Array(n);
  for (let i = 0; i < n; i++) t[i] = ignoreEvery > 0 && i % ignoreEvery === 1 ? IGNORE : r.int(v);
  return t;
}

forEachBackend("cross-entropy", (c) => {
  test("forward and backward match the reference", againstReference(c), () =>
    using(c, () => {
      const r = rng(1);
      for (const [n, v] of shapes) {
        const logits = randn(r, n * v, 3),
          targets = targetsFor(r, n, v, 3);
        const losses = new Float32Array(n),
          lse = new Float32Array(n);
        const lossesR = new Float32Array(n),
          lseR = new Float32Array(n);
        crossEntropyForward(losses, lse, logits, targets, n, v, IGNORE);
        referenceBackend.crossEntropyForward(lossesR, lseR, logits, targets, n, v, IGNORE);
        assertClose(losses, lossesR, TOL.f32, `losses ${n}x${v}`);
        assertClose(lse, lseR, TOL.f32, `lse ${n}x${v}`);
        const d = new Float32Array(n * v).fill(NaN),
          dR = new Float32Array(n * v); // NaN: the kernel must write every element
        crossEntropyBackward(d, logits, lse, targets, n, v, IGNORE, 0.25);
        referenceBackend.crossEntropyBackward(dR, logits, lse, targets, n, v, IGNORE, 0.25);
        assertClose(d, dR, TOL.f32, `dlogits ${n}x${v}`);
      }
    }),
  );

  test("backward is the gradient of scale · Σ losses (finite differences)", () =>
    using(c, () => {
      const r = rng(2);
      const n = 6,
        v = 17,
        s = 0.5;
      const logits = randn(r, n * v, 2),
        targets = targetsFor(r, n, v, 4);
      const losses = new Float32Array(n),
        lse = new Float32Array(n);
      const loss = () => {
        crossEntropyForward(losses, lse, logits, targets, n, v, IGNORE);
        let t = 0;
        for (const l of losses) t += s * l;
        return t;
      };
      loss();
      const d = new Float32Array(n * v);
      crossEntropyBackward(d, logits, lse, targets, n, v, IGNORE, s);
      checkGradient("dlogits", logits, d, loss, { samples: n * v });
    }));

  test("ignored rows: loss 0, zero gradient row, lse still written", () =>
    using(c, () => {
      const r = rng(3);
      const n = 4,
        v = 45;
      const logits = randn(r, n * v),
        targets = Int32Array.from([3, IGNORE, 44, IGNORE]);
      const losses = new Float32Array(n).fill(7),
        lse = new Float32Array(n);
      crossEntropyForward(losses, lse, logits, targets, n, v, IGNORE);
      assert.equal(losses[1], 0);
      assert.equal(losses[3], 0);
      assert.ok(losses[0]! > 0 && losses[2]! > 0);
      for (const i of [1, 3]) {
        let m = -Infinity,
          s = 0;
        for (let j = 0; j < v; j++) m = Math.max(m, logits[i * v + j]!);
        for (let j = 0; j < v; j++) s += Math.exp(logits[i * v + j]! - m);
        assertClose([lse[i]!], [m + Math.log(s)], TOL.f32, `lse of ignored row ${i}`);
      }
      const d = new Float32Array(n * v).fill(3);
      crossEntropyBackward(d, logits, lse, targets, n, v, IGNORE, 1);
      for (const i of [1, 3])
        assert.ok(
          d.subarray(i * v, (i + 1) * v).every((x) => x === 0),
          `row ${i} not zeroed`,
        );
      let rowSum = 0;
      for (let j = 0; j < v; j++) rowSum += d[j]!;
      assert.ok(Math.abs(rowSum) < 1e-5, `a kept row's gradient sums to ${rowSum}, want 0`);
    }));

  test("backward in place (dlogits === logits) equals the out-of-place result", () =>
    using(c, () => {
      const r = rng(4);
      const n = 9,
        v = 1031;
      const logits = randn(r, n * v, 2),
        targets = targetsFor(r, n, v, 4);
      const losses = new Float32Array(n),
        lse = new Float32Array(n);
      crossEntropyForward(losses, lse, logits, targets, n, v, IGNORE);
      const d = new Float32Array(n * v);
      crossEntropyBackward(d, logits, lse, targets, n, v, IGNORE, 1 / n);
      const inPlace = logits.slice();
      crossEntropyBackward(inPlace, inPlace, lse, targets, n, v, IGNORE, 1 / n);
      assertClose(inPlace, d, { rtol: 0, atol: 0 }, "in place");
    }));

  test("logits of ±1e4 give finite losses and gradients", () =>
    using(c, () => {
      const n = 3,
        v = 41,
        logits = new Float32Array(n * v);
      for (let j = 0; j < n * v; j++) logits[j] = j % 5 === 0 ? 1e4 : -1e4;
      const targets = Int32Array.from([0, 1, 7]);
      const losses = new Float32Array(n),
        lse = new Float32Array(n),
        lossesR = new Float32Array(n),
        lseR = new Float32Array(n);
      crossEntropyForward(losses, lse, logits, targets, n, v, IGNORE);
      referenceBackend.crossEntropyForward(lossesR, lseR, logits, targets, n, v, IGNORE);
      assert.ok(losses.every(Number.isFinite) && lse.every(Number.isFinite), `${losses} / ${lse}`);
      if (!comparesWithItself(c)) assertClose(losses, lossesR, TOL.f32Loose, "losses");
      const d = new Float32Array(n * v),
        dR = new Float32Array(n * v);
      crossEntropyBackward(d, logits, lse, targets, n, v, IGNORE, 1);
      referenceBackend.crossEntropyBackward(dR, logits, lse, targets, n, v, IGNORE, 1);
      assert.ok(d.every(Number.isFinite));
      if (!comparesWithItself(c)) assertClose(d, dR, TOL.f32Loose, "dlogits");
    }));

  test("rejects targets outside [0, V) unless they are ignoreIndex", () =>
    using(c, () => {
      const l = new Float32Array(2),
        s = new Float32Array(2),
        x = new Float32Array(10);
      assert.throws(() => crossEntropyForward(l, s, x, Int32Array.from([0, 5]), 2, 5, IGNORE), /targets\[1\] = 5 is outside \[0, 5\) and is not ignoreIndex/);
      assert.throws(() => crossEntropyForward(l, s, x, Int32Array.from([-1, 0]), 2, 5, IGNORE), ShapeError);
      assert.throws(() => crossEntropyBackward(x, x, s, Int32Array.from([0, 9]), 2, 5, IGNORE, 1), ShapeError);
      assert.throws(() => crossEntropyForward(l, s, x, Int32Array.from([0, 1]), 2, 5, 0.5), /ignoreIndex must be an integer/);
      assert.throws(() => crossEntropyForward(l, s, new Float32Array(9), Int32Array.from([0, 1]), 2, 5, IGNORE), /logits has 9 elements/);
      assert.throws(() => crossEntropyBackward(x, x, s, Int32Array.from([0, 1]), 2, 5, IGNORE, NaN), /scale must be a finite number/);
      crossEntropyForward(l, s, x, Int32Array.from([IGNORE, 4]), 2, 5, IGNORE); // ignoreIndex itself is fine
      if (c.backend.name === "native") {
        assert.throws(() => c.backend.crossEntropyForward(l, s, x, Int32Array.from([0, 5]), 2, 5, IGNORE), RangeError);
        assert.throws(() => c.backend.crossEntropyBackward(x, x, s, Int32Array.from([-2, 0]), 2, 5, IGNORE, 1), RangeError);
      }
    }));
});

forEachBackend("distillation dense passes", (c) => {
  test("softmaxLsePair and distillDenseBackward match the reference", againstReference(c), () =>
    using(c, () => {
      const r = rng(5);
      for (const [n, v] of shapes) {
        for (const invT of [1, 0.5, 0.25]) {
          const logits = randn(r, n * v, 3);
          const lse1 = new Float32Array(n),
            lseT = new Float32Array(n),
            lse1R = new Float32Array(n),
            lseTR = new Float32Array(n);
          softmaxLsePair(lse1, lseT, logits, n, v, invT);
          referenceBackend.softmaxLsePair(lse1R, lseTR, logits, n, v, invT);
          assertClose(lse1, lse1R, TOL.f32, `lse1 ${n}x${v}`);
          assertClose(lseT, lseTR, TOL.f32, `lseT ${n}x${v} invT ${invT}`);
          // Per-row weights, some zero (either term, or both: a zero row).
          const c1 = new Float32Array(n).map((_, i) => (i % 4 === 1 ? 0 : 0.3 + i * 0.01));
          const cT = new Float32Array(n).map((_, i) => (i % 3 === 2 ? 0 : -0.7 + i * 0.02));
          const d = new Float32Array(n * v).fill(NaN),
            dR = new Float32Array(n * v);
          distillDenseBackward(d, logits, lse1, lseT, c1, cT, n, v, invT);
          referenceBackend.distillDenseBackward(dR, logits, lse1R, lseTR, c1, cT, n, v, invT);
          assertClose(d, dR, TOL.f32, `dense ${n}x${v}`);
        }
      }
    }),
  );

  test("the dense pass is the gradient of Σ c1·lse1 + cT·lseT (finite differences)", () =>
    using(c, () => {
      const r = rng(6);
      const n = 5,
        v = 19,
        invT = 0.5;
      const logits = randn(r, n * v, 2);
      const c1 = new Float32Array(n).map(() => r.normal()),
        cT = new Float32Array(n).map(() => r.normal());
      const lse1 = new Float32Array(n),
        lseT = new Float32Array(n);
      // d lseT / dx = invT · softmax(x·invT): the kernel's cT term carries no invT, so weight it here.
      const loss = () => {
        softmaxLsePair(lse1, lseT, logits, n, v, invT);
        let t = 0;
        for (let i = 0; i < n; i++) t += c1[i]! * lse1[i]! + (cT[i]! / invT) * lseT[i]!;
        return t;
      };
      loss();
      const d = new Float32Array(n * v);
      distillDenseBackward(d, logits, lse1, lseT, c1, cT, n, v, invT);
      checkGradient("dlogits", logits, d, loss, { samples: n * v });
    }));

  test("bad temperatures and sizes are ShapeErrors", () =>
    using(c, () => {
      const a = new Float32Array(2),
        x = new Float32Array(10);
      assert.throws(() => softmaxLsePair(a, a, x, 2, 5, 0), /invT must be a finite number > 0/);
      assert.throws(() => softmaxLsePair(a, a, x, 2, 6, 1), /logits has 10 elements/);
      assert.throws(() => distillDenseBackward(x, x, a, a, a, Float32Array.from([1, NaN]), 2, 5, 1), /cT must be a finite number/);
    }));
});
