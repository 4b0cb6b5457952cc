// Reference fused softmax + cross-entropy in plain TypeScript (the tests'
// oracle and the slow fallback), float64 inside each row. Trusts targets to
// be in range or equal to ignoreIndex: the wrappers in ops/loss.ts check.
import type { LossKernels } from "../ops/loss.ts";

export const lossReference: LossKernels = {
  // losses (N), lse (N), logits (N,V), targets (N)
  crossEntropyForward(losses, lse, logits, targets, n, v, ignoreIndex) {
    for (let i = 0; i < n; i++) {
      const o = i * v;
      let m = -Infinity;
      for (let j = 0; j < v; j++) m = Math.max(m, logits[o + j]!);
      let s = 0;
      for (let j = 0; j < v; j++) s += Math.exp(logits[o + j]! - m);
      const l = m + Math.log(s);
      lse[i] = l;
      const t = targets[i]!;
      losses[i] = t === ignoreIndex ? 0 : l - logits[o + t]!;
    }
  },
  // dlogits (N,V) = scale·(softmax − onehot); WRITES; dlogits may be logits
  crossEntropyBackward(dlogits, logits, lse, targets, n, v, ignoreIndex, scale) {
    for (let i = 0; i < n; i++) {
      const o = i * v,
        t = targets[i]!,
        l = lse[i]!;
      for (let j = 0; j < v; j++) {
        dlogits[o + j] = t === ignoreIndex ? 0 : scale * (Math.exp(logits[o + j]! - l) - (j === t ? 1 : 0));
      }
    }
  },
  // lse1 (N), lseT (N), logits (N,V)
  softmaxLsePair(lse1, lseT, logits, n, v, invT) {
    for (let i = 0; i < n; i++) {
      const o = i * v;
      let m = -Infinity;
      for (let j = 0; j < v; j++) m = Math.max(m, logits[o + j]!);
      let s1 = 0,
        sT = 0;
      for (let j = 0; j < v; j++) {
        s1 += Math.exp(logits[o + j]! - m);
        sT += Math.exp((logits[o + j]! - m) * invT);
      }
      lse1[i] = m + Math.log(s1);
      lseT[i] = m * invT + Math.log(sT);
    }
  },
  // dlogits (N,V) = c1·e^(x − lse1) + cT·e^(x·invT − lseT); WRITES
  distillDenseBackward(dlogits, logits, lse1, lseT, c1, cT, n, v, invT) {
    for (let i = 0; i < n; i++) {
      const o = i * v;
      for (let j = 0; j < v; j++) {
        const x = logits[o + j]!;
        dlogits[o + j] = (c1[i] !== 0 ? c1[i]! * Math.exp(x - lse1[i]!) : 0) + (cT[i] !== 0 ? cT[i]! * Math.exp(x * invT - lseT[i]!) : 0);
      }
    }
  },
};
