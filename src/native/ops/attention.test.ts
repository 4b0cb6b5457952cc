// Attention kernels on every backend: forward, backward and decode against the
// reference on odd sizes (1, 7, 33, 129), GQA and strided views into one fused qkv
// buffer; finite-difference gradients; decode equal to the last rows of a full
// forward; bad arguments.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ShapeError } from "../../errors.ts";
import { referenceBackend } from "../reference.ts";
import { TOL, assertClose, checkGradient, dot, againstReference, forEachBackend, randn, rng, using } from "../testing.ts";
import { attentionBackward, attentionDecode, attentionForward } from "./attention.ts";

type Shape = { b: number; t: number; h: number; kvh: number; d: number };

/** q, k, v as views into one fused (B,T, H·D + 2·KVH·D + extra) buffer, or separate contiguous arrays. */
function makeQkv(r: ReturnType<typeof rng>, s: Shape, fused: boolean) {
  const { b, t, h, kvh, d } = s;
  if (!fused) {
    return { q: randn(r, b * t * h * d), k: randn(r, b * t * kvh * d), v: randn(r, b * t * kvh * d), qs: h * d, ks: kvh * d, vs: kvh * d };
  }
  const stride = (h + 2 * kvh) * d + 3;
  const all = randn(r, b * t * stride);
  return { q: all.subarray(0), k: all.subarray(h * d), v: all.subarray((h + kvh) * d), qs: stride, ks: stride, vs: stride, all };
}

forEachBackend("attention", (c) => {
  const ref = c.backend.name === "reference";
  const shapes: (Shape & { fused: boolean })[] = ref
    ? [
        { b: 1, t: 1, h: 1, kvh: 1, d: 1, fused: false },
        { b: 2, t: 7, h: 4, kvh: 2, d: 3, fused: true },
      ]
    : [
        { b: 1, t: 1, h: 1, kvh: 1, d: 1, fused: false },
        { b: 2, t: 7, h: 2, kvh: 1, d: 7, fused: true },
        { b: 1, t: 33, h: 3, kvh: 3, d: 33, fused: false },
        { b: 1, t: 129, h: 4, kvh: 2, d: 16, fused: true },
        { b: 2, t: 65, h: 2, kvh: 2, d: 64, fused: false },
        { b: 1, t: 129, h: 1, kvh: 1, d: 129, fused: true },
        { b: 3, t: 33, h: 6, kvh: 1, d: 32, fused: false },
        { b: 1, t: 200, h: 2, kvh: 1, d: 8, fused: true },
      ];

  test("forward and backward match the reference (odd sizes, GQA, fused strided qkv)", againstReference(c), () =>
    using(c, () => {
      const r = rng(21);
      for (const s of shapes) {
        const { b, t, h, kvh, d } = s;
        const scale = 1 / Math.sqrt(d);
        const { q, k, v, qs, ks, vs } = makeQkv(r, s, s.fused);
        const what = `b${b} t${t} h${h} kvh${kvh} d${d} fused=${s.fused}`;
        const out = new Float32Array(b * t * h * d),
          lse = new Float32Array(b * h * t);
        const wOut = new Float32Array(out.length),
          wLse = new Float32Array(lse.length);
        attentionForward(out, lse, q, qs, k, ks, v, vs, b, t, h, kvh, d, scale);
        referenceBackend.attentionForward(wOut, wLse, q, qs, k, ks, v, vs, b, t, h, kvh, d, scale);
        assertClose(out, wOut, TOL.f32, `out ${what}`);
        assertClose(lse, wLse, TOL.f32, `lse ${what}`);
        // backward adds into gradients that already hold values, laid out like q, k, v
        const dout = randn(r, out.length);
        const g = makeQkv(r, s, s.fused);
        const w = { q: g.q.slice(), k: g.k.slice(), v: g.v.slice() };
        const before = (g as { all?: Float32Array }).all?.slice();
        attentionBackward(g.q, g.k, g.v, dout, q, qs, k, ks, v, vs, wOut, wLse, b, t, h, kvh, d, scale);
        referenceBackend.attentionBackward(w.q, w.k, w.v, dout, q, qs, k, ks, v, vs, wOut, wLse, b, t, h, kvh, d, scale);
        if (s.fused) {
          // the gradient views share one buffer: compare all of it, the gap columns unchanged;
          // the reference wrote into separate copies of each view, read back per column range
          const gotAll = (g as { all?: Float32Array }).all!;
          const wantAll = new Float32Array(gotAll.length);
          const n = b * t,
            stride = qs;
          for (let row = 0; row < n; row++) {
            for (let x = 0; x < stride; x++) wantAll[row * stride + x] = before![row * stride + x]!;
            for (let x = 0; x < h * d; x++) wantAll[row * stride + x] = w.q[row * stride + x]!;
            for (let x = 0; x < kvh * d; x++) wantAll[row * stride + h * d + x] = w.k[row * stride + x]!;
            for (let x = 0; x < kvh * d; x++) wantAll[row * stride + (h + kvh) * d + x] = w.v[row * stride + x]!;
          }
          assertClose(gotAll, wantAll, TOL.f32Loose, `fused dqkv ${what}`);
        } else {
          assertClose(g.q, w.q, TOL.f32Loose, `dq ${what}`);
          assertClose(g.k, w.k, TOL.f32Loose, `dk ${what}`);
          assertClose(g.v, w.v, TOL.f32Loose, `dv ${what}`);
        }
      }
    }),
  );

  test("backward is the gradient of the forward (finite differences on q, k, v)", () =>
    using(c, () => {
      const r = rng(22);
      const s: Shape = ref ? { b: 1, t: 9, h: 2, kvh: 1, d: 3 } : { b: 2, t: 70, h: 2, kvh: 1, d: 5 };
      const { b, t, h, kvh, d } = s;
      const scale = 0.7;
      const { q, k, v, qs, ks, vs } = makeQkv(r, s, true);
      const out = new Float32Array(b * t * h * d),
        lse = new Float32Array(b * h * t);
      const wts = randn(r, out.length);
      const loss = () => (attentionForward(out, lse, q, qs, k, ks, v, vs, b, t, h, kvh, d, scale), dot(out, wts));
      loss();
      const dq = new Float32Array(q.length),
        dk = new Float32Array(k.length),
        dv = new Float32Array(v.length);
      attentionBackward(dq, dk, dv, wts, q, qs, k, ks, v, vs, out, lse, b, t, h, kvh, d, scale);
      // only the q, k, v columns of the fused rows carry gradient; sample those
      const pick = (offset: number, width: number) => {
        const idx = new Set<number>();
        while (idx.size < 12) idx.add(r.int(b * t) * qs + offset + r.int(width));
        return [...idx];
      };
      for (const [name, x, gr, off, width] of [
        ["q", q, dq, 0, h * d],
        ["k", k, dk, 0, kvh * d],
        ["v", v, dv, 0, kvh * d],
      ] as const) {
        const idx = pick(off, width);
        const xs = new Float32Array(idx.length),
          gs = new Float32Array(idx.length);
        idx.forEach((i, n) => ((xs[n] = x[i]!), (gs[n] = gr[i]!)));
        // checkGradient perturbs xs[n]; mirror it into the real buffer inside the loss
        checkGradient(
          `attention d${name}`,
          xs,
          gs,
          () => {
            idx.forEach((i, n) => (x[i] = xs[n]!));
            return loss();
          },
          { eps: 1e-2, samples: idx.length },
        );
        idx.forEach((i, n) => (x[i] = xs[n]!));
      }
    }));

  test("decode equals the last rows of a full forward (Tq = 1 and > 1, different starts, long caches)", () =>
    using(c, () => {
      const r = rng(23);
      const cases = ref
        ? [
            { starts: [0, 4], tq: 1, h: 2, kvh: 1, d: 3, maxT: 8 },
            { starts: [3, 1], tq: 2, h: 2, kvh: 2, d: 5, maxT: 8 },
          ]
        : [
            { starts: [0, 5, 40], tq: 1, h: 4, kvh: 2, d: 16, maxT: 50 },
            { starts: [700], tq: 1, h: 2, kvh: 1, d: 64, maxT: 1024 },
            { starts: [300, 9], tq: 3, h: 3, kvh: 1, d: 7, maxT: 310 },
            { starts: [70, 3], tq: 20, h: 4, kvh: 2, d: 33, maxT: 100 },
            { starts: [0], tq: 129, h: 1, kvh: 1, d: 8, maxT: 129 },
          ];
      for (const { starts, tq, h, kvh, d, maxT } of cases) {
        const b = starts.length,
          scale = 1 / Math.sqrt(d);
        // garbage everywhere in the caches, so reading a position not yet written shows
        const kCache = randn(r, b * kvh * maxT * d, 100),
          vCache = randn(r, b * kvh * maxT * d, 100);
        const q = randn(r, b * tq * h * d);
        const want = new Float32Array(q.length);
        for (let bi = 0; bi < b; bi++) {
          const len = starts[bi]! + tq;
          // the sequence's full q, k, v (T = len): random earlier queries, the decode queries last
          const fq = randn(r, len * h * d),
            fk = new Float32Array(len * kvh * d),
            fv = new Float32Array(len * kvh * d);
          fq.set(q.subarray(bi * tq * h * d, (bi + 1) * tq * h * d), starts[bi]! * h * d);
          for (let j = 0; j < len; j++) {
            for (let g = 0; g < kvh; g++) {
              const src = ((bi * kvh + g) * maxT + j) * d;
              const vals = randn(r, 2 * d);
              kCache.set(vals.subarray(0, d), src);
              vCache.set(vals.subarray(d), src);
              fk.set(vals.subarray(0, d), (j * kvh + g) * d);
              fv.set(vals.subarray(d), (j * kvh + g) * d);
            }
          }
          const fo = new Float32Array(len * h * d),
            fl = new Float32Array(h * len);
          referenceBackend.attentionForward(fo, fl, fq, h * d, fk, kvh * d, fv, kvh * d, 1, len, h, kvh, d, scale);
          want.set(fo.subarray(starts[bi]! * h * d), bi * tq * h * d);
        }
        const got = new Float32Array(q.length);
        attentionDecode(got, q, kCache, vCache, Int32Array.from(starts), b, tq, h, kvh, d, maxT, scale);
        assertClose(got, want, TOL.f32Loose, `decode starts=${starts} tq=${tq} h${h} kvh${kvh} d${d}`);
      }
    }));

  test("rejects bad arguments with ShapeError", () =>
    using(c, () => {
      const b = 1,
        t = 4,
        h = 2,
        kvh = 1,
        d = 3;
      const q = new Float32Array(t * h * d),
        k = new Float32Array(t * kvh * d),
        v = new Float32Array(t * kvh * d);
      const out = new Float32Array(t * h * d),
        lse = new Float32Array(h * t);
      const fwd = (o: Partial<{ q: Float32Array; qs: number; h: number; kvh: number; d: number; t: number; lse: Float32Array; scale: number }>) =>
        attentionForward(out, o.lse ?? lse, o.q ?? q, o.qs ?? h * d, k, kvh * d, v, kvh * d, b, o.t ?? t, o.h ?? h, o.kvh ?? kvh, o.d ?? d, o.scale ?? 1);
      fwd({});
      assert.throws(() => fwd({ h: 3, kvh: 2, qs: 9 }), /not a multiple of kvh/);
      assert.throws(() => fwd({ qs: h * d - 1 }), /qStride must be an integer >= the row width/);
      assert.throws(() => fwd({ q: q.subarray(1) }), ShapeError);
      assert.throws(() => fwd({ lse: lse.subarray(1) }), ShapeError);
      assert.throws(() => fwd({ t: 0 }), ShapeError);
      assert.throws(() => fwd({ d: 1.5 }), ShapeError);
      assert.throws(() => fwd({ scale: NaN }), ShapeError);
      assert.throws(() => attentionBackward(q, k, v.subarray(1), out, q, h * d, k, kvh * d, v, kvh * d, out, lse, b, t, h, kvh, d, 1), /dv has/);
      const cache = new Float32Array(b * kvh * 8 * d);
      const dq = new Float32Array(2 * h * d);
      attentionDecode(dq, dq.slice(), cache, cache, new Int32Array([6]), 1, 2, h, kvh, d, 8, 1);
      assert.throws(() => attentionDecode(dq, dq.slice(), cache, cache, new Int32Array([7]), 1, 2, h, kvh, d, 8, 1), /starts\[0\] = 7/);
      assert.throws(() => attentionDecode(dq, dq.slice(), cache, cache, new Int32Array([-1]), 1, 2, h, kvh, d, 8, 1), ShapeError);
      assert.throws(() => attentionDecode(dq, dq.slice(), cache, cache, new Int32Array([]), 1, 2, h, kvh, d, 8, 1), ShapeError);
      assert.throws(() => attentionDecode(dq, dq.slice(), cache.subarray(1), cache, new Int32Array([0]), 1, 2, h, kvh, d, 8, 1), /kCache/);
      if (!ref) {
        // the binding checks sizes and starts itself, whatever the wrapper did
        assert.throws(() => c.backend.attentionDecode(dq, dq.slice(), cache, cache, new Int32Array([7]), 1, 2, h, kvh, d, 8, 1), RangeError);
        assert.throws(() => c.backend.attentionForward(out, lse, q.subarray(1), h * d, k, kvh * d, v, kvh * d, b, t, h, kvh, d, 1), RangeError);
      }
    }));
});
