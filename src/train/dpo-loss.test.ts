import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfigError } from "../errors.ts";
import { Tape, Tensor } from "../tensor/index.ts";
import { preferenceLoss, preferenceLossForward, validatePreferenceOptions, type PreferenceLossOptions } from "./dpo-loss.ts";

const pi = [-12.5, -30.1, -8.2, -20.0, -14.0, -9.5]; // chosen ×3, rejected ×3
const ref = [-13.0, -29.0, -8.0, -19.0, -15.5, -9.0];
const tokens = [5, 12, 4, 7, 9, 3];

const opts = (o: Partial<PreferenceLossOptions>): PreferenceLossOptions => ({ objective: "dpo", beta: 0.1, loss: "sigmoid", orpoLambda: 0.1, ...o });
const CASES: [string, PreferenceLossOptions][] = [
  ["dpo sigmoid", opts({})],
  ["dpo sigmoid, beta 0.5", opts({ beta: 0.5 })],
  ["dpo ipo", opts({ loss: "ipo" })],
  ["dpo sigmoid + chosen NLL (rpo alpha 1)", opts({ rpoAlpha: 1 })],
  ["orpo", opts({ objective: "orpo" })],
  ["orpo, lambda 1", opts({ objective: "orpo", orpoLambda: 1 })],
];

for (const [name, o] of CASES) {
  test(`${name}: the gradient matches central differences`, () => {
    const f = preferenceLossForward(o, pi, tokens, ref);
    const eps = 1e-5;
    for (let i = 0; i < pi.length; i++) {
      const up = pi.slice(),
        dn = pi.slice();
      up[i]! += eps;
      dn[i]! -= eps;
      const num = (preferenceLossForward(o, up, tokens, ref).loss - preferenceLossForward(o, dn, tokens, ref).loss) / (2 * eps);
      assert.ok(Math.abs(num - f.grad[i]!) <= 1e-7 + 1e-5 * Math.abs(num), `d/dπ[${i}]: analytic ${f.grad[i]} vs numeric ${num}`);
    }
  });
}

test("DPO values by hand: h = 0 gives log 2 (sigmoid) and 1/(4β²) (IPO); rewards, margin and accuracy", () => {
  const same = preferenceLossForward(opts({}), [-3, -4], [2, 2], [-3, -4]);
  assert.ok(Math.abs(same.loss - Math.LN2) < 1e-12);
  assert.equal(same.metrics.accuracy, 0, "a tie is not a win");
  assert.ok(Math.abs(preferenceLossForward(opts({ loss: "ipo", beta: 0.25 }), [-3, -4], [2, 2], [-3, -4]).loss - 4) < 1e-12);
  const f = preferenceLossForward(opts({}), pi, tokens, ref);
  // rewards β(π − ρ): chosen 0.05, −0.11, −0.02; rejected −0.1, 0.15, −0.05
  assert.ok(Math.abs(f.metrics.chosenReward - (0.05 - 0.11 - 0.02) / 3) < 1e-12);
  assert.ok(Math.abs(f.metrics.rejectedReward - (-0.1 + 0.15 - 0.05) / 3) < 1e-12);
  assert.ok(Math.abs(f.metrics.margin - (f.metrics.chosenReward - f.metrics.rejectedReward)) < 1e-12);
  assert.deepEqual(f.correct, [true, false, true]);
  assert.ok(Math.abs(f.metrics.accuracy - 2 / 3) < 1e-12);
});

test("ORPO by hand: one pair", () => {
  const mc = -0.5,
    mr = -2;
  const lor = mc - Math.log(1 - Math.exp(mc)) - (mr - Math.log(1 - Math.exp(mr)));
  const f = preferenceLossForward(opts({ objective: "orpo", orpoLambda: 0.3 }), [mc * 4, mr * 2], [4, 2]);
  assert.ok(Math.abs(f.loss - (-mc + 0.3 * Math.log1p(Math.exp(-lor)))) < 1e-12);
  assert.ok(Math.abs(f.metrics.nll! + mc) < 1e-12);
  assert.ok(Math.abs(f.metrics.chosenReward - 0.3 * mc) < 1e-12);
});

test("preferenceLoss on the tape: backward adds dL/dπ scaled by the upstream gradient", () => {
  const g = new Tape();
  const lp = new Tensor(Float32Array.from(pi), [6], true);
  let seen = 0;
  const loss = preferenceLoss(g, lp, opts({}), tokens, ref, (m) => (seen = m.pairs));
  assert.equal(seen, 3);
  g.backward(loss, 2);
  const f = preferenceLossForward(opts({}), Float32Array.from(pi), tokens, ref);
  lp.grad!.forEach((v, i) => assert.ok(Math.abs(v - 2 * f.grad[i]!) < 1e-6));
});

test("bad inputs and options are named", () => {
  assert.throws(() => preferenceLossForward(opts({}), pi, tokens), /DPO needs 6 reference log-probs/);
  assert.throws(() => preferenceLossForward(opts({}), [1, 2, 3], [1, 1, 1], [0, 0, 0]), /2·n sequence log-probs/);
  assert.throws(() => preferenceLossForward(opts({}), [1, 2], [1, 0], [0, 0]), /sequence 1 has no completion tokens/);
  assert.throws(() => validatePreferenceOptions(opts({ rpoAlpha: -1 })), /RPO alpha/);
  assert.throws(
    () => validatePreferenceOptions(opts({ beta: 0 })),
    (e) => e instanceof ConfigError && /beta/.test(e.message),
  );
  assert.throws(() => validatePreferenceOptions(opts({ loss: "hinge" as "ipo" })), /unknown DPO loss "hinge"/);
  assert.throws(() => validatePreferenceOptions(opts({ objective: "kto" as "dpo" })), /"dpo" or "orpo"/);
});
