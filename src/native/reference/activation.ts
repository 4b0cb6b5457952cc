// Reference activation and element-wise kernels in plain TypeScript (the
// tests' oracle and the slow fallback), written straight from the formulas
// in float64 (GELU with Math.tanh, as its contract states it).
import type { ActivationKernels } from "../ops/activation.ts";

const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

export const activationReference: ActivationKernels = {
  // out (N), gate (N), up (N)
  swigluForward(out, gate, up, n) {
    for (let i = 0; i < n; i++) out[i] = gate[i]! * sigmoid(gate[i]!) * up[i]!;
  },
  // dgate (N) +=, dup (N) += from dout (N)
  swigluBackward(dgate, dup, dout, gate, up, n) {
    for (let i = 0; i < n; i++) {
      const g = gate[i]!,
        s = sigmoid(g),
        d = dout[i]!;
      dgate[i] = dgate[i]! + d * up[i]! * (s + g * s * (1 - s));
      dup[i] = dup[i]! + d * g * s;
    }
  },
  // out (N), inp (N)
  geluForward(out, inp, n) {
    for (let i = 0; i < n; i++) {
      const x = inp[i]!;
      out[i] = 0.5 * x * (1 + Math.tanh(GELU_K * (x + GELU_C * x * x * x)));
    }
  },
  // dinp (N) += gelu'(inp) · dout (N)
  geluBackward(dinp, dout, inp, n) {
    for (let i = 0; i < n; i++) {
      const x = inp[i]!;
      const t = Math.tanh(GELU_K * (x + GELU_C * x * x * x));
      const du = GELU_K * (1 + 3 * GELU_C * x * x);
      const g = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du;
      dinp[i] = dinp[i]! + g * dout[i]!;
    }
  },
  // out (N,V), inp (N,V); out may alias inp
  softmaxForward(out, inp, n, v) {
    for (let i = 0; i < n; i++) {
      const o = i * v;
      let m = -Infinity;
      for (let j = 0; j < v; j++) m = Math.max(m, inp[o + j]!);
      let s = 0;
      for (let j = 0; j < v; j++) s += Math.exp(inp[o + j]! - m);
      for (let j = 0; j < v; j++) out[o + j] = Math.exp(inp[o + j]! - m) / s;
    }
  },
  // out (N) = a (N) + b (N)
  add(out, a, b, n) {
    for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
  },
  // y (N) += alpha · x (N)
  axpy(y, alpha, x, n) {
    for (let i = 0; i < n; i++) y[i] = y[i]! + alpha * x[i]!;
  },
};
