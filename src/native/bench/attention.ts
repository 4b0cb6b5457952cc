// Benchmark cases for the attention and rope kernels (the runner times them).
// Attention FLOPs count the matmuls of the causal lower triangle only:
// forward 2 (q·kᵀ, p·v) = 4·B·H·D·T(T+1)/2, backward 5 (recomputed q·kᵀ, dv, dp, dq, dk)
// = 10·B·H·D·T(T+1)/2. Decode and rope are memory-bound: bytes read + written.
// Knows nothing about how the cases are timed or printed.
import { Rng } from "../../util/rng.ts";
import { attentionBackward, attentionDecode, attentionForward } from "../ops/attention.ts";
import { ropeBackward, ropeForward, ropeTables } from "../ops/rope.ts";
import type { BenchCase } from "./types.ts";

type Shape = { b: number; t: number; h: number; kvh: number; d: number };

function randn(r: Rng, n: number): Float32Array {
  return r.fillNormal(new Float32Array(n), 0, 1);
}

/** Buffers for one attention call: q, k, v as views into one fused qkv buffer, as projections produce them. */
function setup(s: Shape) {
  const { b, t, h, kvh, d } = s;
  const r = new Rng(1);
  const stride = (h + 2 * kvh) * d;
  const qkv = randn(r, b * t * stride);
  const q = qkv.subarray(0),
    k = qkv.subarray(h * d),
    v = qkv.subarray((h + kvh) * d);
  const out = new Float32Array(b * t * h * d),
    lse = new Float32Array(b * h * t);
  const dqkv = new Float32Array(qkv.length);
  const dq = dqkv.subarray(0),
    dk = dqkv.subarray(h * d),
    dv = dqkv.subarray((h + kvh) * d);
  const dout = randn(r, out.length);
  const scale = 1 / Math.sqrt(d);
  const fwd = () => attentionForward(out, lse, q, stride, k, stride, v, stride, b, t, h, kvh, d, scale);
  const bwd = () => attentionBackward(dq, dk, dv, dout, q, stride, k, stride, v, stride, out, lse, b, t, h, kvh, d, scale);
  return { fwd, bwd };
}

function label(s: Shape): string {
  return `B${s.b} H${s.h} KVH${s.kvh} T${s.t} D${s.d}`;
}

/** Matmul FLOPs of one causal pass with `mats` T×T×D products over the lower triangle. */
function causalFlops(s: Shape, mats: number): number {
  return (2 * mats * s.b * s.h * s.d * (s.t * (s.t + 1))) / 2;
}

function trainingCases(s: Shape): BenchCase[] {
  return [
    { op: "attention fwd", shape: label(s), flops: causalFlops(s, 2), prepare: () => setup(s).fwd },
    {
      op: "attention bwd",
      shape: label(s),
      flops: causalFlops(s, 5),
      prepare: () => {
        const x = setup(s);
        x.fwd();
        return x.bwd;
      },
    },
    {
      op: "attention fwd+bwd",
      shape: label(s),
      flops: causalFlops(s, 7),
      prepare: () => {
        const x = setup(s);
        return () => (x.fwd(), x.bwd());
      },
    },
  ];
}

function decodeCase(b: number, h: number, kvh: number, d: number, maxT: number): BenchCase {
  // every sequence's single query sees the whole cache: starts = maxT - 1
  const kvBytes = 2 * b * kvh * maxT * d * 4;
  return {
    op: "attention decode",
    shape: `B${b} H${h} KVH${kvh} maxT${maxT} D${d} Tq1`,
    flops: 4 * b * h * d * maxT,
    bytes: kvBytes + 2 * b * h * d * 4,
    prepare: () => {
      const r = new Rng(2);
      const kc = randn(r, b * kvh * maxT * d),
        vc = randn(r, b * kvh * maxT * d);
      const q = randn(r, b * h * d),
        out = new Float32Array(b * h * d);
      const starts = new Int32Array(b).fill(maxT - 1);
      return () => attentionDecode(out, q, kc, vc, starts, b, 1, h, kvh, d, maxT, 1 / Math.sqrt(d));
    },
  };
}

function ropeCase(n: number, h: number, d: number, backward: boolean): BenchCase {
  const elems = n * h * d;
  return {
    op: backward ? "rope bwd" : "rope fwd",
    shape: `N${n} H${h} D${d}`,
    // forward in place: read + write; backward: read dout, read + write dinp
    bytes: (backward ? 3 : 2) * elems * 4,
    prepare: () => {
      const r = new Rng(3);
      const { cos, sin } = ropeTables(n, d, 10000);
      const x = randn(r, elems),
        g = randn(r, elems);
      const pos = new Int32Array(n).map((_, i) => i % n);
      return backward ? () => ropeBackward(g, x, cos, sin, pos, n, h, d, d, false) : () => ropeForward(x, x, cos, sin, pos, n, h, d, d, false);
    },
  };
}

export const attentionCases: BenchCase[] = [
  ...trainingCases({ b: 8, t: 256, h: 6, kvh: 6, d: 64 }),
  ...trainingCases({ b: 8, t: 256, h: 8, kvh: 2, d: 64 }),
  decodeCase(1, 6, 6, 64, 256),
  decodeCase(1, 6, 6, 64, 1024),
  decodeCase(8, 6, 6, 64, 256),
  decodeCase(8, 6, 6, 64, 1024),
  ropeCase(8 * 256, 6, 64, false),
  ropeCase(8 * 256, 6, 64, true),
];
