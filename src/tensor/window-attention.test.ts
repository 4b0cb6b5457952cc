// The sliding-window attention kernels (window-attention.ts) and the tape's
// windowed attention, rmsnorm per head / with an offset, and GeGLU: a window
// that does not cut equals the causal kernels of every backend; a window that
// cuts equals a brute-force masked softmax; decode equals the forward's rows;
// every gradient matches finite differences.
import assert from "node:assert/strict";
import { test } from "node:test";

import { attentionReference } from "../native/reference/attention.ts";
import { TOL, assertClose, forEachBackend, randn, rng, using } from "../native/testing.ts";
import { attention, geglu, gelu, rmsnorm } from "./ops.ts";
import { Tape } from "./tape.ts";
import { Parameter, Tensor } from "./tensor.ts";
import { checkTapeGradients, missingKernels } from "./testing.ts";
import { windowAttentionBackward, windowAttentionDecode, windowAttentionForward } from "./window-attention.ts";

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

/** out (B,T,H,D) by materialising every score with the mask j <= i && i - j < window. */
function bruteForce(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  b: number,
  t: number,
  h: number,
  kvh: number,
  d: number,
  scale: number,
  window: number,
): Float32Array {
  const out = new Float32Array(b * t * h * d);
  for (let bi = 0; bi < b; bi++)
    for (let hh = 0; hh < h; hh++)
      for (let i = 0; i < t; i++) {
        const g = Math.floor(hh / (h / kvh));
        const s = new Float64Array(t).fill(-Infinity);
        for (let j = 0; j < t; j++) {
          if (j > i || i - j >= window) continue;
          let dot = 0;
          for (let x = 0; x < d; x++) dot += q[((bi * t + i) * h + hh) * d + x]! * k[((bi * t + j) * kvh + g) * d + x]!;
          s[j] = dot * scale;
        }
        const m = Math.max(...s);
        let z = 0;
        for (let j = 0; j < t; j++) z += Math.exp(s[j]! - m);
        for (let x = 0; x < d; x++) {
          let acc = 0;
          for (let j = 0; j < t; j++) acc += (Math.exp(s[j]! - m) / z) * v[((bi * t + j) * kvh + g) * d + x]!;
          out[((bi * t + i) * h + hh) * d + x] = acc;
        }
      }
  return out;
}

test("window kernels: a window >= T is causal attention; a cutting window is the masked softmax; decode equals forward rows", () => {
  const r = rng(41);
  const B = 2,
    T = 7,
    H = 4,
    KVH = 2,
    D = 5,
    scale = 0.37;
  const q = randn(r, B * T * H * D),
    k = randn(r, B * T * KVH * D),
    v = randn(r, B * T * KVH * D);
  const dout = randn(r, B * T * H * D);
  const ref = { out: new Float32Array(B * T * H * D), lse: new Float32Array(B * H * T) };
  attentionReference.attentionForward(ref.out, ref.lse, q, H * D, k, KVH * D, v, KVH * D, B, T, H, KVH, D, scale);
  const win = { out: new Float32Array(B * T * H * D), lse: new Float32Array(B * H * T) };
  windowAttentionForward(win.out, win.lse, q, H * D, k, KVH * D, v, KVH * D, B, T, H, KVH, D, scale, T);
  assertClose(win.out, ref.out, TOL.f32, "window T forward");
  assertClose(win.lse, ref.lse, TOL.f32, "window T lse");
  const g1 = [new Float32Array(q.length), new Float32Array(k.length), new Float32Array(v.length)] as const;
  const g2 = [new Float32Array(q.length), new Float32Array(k.length), new Float32Array(v.length)] as const;
  attentionReference.attentionBackward(g1[0], g1[1], g1[2], dout, q, H * D, k, KVH * D, v, KVH * D, ref.out, ref.lse, B, T, H, KVH, D, scale);
  windowAttentionBackward(g2[0], g2[1], g2[2], dout, q, H * D, k, KVH * D, v, KVH * D, win.out, win.lse, B, T, H, KVH, D, scale, T + 3);
  for (let i = 0; i < 3; i++) assertClose(g2[i]!, g1[i]!, TOL.f32, `window > T backward ${"qkv"[i]}`);

  for (const W of [1, 2, 3, 5]) {
    const out = new Float32Array(B * T * H * D),
      lse = new Float32Array(B * H * T);
    windowAttentionForward(out, lse, q, H * D, k, KVH * D, v, KVH * D, B, T, H, KVH, D, scale, W);
    assertClose(out, bruteForce(q, k, v, B, T, H, KVH, D, scale, W), TOL.f32, `window ${W} forward`);
    if (W === 1) assert.ok(Math.abs(out[0]! - v[0]!) < 1e-6, "a window of 1 returns the token's own value");
    // Decode: the cache (B,KVH,maxT,D) holds all T keys; queries T-3..T-1 continue after a prefix of T-3.
    const maxT = T + 2,
      tq = 3;
    const kc = new Float32Array(B * KVH * maxT * D),
      vc = new Float32Array(B * KVH * maxT * D);
    for (let bi = 0; bi < B; bi++)
      for (let t = 0; t < T; t++)
        for (let g = 0; g < KVH; g++) {
          kc.set(k.subarray(((bi * T + t) * KVH + g) * D, ((bi * T + t) * KVH + g + 1) * D), ((bi * KVH + g) * maxT + t) * D);
          vc.set(v.subarray(((bi * T + t) * KVH + g) * D, ((bi * T + t) * KVH + g + 1) * D), ((bi * KVH + g) * maxT + t) * D);
        }
    const qd = new Float32Array(B * tq * H * D),
      want = new Float32Array(B * tq * H * D);
    for (let bi = 0; bi < B; bi++) {
      qd.set(q.subarray((bi * T + T - tq) * H * D, (bi * T + T) * H * D), bi * tq * H * D);
      want.set(out.subarray((bi * T + T - tq) * H * D, (bi * T + T) * H * D), bi * tq * H * D);
    }
    const got = new Float32Array(B * tq * H * D);
    windowAttentionDecode(got, qd, kc, vc, Int32Array.from([T - tq, T - tq]), B, tq, H, KVH, D, maxT, scale, W);
    assertClose(got, want, TOL.f32, `window ${W} decode`);
    // onlyCut: queries before the window cuts are left alone, the rest computed.
    const part = new Float32Array(B * tq * H * D).fill(NaN);
    windowAttentionDecode(part, qd, kc, vc, Int32Array.from([T - tq, T - tq]), B, tq, H, KVH, D, maxT, scale, W, true);
    for (let bi = 0; bi < B; bi++)
      for (let i = 0; i < tq; i++) {
        const row = part.subarray((bi * tq + i) * H * D, (bi * tq + i + 1) * H * D);
        if (T - tq + i < W) assert.ok(row.every(Number.isNaN), `window ${W}: row ${i} untouched`);
        else assertClose(row, want.subarray((bi * tq + i) * H * D, (bi * tq + i + 1) * H * D), TOL.f32, `window ${W} onlyCut row ${i}`);
      }
  }
});

forEachBackend("windowed attention and Gemma ops on the tape", (c) => {
  const skip = (...names: Parameters<typeof missingKernels>[1][]) => ({ skip: missingKernels(c.backend, ...names) });

  test("attention with a window: >= T equals the causal kernels, < T matches finite differences", skip("attentionForward", "attentionBackward"), () =>
    using(c, () => {
      const r = rng(42);
      const B = 2,
        T = 6,
        H = 2,
        KVH = 1,
        D = 3;
      const q = leaf(r, [B, T, H * D]),
        k = leaf(r, [B, T, KVH * D]),
        v = leaf(r, [B, T, KVH * D]);
      const opts = { batch: B, seqLen: T, heads: H, kvHeads: KVH, scale: 0.5 };
      const plain = attention(new Tape({ grad: false }), q, k, v, opts).data;
      assertClose(attention(new Tape({ grad: false }), q, k, v, { ...opts, window: T }).data, plain, TOL.f32, "window T");
      checkTapeGradients("attention window 3", r, { q, k, v }, (t) => attention(t, q, k, v, { ...opts, window: 3 }), { samples: 24 });
      // Inference (causal kernel, then the TypeScript kernel on the cut rows only) = the training path.
      const train = attention(new Tape(), q, k, v, { ...opts, window: 3 }).data.slice();
      assertClose(attention(new Tape({ grad: false }), q, k, v, { ...opts, window: 3 }).data, train, TOL.f32, "inference window 3");
      assert.throws(() => attention(new Tape(), q, k, v, { ...opts, window: 0 }), /window must be a positive integer/);
    }),
  );

  test("rmsnorm per head with a (1 + w) scale: values and gradients", skip("rmsnormForward", "rmsnormBackward"), () =>
    using(c, () => {
      const r = rng(43);
      const x = leaf(r, [3, 4 * 5]); // 3 rows, 4 heads of 5
      const w = new Parameter(randn(r, 5, 0.3), [5]);
      const out = rmsnorm(new Tape({ grad: false }), x, w, 1e-6, { heads: 4, offset: 1 }).data;
      for (let row = 0; row < 12; row++) {
        const s = x.data.subarray(row * 5, row * 5 + 5);
        const rstd = 1 / Math.sqrt(s.reduce((a, b) => a + b * b, 0) / 5 + 1e-6);
        assertClose(
          out.subarray(row * 5, row * 5 + 5),
          Array.from(s, (v, i) => v * rstd * (1 + w.data[i]!)),
          TOL.f32,
          `head row ${row}`,
        );
      }
      checkTapeGradients("rmsnorm heads offset", r, { x, w }, (t) => rmsnorm(t, x, w, 1e-6, { heads: 4, offset: 1 }));
      assert.throws(() => rmsnorm(new Tape(), x, w, 1e-6, { heads: 3 }), /does not split into 3 heads/);
    }),
  );

  test("geglu: gelu(gate) · up, gradients vs finite differences", skip("geluForward", "geluBackward"), () =>
    using(c, () => {
      const r = rng(44);
      const gate = leaf(r, [3, 8]),
        up = leaf(r, [3, 8]);
      const out = geglu(new Tape({ grad: false }), gate, up).data;
      const ge = gelu(new Tape({ grad: false }), gate).data;
      assertClose(
        out,
        Array.from(ge, (v, i) => v * up.data[i]!),
        TOL.f32,
        "geglu",
      );
      checkTapeGradients("geglu", r, { gate, up }, (t) => geglu(t, gate, up));
    }),
  );
});
