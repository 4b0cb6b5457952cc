// The distillation loss op against cross-entropy on one micro-batch's logits:
// (N, V) = (2048, 8192) = 8 × 256 positions at an 8192 vocabulary, top-32
// teacher, T = 2; forward + backward of each, min of 6 in one process, and the
// ratio to cross-entropy (the baseline: the loss every training step pays).
//
//   node --import tsx bench/distill-loss.ts [--n 2048] [--v 8192] [--k 32]
import { parseArgs } from "node:util";

import { Tape, Tensor, crossEntropy } from "../src/tensor/index.ts";
import { DIVERGENCES, distillLoss } from "../src/train/distill-loss.ts";
import { Rng } from "../src/util/rng.ts";

const { values: o } = parseArgs({ options: { n: { type: "string" }, v: { type: "string" }, k: { type: "string" } } });
const n = Number(o.n ?? 2048),
  v = Number(o.v ?? 8192),
  k = Number(o.k ?? 32);
const r = new Rng(1);
const data = new Float32Array(n * v).map(() => r.normal());
const targets = new Int32Array(n).map(() => r.int(v));
const ids = new Int32Array(n * k);
for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) ids[i * k + j] = (i * 131 + j * 257) % v;
const tl = new Float32Array(n * k).map(() => 3 * r.normal());
// The teacher's whole-vocabulary log-sum-exp at T = 2: its top-k holds half the mass.
const lse = new Float32Array(n).map((_, i) => Math.log(2 * tl.subarray(i * k, (i + 1) * k).reduce((a, z) => a + Math.exp(z / 2), 0)));
const g = new Tape();
const x = new Tensor(data, [n, v], true);
x.grad = new Float32Array(n * v);

function time(f: () => void): number {
  const ts: number[] = [];
  for (let i = 0; i < 6; i++) {
    g.reset();
    x.grad!.fill(0);
    const t = performance.now();
    f();
    ts.push(performance.now() - t);
  }
  return Math.min(...ts);
}
const ce = time(() => g.backward(crossEntropy(g, x, targets)));
const out: Record<string, unknown> = { bench: "distill-loss", n, v, k, crossEntropyMs: ce };
console.log(`crossEntropy            ${ce.toFixed(1)} ms (baseline)`);
for (const divergence of DIVERGENCES) {
  const ms = time(() => g.backward(distillLoss(g, x, targets, { ids, logits: tl, lse, k }, { alpha: 0.5, temperature: 2, divergence })));
  console.log(`distill ${divergence.padEnd(8)} T=2    ${ms.toFixed(1)} ms  ratio ${(ms / ce).toFixed(2)}`);
  out[`${divergence}Ms`] = ms;
}
console.log(JSON.stringify(out));
