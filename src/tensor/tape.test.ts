import assert from "node:assert/strict";
import { test } from "node:test";

import { ShapeError, UsageError } from "../errors.ts";
import { Arena } from "./arena.ts";
import { linear, matmul } from "./ops.ts";
import { Tape } from "./tape.ts";
import { Parameter, Tensor } from "./tensor.ts";

test("Tensor: shape checks, rows × cols, item", () => {
  const t = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 1, 3]);
  assert.equal(t.size, 6);
  assert.equal(t.ndim, 3);
  assert.equal(t.rows, 2);
  assert.equal(t.cols, 3);
  assert.throws(() => new Tensor(new Float32Array(5), [2, 3]), ShapeError);
  assert.throws(() => Tensor.zeros([2, -1]), ShapeError);
  assert.throws(() => Tensor.zeros([2.5]), ShapeError);
  assert.throws(() => t.item(), /has 6 values/);
  assert.equal(Tensor.fromArray([7], []).item(), 7);
});

test("Parameter: owns a zeroed grad; decay defaults to matrices only", () => {
  const w = Parameter.zeros([3, 4]);
  const b = Parameter.zeros([4]);
  assert.equal(w.grad.length, 12);
  assert.ok(w.requiresGrad);
  assert.equal(w.decay, true);
  assert.equal(b.decay, false);
  assert.equal(Parameter.zeros([3, 4], { decay: false }).decay, false);
  assert.throws(() => w.set([1, 2]), ShapeError);
});

test("Arena: same arrays in the same order after reset, growth is counted", () => {
  const a = new Arena();
  const x1 = a.alloc(10),
    y1 = a.zeros(4),
    i1 = a.allocInt(3);
  assert.equal(a.allocations, 3);
  y1.fill(5);
  a.reset();
  const x2 = a.alloc(10),
    y2 = a.zeros(4),
    i2 = a.allocInt(3);
  assert.equal(x2, x1);
  assert.equal(y2, y1);
  assert.equal(i2, i1);
  assert.ok(
    y2.every((v) => v === 0),
    "zeros() clears the reused array",
  );
  assert.equal(a.allocations, 3, "no new memory on the second step");
  // A short step (last batch) gets views into the same memory; no allocation.
  a.reset();
  const x3 = a.alloc(6);
  assert.equal(x3.length, 6);
  assert.equal(x3.buffer, x1.buffer);
  assert.equal(a.allocations, 3);
  // A bigger request grows the slot.
  a.reset();
  const x4 = a.alloc(20);
  assert.equal(x4.length, 20);
  assert.equal(a.allocations, 4);
  a.reset();
  assert.equal(a.alloc(20), x4);
  assert.equal(a.stats().capacity, 20 + 4 + 3);
  assert.throws(() => a.alloc(-1), ShapeError);
});

test("Arena.transient: one shared buffer, not a slot; it survives reset and grows to the largest request", () => {
  const a = new Arena();
  const t1 = a.transient(8);
  assert.equal(a.alloc(8) === t1, false, "slots and the transient buffer are distinct");
  const t2 = a.transient(5);
  assert.equal(t2.buffer, t1.buffer, "a smaller request is a view of the same memory");
  a.reset();
  assert.equal(a.transient(8), t1, "kept across reset");
  assert.equal(a.mark().floats, 0, "not counted as a hand-out");
  assert.equal(a.allocations, 2);
  assert.equal(a.transient(12).length, 12);
  assert.equal(a.allocations, 3, "growth is counted");
  assert.equal(a.stats().capacity, 8 + 12);
  assert.throws(() => a.transient(1.5), ShapeError);
});

test("Tape.workArena: made on first use, reset with the tape", () => {
  const g = new Tape();
  const w = g.workArena;
  assert.equal(g.workArena, w);
  w.alloc(4);
  assert.equal(w.mark().floats, 1);
  g.reset();
  assert.equal(w.mark().floats, 0);
});

test("Tape: backward runs closures newest first and only where gradient flows", () => {
  const g = new Tape();
  const x = Tensor.fromArray([1, 2, 3, 4], [2, 2], true);
  const w = Parameter.zeros([2, 2]);
  w.set([1, 2, 3, 4]);
  const y = linear(g, x, w); // y = x·wᵀ
  const unused = linear(g, x, w); // recorded, but not on the loss path
  assert.equal(g.length, 2);
  g.backward(y, new Float32Array([1, 0, 0, 1]));
  // dx = dy·w, dw = dyᵀ·x
  assert.deepEqual([...x.grad!], [1, 2, 3, 4]);
  assert.deepEqual([...w.grad], [1, 2, 3, 4]);
  assert.equal(unused.grad, null, "an output nothing depends on gets no gradient buffer");
  assert.throws(() => g.backward(y, new Float32Array(4)), UsageError);
  assert.throws(() => linear(g, x, w), /already ran backward/);
});

test("Tape: parameter grads accumulate across steps until zeroed", () => {
  const g = new Tape();
  const x = Tensor.fromArray([1, 2], [1, 2]);
  const w = Parameter.zeros([1, 2]);
  for (let step = 0; step < 2; step++) {
    g.reset();
    g.backward(linear(g, x, w), new Float32Array([1]));
  }
  assert.deepEqual([...w.grad], [2, 4]);
});

test("Tape: seeds must match the output; scalars seed with a number", () => {
  const g = new Tape();
  const x = Tensor.fromArray([1, 2, 3, 4], [2, 2], true);
  const y = matmul(g, x, Tensor.fromArray([1, 0, 0, 1], [2, 2]));
  assert.throws(() => g.backward(y), /one-value loss/);
  assert.throws(() => g.backward(y, new Float32Array(3)), /Float32Array of 4/);
  assert.throws(() => g.backward(Tensor.zeros([1])), /does not depend/);
});

test("Tape: an inference tape records nothing and leaves grads untouched", () => {
  const g = new Tape({ grad: false });
  const x = Tensor.fromArray([1, 2], [1, 2], true);
  const w = Parameter.zeros([3, 2]);
  const y = linear(g, x, w);
  assert.equal(g.length, 0);
  assert.equal(y.requiresGrad, false);
  assert.throws(() => g.backward(y), /grad: false/);
});

test("Tape: activations come from the arena and are reused step after step", () => {
  const g = new Tape();
  const x = Tensor.fromArray([1, 2, 3, 4], [2, 2]);
  const w = Parameter.zeros([2, 2]);
  const seed = new Float32Array(4).fill(1);
  g.backward(linear(g, x, w), seed);
  const after1 = g.arena.allocations;
  for (let i = 0; i < 3; i++) {
    g.reset();
    const y = linear(g, x, w);
    g.backward(y, seed);
  }
  assert.equal(g.arena.allocations, after1);
});
