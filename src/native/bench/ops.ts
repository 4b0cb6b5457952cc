// Benchmark cases for the element-wise, norm, loss, optimizer and embedding
// kernels, at the sizes a small model's training step uses. All of them are
// memory-bound, so each case reports `bytes` (read + written once per call)
// for GB/s. Calls go through the validating wrappers, as the library's do.
// Knows nothing about timing or printing: the runner does that.
import { Rng } from "../../util/rng.ts";
import { add, geluBackward, geluForward, softmaxForward, swigluBackward, swigluForward } from "../ops/activation.ts";
import { embeddingBackward, embeddingForward } from "../ops/embed.ts";
import { crossEntropyBackward, crossEntropyForward } from "../ops/loss.ts";
import { layernormBackward, layernormForward, rmsnormBackward, rmsnormForward } from "../ops/norm.ts";
import { adamwStep, sumSquares } from "../ops/optim.ts";
import type { BenchCase } from "./types.ts";

const F = 4; // bytes per float32 / int32

function randn(n: number, seed: number, scale = 1): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(n), 0, scale);
}

function ids(n: number, v: number, seed: number): Int32Array {
  const r = new Rng(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = r.int(v);
  return out;
}

function normCases(n: number, c: number): BenchCase[] {
  const shape = `${n}x${c}`;
  const nc = n * c;
  return [
    {
      op: "rmsnorm fwd",
      shape,
      bytes: F * (2 * nc + c + n),
      prepare() {
        const inp = randn(nc, 1),
          w = randn(c, 2),
          out = new Float32Array(nc),
          rstd = new Float32Array(n);
        return () => rmsnormForward(out, rstd, inp, w, n, c, 1e-5);
      },
    },
    {
      op: "rmsnorm bwd",
      shape,
      bytes: F * (4 * nc + 3 * c + n), // dinp read+write, dout, inp; weight, dweight r+w; rstd
      prepare() {
        const inp = randn(nc, 1),
          w = randn(c, 2),
          out = new Float32Array(nc),
          rstd = new Float32Array(n);
        rmsnormForward(out, rstd, inp, w, n, c, 1e-5);
        const dout = randn(nc, 3),
          dinp = new Float32Array(nc),
          dw = new Float32Array(c);
        return () => rmsnormBackward(dinp, dw, dout, inp, w, rstd, n, c);
      },
    },
    {
      op: "layernorm fwd",
      shape,
      bytes: F * (2 * nc + 2 * c + 2 * n),
      prepare() {
        const inp = randn(nc, 1),
          w = randn(c, 2),
          b = randn(c, 3);
        const out = new Float32Array(nc),
          mean = new Float32Array(n),
          rstd = new Float32Array(n);
        return () => layernormForward(out, mean, rstd, inp, w, b, n, c, 1e-5);
      },
    },
    {
      op: "layernorm bwd",
      shape,
      bytes: F * (4 * nc + 5 * c + 2 * n),
      prepare() {
        const inp = randn(nc, 1),
          w = randn(c, 2),
          b = randn(c, 3);
        const out = new Float32Array(nc),
          mean = new Float32Array(n),
          rstd = new Float32Array(n);
        layernormForward(out, mean, rstd, inp, w, b, n, c, 1e-5);
        const dout = randn(nc, 4),
          dinp = new Float32Array(nc),
          dw = new Float32Array(c),
          db = new Float32Array(c);
        return () => layernormBackward(dinp, dw, db, dout, inp, w, mean, rstd, n, c);
      },
    },
  ];
}

function activationCases(n: number, shape: string): BenchCase[] {
  return [
    {
      op: "swiglu fwd",
      shape,
      bytes: F * 3 * n,
      prepare() {
        const g = randn(n, 1, 2),
          u = randn(n, 2),
          out = new Float32Array(n);
        return () => swigluForward(out, g, u, n);
      },
    },
    {
      op: "swiglu bwd",
      shape,
      bytes: F * 7 * n, // dout, gate, up; dgate, dup read and written
      prepare() {
        const g = randn(n, 1, 2),
          u = randn(n, 2),
          d = randn(n, 3),
          dg = new Float32Array(n),
          du = new Float32Array(n);
        return () => swigluBackward(dg, du, d, g, u, n);
      },
    },
    {
      op: "gelu fwd",
      shape,
      bytes: F * 2 * n,
      prepare() {
        const x = randn(n, 1, 2),
          out = new Float32Array(n);
        return () => geluForward(out, x, n);
      },
    },
    {
      op: "gelu bwd",
      shape,
      bytes: F * 4 * n,
      prepare() {
        const x = randn(n, 1, 2),
          d = randn(n, 2),
          dx = new Float32Array(n);
        return () => geluBackward(dx, d, x, n);
      },
    },
    {
      op: "add",
      shape,
      bytes: F * 3 * n,
      prepare() {
        const a = randn(n, 1),
          b = randn(n, 2),
          out = new Float32Array(n);
        return () => add(out, a, b, n);
      },
    },
  ];
}

function lossCases(n: number, v: number): BenchCase[] {
  const shape = `${n}x${v}`;
  const nv = n * v;
  return [
    {
      op: "softmax",
      shape,
      bytes: F * 2 * nv,
      prepare() {
        const x = randn(nv, 1, 3),
          out = new Float32Array(nv);
        return () => softmaxForward(out, x, n, v);
      },
    },
    {
      op: "cross-entropy fwd",
      shape,
      bytes: F * (nv + 3 * n),
      prepare() {
        const x = randn(nv, 1, 3),
          t = ids(n, v, 2),
          losses = new Float32Array(n),
          lse = new Float32Array(n);
        return () => crossEntropyForward(losses, lse, x, t, n, v, -100);
      },
    },
    {
      op: "cross-entropy bwd",
      shape,
      bytes: F * (2 * nv + 2 * n),
      prepare() {
        const x = randn(nv, 1, 3),
          t = ids(n, v, 2),
          losses = new Float32Array(n),
          lse = new Float32Array(n);
        crossEntropyForward(losses, lse, x, t, n, v, -100);
        const d = new Float32Array(nv);
        return () => crossEntropyBackward(d, x, lse, t, n, v, -100, 1 / n);
      },
    },
  ];
}

const ADAMW_N = 20_000_000;
const EMB = { n: 4096, c: 384, v: 16384 };

export const opsCases: BenchCase[] = [
  ...normCases(4096, 384),
  ...activationCases(4096 * 1536, "4096x1536"),
  ...lossCases(1024, 16384),
  ...lossCases(256, 32000),
  {
    op: "adamw",
    shape: "20M",
    bytes: F * 7 * ADAMW_N, // param, grad, m, v read; param, m, v written
    prepare() {
      const p = randn(ADAMW_N, 1),
        g = randn(ADAMW_N, 2),
        m = new Float32Array(ADAMW_N),
        v = new Float32Array(ADAMW_N);
      let step = 0;
      return () => adamwStep(p, g, m, v, ADAMW_N, 1e-4, 0.9, 0.95, 1e-8, 0.1, ++step);
    },
  },
  {
    op: "sumSquares",
    shape: "20M",
    bytes: F * ADAMW_N,
    prepare() {
      const g = randn(ADAMW_N, 2);
      return () => void sumSquares(g, ADAMW_N);
    },
  },
  {
    op: "embedding fwd",
    shape: `${EMB.n} ids, ${EMB.v}x${EMB.c}`,
    bytes: F * (EMB.n + 2 * EMB.n * EMB.c),
    prepare() {
      const table = randn(EMB.v * EMB.c, 1),
        t = ids(EMB.n, EMB.v, 2),
        out = new Float32Array(EMB.n * EMB.c);
      return () => embeddingForward(out, t, table, EMB.n, EMB.c, EMB.v);
    },
  },
  {
    op: "embedding bwd",
    shape: `${EMB.n} ids, ${EMB.v}x${EMB.c}`,
    bytes: F * (EMB.n + 3 * EMB.n * EMB.c), // dout; touched dtable rows read+written
    prepare() {
      const dtable = new Float32Array(EMB.v * EMB.c),
        t = ids(EMB.n, EMB.v, 2),
        dout = randn(EMB.n * EMB.c, 1);
      return () => embeddingBackward(dtable, dout, t, EMB.n, EMB.c, EMB.v);
    },
  },
];
