import assert from "node:assert/strict";
import { test } from "node:test";

import { ShapeError } from "../errors.ts";
import { TOL, assertClose, forEachBackend, randn, rng, using } from "../native/testing.ts";
import {
  add,
  attention,
  scale,
  crossEntropy,
  poolRows,
  reshape,
  concatRows,
  gatherRows,
  embedding,
  gelu,
  layernorm,
  linear,
  matmul,
  rmsnorm,
  rope,
  sequencePositions,
  swiglu,
} from "./ops.ts";
import { ropeTable } from "./rope.ts";
import { Tape } from "./tape.ts";
import { Parameter, Tensor, columns } from "./tensor.ts";
import { checkTapeGradients, missingKernels } from "./testing.ts";

const leaf = (r: ReturnType<typeof rng>, shape: number[], scale = 1) =>
  new Tensor(
    randn(
      r,
      shape.reduce((a, b) => a * b, 1),
      scale,
    ),
    shape,
    true,
  );

forEachBackend("tensor ops", (c) => {
  const skip = (...names: Parameters<typeof missingKernels>[1][]) => ({ skip: missingKernels(c.backend, ...names) });

  test("linear: forward matches x·Wᵀ + b; backward vs finite differences", () =>
    using(c, () => {
      const r = rng(11);
      const x = leaf(r, [2, 3, 5]),
        w = leaf(r, [4, 5]),
        b = leaf(r, [4]);
      const g = new Tape({ grad: false });
      const y = linear(g, x, w, b);
      assert.deepEqual(y.shape, [2, 3, 4]);
      const want = new Float32Array(24);
      for (let i = 0; i < 6; i++)
        for (let o = 0; o < 4; o++) {
          let s = b.data[o]!;
          for (let k = 0; k < 5; k++) s += x.data[i * 5 + k]! * w.data[o * 5 + k]!;
          want[i * 4 + o] = s;
        }
      assertClose(y.data, want, TOL.f32);
      checkTapeGradients("linear", r, { x, w, b }, (t) => linear(t, x, w, b));
      checkTapeGradients("linear without bias", r, { x, w }, (t) => linear(t, x, w));
    }));

  test("matmul: plain and transposed b, backward vs finite differences", () =>
    using(c, () => {
      const r = rng(12);
      const a = leaf(r, [3, 4]),
        b = leaf(r, [4, 6]),
        bt = leaf(r, [6, 4]);
      checkTapeGradients("matmul", r, { a, b }, (t) => matmul(t, a, b));
      checkTapeGradients("matmul transB", r, { a, bt }, (t) => matmul(t, a, bt, { transB: true }));
    }));

  test("a tensor used twice sums both gradients (residual)", skip("add", "axpy"), () =>
    using(c, () => {
      const r = rng(13);
      const x = leaf(r, [3, 4]),
        w = leaf(r, [4, 4]);
      // y = x + x·Wᵀ: dy/dx = I + W
      checkTapeGradients("residual", r, { x, w }, (t) => add(t, x, linear(t, x, w)));
      checkTapeGradients("x + x", r, { x }, (t) => add(t, x, x));
      checkTapeGradients("scale", r, { x }, (t) => scale(t, x, -0.75));
      assertClose(
        scale(new Tape({ grad: false }), x, 3).data,
        x.data.map((v) => 3 * v),
        TOL.f32,
        "3·x",
      );
      assert.throws(() => scale(new Tape(), x, Number.NaN), /finite/);
    }),
  );

  test("poolRows: weighted sums of row groups (a masked mean) and reshape, backward vs finite differences", skip("axpy"), () =>
    using(c, () => {
      const r = rng(17);
      const x = leaf(r, [6, 5]);
      const w = Float32Array.of(0.5, 0.5, 0, 1 / 3, 1 / 3, 1 / 3); // groups of 3 rows: rows 0,1 of group 0, all of group 1
      const pooled = poolRows(new Tape({ grad: false }), x, w, 2);
      assert.deepEqual(pooled.shape, [2, 5]);
      const want = new Float32Array(10);
      for (let j = 0; j < 5; j++) {
        want[j] = 0.5 * x.data[j]! + 0.5 * x.data[5 + j]!;
        want[5 + j] = (x.data[15 + j]! + x.data[20 + j]! + x.data[25 + j]!) / 3;
      }
      assertClose(pooled.data, want, TOL.f32, "pooled");
      checkTapeGradients("poolRows", r, { x }, (t) => poolRows(t, x, w, 2));
      checkTapeGradients("reshape", r, { x }, (t) => reshape(t, x, [3, 10]));
      assert.throws(() => poolRows(new Tape(), x, w, 4), ShapeError);
      assert.throws(() => poolRows(new Tape(), x, w.subarray(1), 2), ShapeError);
      assert.throws(() => reshape(new Tape(), x, [4, 4]), ShapeError);
    }),
  );

  test("concatRows and gatherRows: rows moved as stated, backward vs finite differences (repeated rows accumulate)", skip("axpy"), () =>
    using(c, () => {
      const r = rng(19);
      const a = leaf(r, [2, 3]),
        b = leaf(r, [3, 3]);
      const cat = concatRows(new Tape({ grad: false }), [a, b]);
      assert.deepEqual(cat.shape, [5, 3]);
      assert.deepEqual([...cat.data], [...a.data, ...b.data]);
      const idx = Int32Array.of(4, 0, 0, 2);
      const gathered = gatherRows(new Tape({ grad: false }), cat, idx);
      assert.deepEqual([...gathered.data], [...b.data.subarray(6, 9), ...a.data.subarray(0, 3), ...a.data.subarray(0, 3), ...b.data.subarray(0, 3)]);
      checkTapeGradients("concat+gather", r, { a, b }, (t) => gatherRows(t, concatRows(t, [a, b]), idx));
      assert.throws(() => gatherRows(new Tape(), a, Int32Array.of(2)), ShapeError);
      assert.throws(() => concatRows(new Tape(), [a, leaf(r, [2, 4])]), ShapeError);
    }),
  );

  test("embedding: backward scatters and accumulates repeated ids", skip("embeddingForward", "embeddingBackward"), () =>
    using(c, () => {
      const r = rng(14);
      const table = leaf(r, [5, 3]);
      const ids = Int32Array.from([1, 4, 1, 0, 1, 2]);
      const g = new Tape();
      const out = embedding(g, table, ids, [2, 3]);
      assert.deepEqual(out.shape, [2, 3, 3]);
      assert.deepEqual([...out.data.subarray(3, 6)], [...table.data.subarray(12, 15)]);
      checkTapeGradients("embedding", r, { table }, (t) => embedding(t, table, ids));
      assert.throws(() => embedding(new Tape(), table, Int32Array.from([5])), ShapeError);
    }),
  );

  test("rmsnorm: backward vs finite differences, frozen weight still gives dx", skip("rmsnormForward", "rmsnormBackward"), () =>
    using(c, () => {
      const r = rng(15);
      const x = leaf(r, [4, 8]);
      const w = new Parameter(
        randn(r, 8, 0.5).map((v) => v + 1),
        [8],
      );
      checkTapeGradients("rmsnorm", r, { x, w }, (t) => rmsnorm(t, x, w, 1e-5));
      w.requiresGrad = false;
      w.grad.fill(0);
      checkTapeGradients("rmsnorm frozen weight", r, { x }, (t) => rmsnorm(t, x, w, 1e-5));
      assert.ok(
        w.grad.every((v) => v === 0),
        "a frozen weight's grad stays zero",
      );
    }),
  );

  test("layernorm: backward vs finite differences, with and without bias", skip("layernormForward", "layernormBackward"), () =>
    using(c, () => {
      const r = rng(16);
      const x = leaf(r, [3, 7]),
        w = leaf(r, [7]),
        b = leaf(r, [7]);
      checkTapeGradients("layernorm", r, { x, w, b }, (t) => layernorm(t, x, w, b));
      checkTapeGradients("layernorm no bias", r, { x, w }, (t) => layernorm(t, x, w, null));
    }),
  );

  test("rope: rotate-half and interleaved, backward vs finite differences", skip("ropeForward", "ropeBackward"), () =>
    using(c, () => {
      const r = rng(17);
      const table = ropeTable(16, 4, 10000);
      for (const interleaved of [false, true]) {
        const x = leaf(r, [2, 3, 2 * 6]); // B=2, T=3, H=2, D=6 (rot 4 of 6)
        const pos = Int32Array.from([0, 1, 2, 5, 6, 7]);
        checkTapeGradients(`rope interleaved=${interleaved}`, r, { x }, (t) => rope(t, x, table, pos, { heads: 2, interleaved }));
        // A rotation keeps each pair's norm; position 0 is the identity.
        const out = rope(new Tape({ grad: false }), x, table, pos, { heads: 2, interleaved });
        assertClose(out.data.subarray(0, 12), x.data.subarray(0, 12), TOL.f32, "position 0 is the identity");
      }
      assert.throws(() => rope(new Tape(), leaf(r, [1, 12]), table, Int32Array.from([16]), { heads: 2 }), ShapeError);
    }),
  );

  test("attention: causal GQA, backward vs finite differences", skip("attentionForward", "attentionBackward"), () =>
    using(c, () => {
      const r = rng(18);
      const B = 2,
        T = 4,
        H = 4,
        KVH = 2,
        D = 3;
      const q = leaf(r, [B, T, H * D]),
        k = leaf(r, [B, T, KVH * D]),
        v = leaf(r, [B, T, KVH * D]);
      const opts = { batch: B, seqLen: T, heads: H, kvHeads: KVH };
      checkTapeGradients("attention", r, { q, k, v }, (t) => attention(t, q, k, v, opts), { samples: 24 });
      // Causality: the first token's output is its own value vector, whatever q and k are.
      const out = attention(new Tape({ grad: false }), q, k, v, opts);
      for (let h = 0; h < H; h++) {
        const kv = Math.floor(h / (H / KVH));
        assertClose(out.data.subarray(h * D, h * D + D), v.data.subarray(kv * D, kv * D + D), TOL.f32, `head ${h} at t=0`);
      }
    }),
  );

  test("attention on column views of a fused qkv equals attention on copies", skip("attentionForward", "attentionBackward"), () =>
    using(c, () => {
      const r = rng(19);
      const B = 1,
        T = 5,
        H = 2,
        KVH = 1,
        D = 4;
      const width = (H + 2 * KVH) * D;
      const qkv = leaf(r, [B * T, width]);
      const opts = { batch: B, seqLen: T, heads: H, kvHeads: KVH };
      const fused = (t: Tape) => attention(t, columns(qkv, 0, H * D), columns(qkv, H * D, KVH * D), columns(qkv, (H + KVH) * D, KVH * D), opts);
      const grads = checkTapeGradients("attention fused", r, { qkv }, fused, { samples: 24 });
      // Same gradient as three separate tensors.
      const split = (from: number, w: number) => {
        const t = new Tensor(new Float32Array(B * T * w), [B * T, w], true);
        for (let i = 0; i < B * T; i++) t.data.set(qkv.data.subarray(i * width + from, i * width + from + w), i * w);
        return t;
      };
      const q = split(0, H * D),
        k = split(H * D, KVH * D),
        v = split((H + KVH) * D, KVH * D);
      const g1 = new Tape(),
        g2 = new Tape();
      const w = randn(r, B * T * H * D);
      const a = attention(g1, q, k, v, opts);
      g1.backward(a, w);
      qkv.grad!.fill(0);
      const b = fused(g2);
      g2.backward(b, w);
      assertClose(b.data, a.data, TOL.f32, "outputs");
      for (let i = 0; i < B * T; i++) {
        assertClose(qkv.grad!.subarray(i * width, i * width + H * D), q.grad!.subarray(i * H * D, (i + 1) * H * D), TOL.f32, "dq");
        assertClose(qkv.grad!.subarray(i * width + H * D, i * width + (H + KVH) * D), k.grad!.subarray(i * KVH * D, (i + 1) * KVH * D), TOL.f32, "dk");
      }
      assert.ok(grads.qkv!.some((x) => x !== 0));
    }),
  );

  test("swiglu and gelu: backward vs finite differences", skip("swigluForward", "swigluBackward", "geluForward", "geluBackward"), () =>
    using(c, () => {
      const r = rng(20);
      const gate = leaf(r, [3, 5]),
        up = leaf(r, [3, 5]),
        x = leaf(r, [17]);
      checkTapeGradients("swiglu", r, { gate, up }, (t) => swiglu(t, gate, up));
      checkTapeGradients("gelu", r, { x }, (t) => gelu(t, x));
    }),
  );

  test(
    "inPlace: on an inference tape rope, swiglu and add overwrite their first input with the same values; a recording tape ignores it",
    skip("ropeForward", "swigluForward", "add"),
    () =>
      using(c, () => {
        const r = rng(23);
        const table = ropeTable(16, 4, 10000);
        const pos = Int32Array.from([0, 3, 9]);
        const copy = (t: Tensor) => new Tensor(t.data.slice(), t.shape, true);
        const x = leaf(r, [3, 12]),
          y = leaf(r, [3, 12]);
        const cases: [string, (g: Tape, a: Tensor, inPlace: boolean) => Tensor][] = [
          ["rope", (g, a, inPlace) => rope(g, a, table, pos, { heads: 2, inPlace })],
          ["swiglu", (g, a, inPlace) => swiglu(g, a, y, { inPlace })],
          ["add", (g, a, inPlace) => add(g, a, y, { inPlace })],
        ];
        for (const [name, op] of cases) {
          const want = op(new Tape({ grad: false }), x, false);
          assert.notEqual(want.data, x.data, `${name}: without inPlace a new buffer`);
          const a = copy(x);
          const got = op(new Tape({ grad: false }), a, true);
          assert.equal(got.data, a.data, `${name}: the result is the input's buffer`);
          assert.deepEqual(got.data, want.data, `${name}: same values as out of place`);
          // Recording: the input must survive for backward, so inPlace is ignored.
          const b = copy(x);
          const rec = op(new Tape(), b, true);
          assert.notEqual(rec.data, b.data, `${name}: a recording tape takes a new buffer`);
          assert.deepEqual(b.data, x.data, `${name}: and leaves the input alone`);
          assert.deepEqual(rec.data, want.data, `${name}: recording, same values`);
        }
      }),
  );

  test("crossEntropy: mean over non-ignored rows, backward vs finite differences", skip("crossEntropyForward", "crossEntropyBackward", "axpy"), () =>
    using(c, () => {
      const r = rng(21);
      const logits = leaf(r, [2, 3, 6]);
      const targets = Int32Array.from([0, 5, -100, 2, -100, 3]);
      const loss = crossEntropy(new Tape({ grad: false }), logits, targets);
      let want = 0;
      for (let i = 0; i < 6; i++) {
        if (targets[i] === -100) continue;
        const row = logits.data.subarray(i * 6, i * 6 + 6);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
        want += lse - row[targets[i]!]!;
      }
      assertClose([loss.item()], [want / 4], TOL.f32, "loss");
      const scalarOf = (t: Tape) => crossEntropy(t, logits, targets);
      const grads = checkTapeGradients("crossEntropy", r, { logits }, scalarOf, { samples: 36 });
      assert.ok(
        grads.logits!.subarray(12, 18).every((v) => v === 0),
        "ignored rows get no gradient",
      );
      // Logits used twice: the written gradient must add to what is already there.
      checkTapeGradients("crossEntropy + reuse", r, { logits }, (t) =>
        add(t, crossEntropy(t, logits, targets), crossEntropy(t, logits, Int32Array.from([1, 1, 1, 1, 1, 1]))),
      );
      // All rows ignored: loss 0, gradient 0, no NaN.
      const g = new Tape();
      const none = crossEntropy(g, logits, new Int32Array(6).fill(-100));
      assert.equal(none.item(), 0);
      assert.throws(() => crossEntropy(g, logits, Int32Array.from([0, 6, 0, 0, 0, 0])), /outside \[0, 6\)/);
    }),
  );

  test("crossEntropy with inPlaceGrad overwrites the logits with the same gradient", skip("crossEntropyForward", "crossEntropyBackward"), () =>
    using(c, () => {
      const r = rng(22);
      const x = leaf(r, [6, 4]),
        w = leaf(r, [5, 4]);
      const targets = Int32Array.from([0, 1, 2, 3, 4, 0]);
      const grads: Float32Array[] = [];
      for (const inPlaceGrad of [false, true]) {
        x.grad?.fill(0);
        w.grad?.fill(0);
        const g = new Tape();
        const logits = linear(g, x, w);
        const loss = crossEntropy(g, logits, targets, { inPlaceGrad });
        g.backward(loss);
        if (inPlaceGrad) assert.equal(logits.grad, logits.data, "the gradient lives in the logits buffer");
        grads.push(w.grad!.slice(), x.grad!.slice());
      }
      assertClose(grads[2]!, grads[0]!, TOL.f32, "dw");
      assertClose(grads[3]!, grads[1]!, TOL.f32, "dx");
    }),
  );

  test(
    "a small attention block: every gradient vs finite differences",
    skip(
      "rmsnormForward",
      "rmsnormBackward",
      "ropeForward",
      "ropeBackward",
      "attentionForward",
      "attentionBackward",
      "add",
      "axpy",
      "swigluForward",
      "swigluBackward",
    ),
    () =>
      using(c, () => {
        const r = rng(23);
        const B = 1,
          T = 3,
          C = 8,
          H = 2,
          KVH = 1,
          D = 4,
          F = 6;
        const x = leaf(r, [B, T, C]);
        const n1 = leaf(r, [C], 0.2),
          wq = leaf(r, [H * D, C], 0.4),
          wk = leaf(r, [KVH * D, C], 0.4),
          wv = leaf(r, [KVH * D, C], 0.4),
          wo = leaf(r, [C, H * D], 0.4);
        const wg = leaf(r, [F, C], 0.4),
          wu = leaf(r, [F, C], 0.4),
          wd = leaf(r, [C, F], 0.4);
        for (let i = 0; i < C; i++) n1.data[i]! += 1;
        const table = ropeTable(8, D);
        const block = (t: Tape) => {
          const pos = sequencePositions(t, B, T);
          const h = rmsnorm(t, x, n1);
          const q = rope(t, linear(t, h, wq), table, pos, { heads: H });
          const k = rope(t, linear(t, h, wk), table, pos, { heads: KVH });
          const a = attention(t, q, k, linear(t, h, wv), { batch: B, seqLen: T, heads: H, kvHeads: KVH });
          const x2 = add(t, x, linear(t, a, wo));
          return add(t, x2, linear(t, swiglu(t, linear(t, x2, wg), linear(t, x2, wu)), wd));
        };
        checkTapeGradients("block", r, { x, n1, wq, wk, wv, wo, wg, wu, wd }, block, { samples: 12 });
      }),
  );
});

test("ops reject mismatched shapes with ShapeError", () => {
  const g = new Tape();
  const x = Tensor.zeros([2, 3]);
  assert.throws(() => linear(g, x, Tensor.zeros([4, 5])), ShapeError);
  assert.throws(() => linear(g, x, Tensor.zeros([4, 3]), Tensor.zeros([3])), /bias/);
  assert.throws(() => matmul(g, x, Tensor.zeros([4, 2])), /inner dimensions/);
  assert.throws(() => add(g, x, Tensor.zeros([3, 2])), /no broadcasting/);
  assert.throws(() => swiglu(g, x, Tensor.zeros([6])), ShapeError);
  assert.throws(() => attention(g, x, x, x, { batch: 1, seqLen: 2, heads: 2, kvHeads: 3 }), /multiple of kvHeads/);
  assert.throws(() => attention(g, x, x, x, { batch: 2, seqLen: 2, heads: 1 }), /rows/);
  assert.throws(() => columns(x, 2, 2), /do not fit/);
});
