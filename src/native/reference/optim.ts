// Reference optimizer kernels in plain TypeScript (the tests' oracle and the
// slow fallback): AdamW in float64 per element, Σx² in float64, scaling.
import type { OptimKernels } from "../ops/optim.ts";

export const optimReference: OptimKernels = {
  // param (N), grad (N), m (N), v (N), all updated in place but grad
  adamwStep(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step) {
    const bc1 = 1 - beta1 ** step,
      bc2 = 1 - beta2 ** step;
    for (let i = 0; i < n; i++) {
      const g = grad[i]!;
      const mi = beta1 * m[i]! + (1 - beta1) * g;
      const vi = beta2 * v[i]! + (1 - beta2) * g * g;
      m[i] = mi;
      v[i] = vi;
      const p = param[i]!;
      param[i] = p - lr * (mi / bc1 / (Math.sqrt(vi / bc2) + eps) + weightDecay * p);
    }
  },
  // x (N)
  sumSquares(x, n) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i]! * x[i]!;
    return s;
  },
  // x (N) *= s
  scale(x, n, s) {
    for (let i = 0; i < n; i++) x[i] = x[i]! * s;
  },
};
