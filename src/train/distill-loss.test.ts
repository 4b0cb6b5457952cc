// The distillation loss op against a plain float64 computation from full
// softmaxes (loss and central-difference gradient, every divergence), the T²
// scaling, alpha = 0 = cross-entropy, and its errors.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfigError, ShapeError } from "../errors.ts";
import { Tape, Tensor, crossEntropy } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import { DIVERGENCES, distillLoss, distillLossReference, type DistillLossOptions, type TeacherTopK } from "./distill-loss.ts";

// Small random problem: student logits (N,V), targets, and a teacher with full logits (N,V)
// reduced to its top-k ids + logits and its whole-vocabulary log-sum-exp at temperature T.
function problem(seed: number, n: number, v: number, k: number, ignoreRow = -1, T = 1) {
  const r = new Rng(seed);
  const logits = new Float32Array(n * v).map(() => 2 * r.normal());
  const targets = new Int32Array(n).map(() => r.int(v));
  if (ignoreRow >= 0) targets[ignoreRow] = -100;
  return {
    logits,
    targets,
    teacher: teacherFrom(
      new Float32Array(n * v).map(() => 2.5 * r.normal()),
      n,
      v,
      k,
      T,
    ),
  };
}

function teacherFrom(full: Float32Array, n: number, v: number, k: number, T: number): TeacherTopK {
  const ids = new Int32Array(n * k),
    tl = new Float32Array(n * k),
    lse = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const row = Array.from(full.subarray(i * v, (i + 1) * v));
    const order = row
      .map((x, id) => ({ x, id }))
      .sort((a, b) => b.x - a.x)
      .slice(0, k);
    order.forEach((o, j) => {
      ids[i * k + j] = o.id;
      tl[i * k + j] = o.x;
    });
    const m = Math.max(...row) / T;
    lse[i] = m + Math.log(row.reduce((acc, x) => acc + Math.exp(x / T - m), 0));
  }
  return { ids, logits: tl, lse, k };
}

function opLoss(
  logits: Float32Array,
  n: number,
  v: number,
  targets: Int32Array,
  teacher: TeacherTopK,
  o: DistillLossOptions,
): { loss: number; grad: Float32Array } {
  const x = new Tensor(logits.slice(), [n, v], true);
  const g = new Tape();
  const l = distillLoss(g, x, targets, teacher, o);
  g.backward(l);
  return { loss: l.data[0]!, grad: x.grad!.slice() };
}

test("loss and gradient match the float64 reference (every divergence, T, with an ignored row)", () => {
  const n = 5,
    v = 13,
    k = 4;
  for (const divergence of DIVERGENCES) {
    for (const temperature of [1, 2.5]) {
      const { logits, targets, teacher } = problem(3, n, v, k, 2, temperature);
      const o: DistillLossOptions = { alpha: 0.7, temperature, divergence };
      const got = opLoss(logits, n, v, targets, teacher, o);
      const ref = distillLossReference(logits, targets, teacher, n, v, o);
      assert.ok(
        Math.abs(got.loss - ref.loss) <= 1e-4 * Math.max(1, Math.abs(ref.loss)),
        `${divergence} T=${temperature}: loss ${got.loss} vs reference ${ref.loss}`,
      );
      // Gradient: central differences of the float64 reference.
      const x = Float64Array.from(logits);
      const eps = 1e-4;
      for (let i = 0; i < n * v; i++) {
        const orig = x[i]!;
        x[i] = orig + eps;
        const up = distillLossReference(x, targets, teacher, n, v, o).loss;
        x[i] = orig - eps;
        const down = distillLossReference(x, targets, teacher, n, v, o).loss;
        x[i] = orig;
        const num = (up - down) / (2 * eps);
        assert.ok(
          Math.abs(got.grad[i]! - num) <= 2e-4 + 1e-3 * Math.abs(num),
          `${divergence} T=${temperature}: d/dlogit[${i}] ${got.grad[i]} vs numeric ${num}`,
        );
      }
      // The ignored row gets no gradient.
      for (let x2 = 0; x2 < v; x2++) assert.equal(got.grad[2 * v + x2], 0);
    }
  }
});

test("T² scaling: with alpha = 1 the loss is T² times the divergence at T", () => {
  const n = 4,
    v = 11,
    k = 5;
  for (const divergence of DIVERGENCES) {
    for (const T of [0.5, 2, 4]) {
      const { logits, targets, teacher } = problem(5, n, v, k, -1, T);
      const o: DistillLossOptions = { alpha: 1, temperature: T, divergence };
      const got = opLoss(logits, n, v, targets, teacher, o).loss;
      const d = distillLossReference(logits, targets, teacher, n, v, o).divergence;
      assert.ok(d > 0, "a random teacher differs from the student");
      assert.ok(Math.abs(got - T * T * d) <= 1e-4 * T * T * d + 1e-6, `${divergence} T=${T}: ${got} vs T²·D = ${T * T * d}`);
    }
  }
});

test("alpha = 0 is exactly cross-entropy (loss and gradient)", () => {
  const n = 6,
    v = 17,
    k = 3;
  const { logits, targets, teacher } = problem(9, n, v, k, 1, 3);
  const got = opLoss(logits, n, v, targets, teacher, { alpha: 0, temperature: 3, divergence: "forward" });
  const x = new Tensor(logits.slice(), [n, v], true);
  const g = new Tape();
  const ce = crossEntropy(g, x, targets);
  g.backward(ce);
  assert.ok(Math.abs(got.loss - ce.data[0]!) < 1e-6);
  for (let i = 0; i < n * v; i++) assert.ok(Math.abs(got.grad[i]! - x.grad![i]!) < 1e-6, `grad[${i}]`);
});

test("a student equal to its teacher has zero divergence and zero distillation gradient (K = V, and K < V with the rest bucket)", () => {
  const n = 3,
    v = 7;
  const r = new Rng(11);
  const logits = new Float32Array(n * v).map(() => r.normal());
  const targets = new Int32Array(n).map(() => r.int(v));
  for (const k of [v, 3]) {
    const teacher = teacherFrom(logits, n, v, k, 2);
    for (const divergence of DIVERGENCES) {
      const got = opLoss(logits, n, v, targets, teacher, { alpha: 1, temperature: 2, divergence });
      assert.ok(Math.abs(got.loss) < 1e-5, `${divergence} k=${k}: loss ${got.loss}`);
      for (const d of got.grad) assert.ok(Math.abs(d) < 1e-5, `${divergence} k=${k}: gradient ${d}`);
    }
  }
});

test("the rest bucket keeps the teacher's tail: a student that squeezes all mass into the top-k pays for it", () => {
  // Teacher: top-2 ids hold half the mass, the other V−2 share the rest. Student A copies the
  // whole teacher; student B puts the same top-2 ratio but (almost) nothing on the tail.
  const v = 50,
    k = 2,
    T = 1;
  const full = new Float32Array(v).fill(0);
  full[0] = Math.log(24);
  full[1] = Math.log(24);
  const teacher = teacherFrom(full, 1, v, k, T);
  const squeezed = new Float32Array(v).fill(-20);
  squeezed[0] = 0;
  squeezed[1] = 0;
  for (const divergence of DIVERGENCES) {
    const o: DistillLossOptions = { alpha: 1, temperature: T, divergence };
    const a = opLoss(full, 1, v, Int32Array.from([5]), teacher, o).loss;
    const b = opLoss(squeezed, 1, v, Int32Array.from([5]), teacher, o).loss;
    assert.ok(a < 1e-6 && b > 0.1, `${divergence}: copy ${a}, squeezed ${b}`);
  }
});

test("gradients accumulate into a logits gradient that already has contributions", () => {
  const n = 3,
    v = 9,
    k = 3;
  const { logits, targets, teacher } = problem(13, n, v, k, -1, 2);
  const o: DistillLossOptions = { alpha: 0.5, temperature: 2, divergence: "js" };
  const once = opLoss(logits, n, v, targets, teacher, o).grad;
  const x = new Tensor(logits.slice(), [n, v], true);
  x.grad = new Float32Array(n * v).fill(1);
  const g = new Tape();
  g.backward(distillLoss(g, x, targets, teacher, o));
  for (let i = 0; i < n * v; i++) assert.ok(Math.abs(x.grad[i]! - (1 + once[i]!)) < 1e-6);
});

test("bad options and shapes are clear errors", () => {
  const n = 2,
    v = 5,
    k = 2;
  const { logits, targets, teacher } = problem(1, n, v, k);
  const x = new Tensor(logits, [n, v]);
  const g = new Tape({ grad: false });
  assert.throws(() => distillLoss(g, x, targets, teacher, { alpha: 1.5, temperature: 1, divergence: "forward" }), ConfigError);
  assert.throws(() => distillLoss(g, x, targets, teacher, { alpha: 0.5, temperature: 0, divergence: "forward" }), ConfigError);
  assert.throws(() => distillLoss(g, x, targets, teacher, { alpha: 0.5, temperature: 1, divergence: "sideways" as never }), /unknown divergence/);
  assert.throws(() => distillLoss(g, x, targets, { ...teacher, k: 3 }, { alpha: 0.5, temperature: 1, divergence: "forward" }), ShapeError);
  const bad = { ...teacher, ids: teacher.ids.slice() };
  bad.ids[1] = 99;
  assert.throws(() => distillLoss(g, x, targets, bad, { alpha: 0.5, temperature: 1, divergence: "forward" }), /outside the student's vocabulary/);
  assert.throws(
    () => distillLoss(g, x, targets, { ...teacher, lse: new Float32Array(1) }, { alpha: 0.5, temperature: 1, divergence: "forward" }),
    /teacher lse must be/,
  );
});
