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
      const o = i * v, t = targets[i]!, l = lse[i]!;
      for (let j = 0; j < v; j++) {
        dlogits[o + j] = t === ignoreIndex ? 0 : scale * (Math.exp(logits[o + j]! - l) - (j === t ? 1 : 0));
      }
    }
  },
};
