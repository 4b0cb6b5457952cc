import assert from "node:assert/strict";
import { test } from "node:test";

import { ShapeError } from "../errors.ts";
import { dequantize, quantize } from "../formats/quant.ts";
import { qweight } from "../native/ops/qgemm.ts";
import { TOL, assertClose, forEachBackend, quantizedModelTol, randn, rng, using } from "../native/testing.ts";
import { chunkRowsFor, linearCrossEntropy } from "./linear-cross-entropy.ts";
import { crossEntropy, linear } from "./ops.ts";
import { Tape } from "./tape.ts";
import { Parameter, Tensor } from "./tensor.ts";

const N = 37,
  C = 32,
  V = 50;

function setup(seed: number) {
  const r = rng(seed);
  const x = new Tensor(randn(r, N * C), [N, C], true);
  const w = Parameter.zeros([V, C]);
  w.data.set(randn(r, V * C, 0.5));
  const targets = Int32Array.from({ length: N }, (_, i) => (i % 5 === 3 ? -100 : (i * 7 + 3) % V));
  return { x, w, targets };
}

/** Loss and gradients of x and w for a seed gradient of 0.5 on the loss. */
function run(fused: boolean, x: Tensor, w: Parameter, targets: Int32Array, chunkRows?: number) {
  x.grad = null;
  w.grad.fill(0);
  const g = new Tape();
  const loss = fused ? linearCrossEntropy(g, x, w, targets, { chunkRows }) : crossEntropy(g, linear(g, x, w), targets);
  g.backward(loss, 0.5);
  return { loss: loss.data[0]!, dx: x.grad!.slice(), dw: w.requiresGrad ? w.grad.slice() : null };
}

forEachBackend("linearCrossEntropy", (c) => {
  test("chunked loss and gradients equal the full logits path (uneven chunks, ignored rows, scaled seed)", () =>
    using(c, () => {
      const { x, w, targets } = setup(3);
      const full = run(false, x, w, targets);
      for (const rows of [1, 5, 16, 37, 100]) {
        const ch = run(true, x, w, targets, rows);
        assertClose([ch.loss], [full.loss], TOL.f32, `loss, chunks of ${rows}`);
        assertClose(ch.dx, full.dx, TOL.f32, `dx, chunks of ${rows}`);
        assertClose(ch.dw!, full.dw!, TOL.f32, `dw, chunks of ${rows}`);
      }
      assert.ok(full.dw!.some((v) => v !== 0) && full.dx.some((v) => v !== 0), "gradients are not all zero");
    }));

  test("over a quantized (frozen) head: equals the float path on the dequantized weight; no gradient into the weight", () =>
    using(c, () => {
      const { x, w, targets } = setup(4);
      const bytes = quantize("Q8_0", w.data);
      const deq = Parameter.zeros([V, C]);
      deq.data.set(dequantize("Q8_0", bytes, V * C));
      deq.requiresGrad = false;
      const want = run(false, x, deq, targets);
      const q = Parameter.zeros([V, C]);
      q.setQuantized(qweight("Q8_0", bytes, V, C));
      for (const rows of [19, 37]) {
        // chunks of 19 and 18, or 37 rows: above QGEMM_QUANT_ROWS, the float-GEMM path of the quantized kernels, as in training
        const g = new Tape();
        x.grad = null;
        const loss = linearCrossEntropy(g, x, q, targets, { chunkRows: rows });
        g.backward(loss, 0.5);
        assertClose([loss.data[0]!], [want.loss], quantizedModelTol(c, TOL.f32), `loss, chunks of ${rows}`);
        assertClose(x.grad!, want.dx, quantizedModelTol(c, TOL.f32Loose), `dx, chunks of ${rows}`);
      }
      assert.equal(q.requiresGrad, false);
    }));

  test("every row ignored: loss 0, zero gradient; forward-only tape records nothing", () =>
    using(c, () => {
      const { x, w } = setup(5);
      const none = new Int32Array(N).fill(-100);
      const r = run(true, x, w, none, 8);
      assert.equal(r.loss, 0);
      assert.ok(r.dx.every((v) => v === 0) && r.dw!.every((v) => v === 0));
      const g = new Tape({ grad: false });
      const { targets } = setup(5);
      const l = linearCrossEntropy(g, x, w, targets);
      assertClose([l.data[0]!], [run(false, x, w, targets).loss], TOL.f32, "inference loss");
      assert.equal(g.length, 0);
    }));
});

test("linearCrossEntropy refuses bad targets and shapes by name; chunks are balanced", () => {
  const { x, w, targets } = setup(6);
  const bad = targets.slice();
  bad[2] = V;
  assert.throws(
    () => linearCrossEntropy(new Tape(), x, w, bad),
    (e: unknown) => e instanceof ShapeError && /targets\[2\] = 50/.test(e.message),
  );
  assert.throws(() => linearCrossEntropy(new Tape(), x, w, targets.subarray(1)), /36 targets for 37 rows/);
  assert.throws(() => linearCrossEntropy(new Tape(), x, Parameter.zeros([V, C + 1]), targets), /expects 33/);
  assert.equal(chunkRowsFor(2048, 151_936), 108); // 110 rows wanted (64 MB): 19 chunks, balanced to 108 rows
  assert.equal(chunkRowsFor(100, 10, 64), 50);
});
