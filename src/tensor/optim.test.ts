import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfigError, FormatError, UsageError } from "../errors.ts";
import { TOL, assertClose, forEachBackend, using } from "../native/testing.ts";
import { AdamW, clipGradNorm, gradNorm } from "./optim.ts";
import { Parameter } from "./tensor.ts";
import { missingKernels } from "./testing.ts";

const param = (values: number[], shape: number[], decay?: boolean) => new Parameter(Float32Array.from(values), shape, decay === undefined ? {} : { decay });

forEachBackend("AdamW", (c) => {
  test("one step: Adam update plus decoupled decay only where decay is set; frozen ones untouched", { skip: missingKernels(c.backend, "adamwStep") }, () =>
    using(c, () => {
      const w = param([1, -2, 3, 0.5], [2, 2]); // decays
      const b = param([1, -2], [2]); // does not
      const frozen = param([5, 5, 5, 5], [2, 2]);
      frozen.requiresGrad = false;
      w.grad.set([0.1, 0.2, -0.3, 0]);
      b.grad.set([0.5, 0]);
      frozen.grad.fill(1);
      const lr = 0.1,
        wd = 0.5;
      const opt = new AdamW(
        [
          ["w", w],
          ["b", b],
          ["f", frozen],
        ],
        { lr, weightDecay: wd },
      );
      const w0 = w.data.slice(),
        b0 = b.data.slice();
      opt.step();
      assert.equal(opt.stepCount, 1);
      // Step 1: m̂ = g, v̂ = g², so the Adam part is lr·g/(|g| + eps) = ±lr (0 where g = 0).
      const adam = (g: number) => (g === 0 ? 0 : (lr * g) / (Math.abs(g) + 1e-8));
      assertClose(
        w.data,
        [...w0].map((p, i) => p - adam(w.grad[i]!) - lr * wd * p),
        TOL.f32,
        "w",
      );
      assertClose(
        b.data,
        [...b0].map((p, i) => p - adam(b.grad[i]!)),
        TOL.f32,
        "b (no decay)",
      );
      assert.deepEqual([...frozen.data], [5, 5, 5, 5]);
      opt.zeroGrad();
      assert.ok(w.grad.every((v) => v === 0) && b.grad.every((v) => v === 0));
    }),
  );

  test("clipGradNorm returns the pre-clip norm and scales to maxNorm", { skip: missingKernels(c.backend, "sumSquares", "scale") }, () =>
    using(c, () => {
      const a = param([0, 0], [2]),
        b = param([0, 0, 0, 0], [2, 2]);
      a.grad.set([3, 0]);
      b.grad.set([0, 4, 0, 0]);
      assert.equal(gradNorm([a, b]), 5);
      assert.equal(clipGradNorm([a, b], 10), 5);
      assert.deepEqual([...a.grad], [3, 0], "below the limit: unchanged");
      assert.equal(clipGradNorm([a, b], 1), 5);
      assertClose([gradNorm([a, b])], [1], TOL.f32, "norm after clipping");
      a.grad[0] = Number.POSITIVE_INFINITY;
      assert.equal(clipGradNorm([a, b], 1), Number.POSITIVE_INFINITY);
      assert.equal(b.grad[1], b.grad[1], "a non-finite norm leaves gradients as they are (no NaN)");
    }),
  );
});

test("AdamW state: copies out, loads back into the same buffers, rejects mismatches", () => {
  const w = param([1, 2, 3, 4], [2, 2]);
  const opt = new AdamW([["w", w]], { lr: 0.5, beta2: 0.99 });
  const s = opt.state();
  assert.equal(s.step, 0);
  assert.deepEqual(s.config, { lr: 0.5, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 });
  s.slots.w!.m.fill(7);
  assert.ok(
    opt.state().slots.w!.m.every((v) => v === 0),
    "state() returns copies",
  );
  const other = new AdamW([["w", param([0, 0, 0, 0], [2, 2])]]);
  other.loadState({ ...s, step: 3 });
  assert.equal(other.stepCount, 3);
  assert.equal(other.config.beta2, 0.99);
  assert.deepEqual([...other.state().slots.w!.m], [7, 7, 7, 7]);
  assert.throws(
    () => other.loadState({ ...s, slots: {} }),
    (e: unknown) => e instanceof FormatError && /no moments saved for parameter "w"/.test(e.message),
  );
  assert.throws(() => other.loadState({ ...s, slots: { w: { m: new Float32Array(3), v: new Float32Array(4) } } }), /Float32Array of 4 values/);
  assert.throws(() => other.loadState({ ...s, slots: { ...s.slots, extra: s.slots.w! } }), /unknown parameters: extra/);
  assert.throws(() => other.loadState({ ...s, step: -1 }), FormatError);
});

test("AdamW configuration and parameter lists are validated", () => {
  const w = param([1], [1]);
  assert.throws(() => new AdamW([w], { beta1: 1 }), ConfigError);
  assert.throws(() => new AdamW([w], { eps: 0 }), /eps/);
  assert.throws(() => new AdamW([w], { weightDecay: -0.1 }), /weightDecay/);
  assert.throws(() => new AdamW([w, w]), /listed twice/);
  assert.throws(
    () =>
      new AdamW([
        ["a", w],
        ["a", param([1], [1])],
      ]),
    /appears twice/,
  );
  assert.throws(() => new AdamW([w]).step(Number.NaN), UsageError);
  assert.throws(() => clipGradNorm([w], 0), ConfigError);
  assert.deepEqual(Object.keys(new AdamW([w, param([1], [1])]).state().slots), ["0", "1"]);
});
