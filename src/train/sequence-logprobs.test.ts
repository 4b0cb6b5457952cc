import assert from "node:assert/strict";
import { test } from "node:test";

import { dequantize, quantize } from "../formats/quant.ts";
import { qweight } from "../native/ops/qgemm.ts";
import { TOL, assertClose, forEachBackend, quantizedModelTol, randn, rng, using } from "../native/testing.ts";
import { Parameter, Tape, Tensor } from "../tensor/index.ts";
import { sequenceLogProbs } from "./sequence-logprobs.ts";

const R = 4,
  T = 5,
  C = 6,
  V = 11;

/** Plain float64: logp (R), and for upstream g (R) the gradients dx (N,C), dw (V,C) of Σ g_r·logp_r. */
function reference(x: Float32Array, w: Float32Array, targets: Int32Array, g: number[]): { logp: number[]; dx: Float64Array; dw: Float64Array } {
  const logp = new Array<number>(R).fill(0),
    dx = new Float64Array(R * T * C),
    dw = new Float64Array(V * C);
  for (let i = 0; i < R * T; i++) {
    const tg = targets[i]!;
    if (tg === -100) continue;
    const z = Array.from({ length: V }, (_, v) => {
      let s = 0;
      for (let k = 0; k < C; k++) s += x[i * C + k]! * w[v * C + k]!;
      return s;
    });
    const mx = Math.max(...z),
      lse = mx + Math.log(z.reduce((a, b) => a + Math.exp(b - mx), 0));
    const r = Math.floor(i / T);
    logp[r] += z[tg]! - lse;
    for (let v = 0; v < V; v++) {
      const d = g[r]! * ((v === tg ? 1 : 0) - Math.exp(z[v]! - lse)); // d(g·logp)/dz_v
      for (let k = 0; k < C; k++) {
        dx[i * C + k] += d * w[v * C + k]!;
        dw[v * C + k] += d * x[i * C + k]!;
      }
    }
  }
  return { logp, dx, dw };
}

forEachBackend("sequenceLogProbs", (c) => {
  test("per-sequence sums and gradients (input and trained head) match plain float64, chunked or not", () =>
    using(c, () => {
      const r = rng(5);
      const xs = randn(r, R * T * C),
        ws = randn(r, V * C, 0.5);
      const targets = Int32Array.from({ length: R * T }, (_, i) => (i % T < 2 ? -100 : r.int(V))); // prompt positions ignored
      targets[R * T - 1] = -100;
      const g = [0.7, -1.3, 0.2, 2.1];
      const want = reference(xs, ws, targets, g);
      for (const chunkSequences of [undefined, 1, 3]) {
        const tape = new Tape();
        const x = new Tensor(xs.slice(), [R * T, C], true);
        const w = new Parameter(ws.slice(), [V, C]);
        const lp = sequenceLogProbs(tape, x, w, targets, R, { chunkSequences });
        assertClose(lp.data, want.logp, TOL.f32, `logp (chunks of ${chunkSequences})`);
        tape.backward(lp, Float32Array.from(g));
        assertClose(x.grad!, want.dx, TOL.f32Loose, "dx");
        assertClose(w.grad!, want.dw, TOL.f32Loose, "dw");
      }
    }));

  test("a frozen head gets no gradient; a sequence without targets is 0", () =>
    using(c, () => {
      const r = rng(6);
      const tape = new Tape();
      const x = new Tensor(randn(r, 2 * T * C), [2 * T, C], true);
      const w = new Parameter(randn(r, V * C), [V, C], { requiresGrad: false });
      const targets = Int32Array.from({ length: 2 * T }, (_, i) => (i < T ? -100 : r.int(V)));
      const lp = sequenceLogProbs(tape, x, w, targets, 2);
      assert.equal(lp.data[0], 0);
      assert.ok(lp.data[1]! < 0);
      tape.backward(lp, Float32Array.from([1, 1]));
      assert.equal(w.grad?.length ?? 0, 0, "a frozen head holds no gradient buffer");
      assert.ok(x.grad!.subarray(0, T * C).every((v) => v === 0));
      assert.throws(() => sequenceLogProbs(new Tape(), x, w, targets, 3), /do not split into 3 sequences/);
      assert.throws(
        () =>
          sequenceLogProbs(
            new Tape(),
            x,
            w,
            Int32Array.from(targets, () => V),
            2,
          ),
        /outside \[0, 11\)/,
      );
    }));

  test("a head held quantized (q8_0) gives what its dequantized float32 values give", () =>
    using(c, () => {
      const r = rng(8);
      const n = 3,
        Tq = 16,
        Cq = 64,
        Vq = 40; // 48 rows: the quantized kernels' prefill path
      const xs = randn(r, n * Tq * Cq),
        bytes = quantize("Q8_0", randn(r, Vq * Cq, 0.2));
      const targets = Int32Array.from({ length: n * Tq }, (_, i) => (i % Tq < 3 ? -100 : r.int(Vq)));
      const run = (w: Parameter) => {
        const tape = new Tape();
        const x = new Tensor(xs.slice(), [n * Tq, Cq], true);
        const lp = sequenceLogProbs(tape, x, w, targets, n);
        tape.backward(lp, Float32Array.from([1, -0.5, 2]));
        return { lp: lp.data.slice(), dx: x.grad!.slice() };
      };
      const wq = new Parameter(new Float32Array(Vq * Cq), [Vq, Cq], { requiresGrad: false });
      wq.setQuantized(qweight("Q8_0", bytes, Vq, Cq));
      const q = run(wq),
        f = run(new Parameter(dequantize("Q8_0", bytes, Vq * Cq), [Vq, Cq], { requiresGrad: false }));
      assertClose(q.lp, f.lp, quantizedModelTol(c, TOL.f32Loose), "logp");
      if (quantizedModelTol(c, TOL.f32Loose) === TOL.f32Loose) assertClose(q.dx, f.dx, TOL.f32Loose, "dx");
      else {
        // 8-bit activations in the forward move every softmax a little: compare dx as a whole.
        let num = 0,
          den = 0;
        q.dx.forEach((v, i) => ((num += (v - f.dx[i]!) ** 2), (den += f.dx[i]! ** 2)));
        assert.ok(Math.sqrt(num / den) <= TOL.int8Act.rtol, `dx relative error ${Math.sqrt(num / den)}`);
      }
    }));
});
