// Reference norm kernels in plain TypeScript (the tests' oracle and the slow
// fallback). Row statistics in float64; backward adds into its outputs.
import type { NormKernels } from "../ops/norm.ts";

export const normReference: NormKernels = {
  // out (N,C), rstd (N), inp (N,C), weight (C)
  rmsnormForward(out, rstd, inp, weight, n, c, eps) {
    for (let i = 0; i < n; i++) {
      let ss = 0;
      for (let j = 0; j < c; j++) ss += inp[i * c + j]! ** 2;
      const r = 1 / Math.sqrt(ss / c + eps);
      rstd[i] = r;
      for (let j = 0; j < c; j++) out[i * c + j] = inp[i * c + j]! * r * weight[j]!;
    }
  },
  // dinp (N,C) +=, dweight (C) += from dout (N,C), inp (N,C), weight (C), rstd (N)
  rmsnormBackward(dinp, dweight, dout, inp, weight, rstd, n, c) {
    for (let i = 0; i < n; i++) {
      const r = rstd[i]!;
      // y_j = x_j·r·w_j with r = (Σx²/C + eps)^-1/2, so ∂r/∂x_k = −r³·x_k/C.
      let s = 0;
      for (let j = 0; j < c; j++) s += dout[i * c + j]! * weight[j]! * inp[i * c + j]!;
      for (let j = 0; j < c; j++) {
        const x = inp[i * c + j]!,
          g = dout[i * c + j]!;
        dinp[i * c + j] = dinp[i * c + j]! + g * weight[j]! * r - (x * r * r * r * s) / c;
        dweight[j] = dweight[j]! + g * x * r;
      }
    }
  },
  // out (N,C), mean (N), rstd (N), inp (N,C), weight (C), bias (C) or null
  layernormForward(out, mean, rstd, inp, weight, bias, n, c, eps) {
    for (let i = 0; i < n; i++) {
      let m = 0;
      for (let j = 0; j < c; j++) m += inp[i * c + j]!;
      m /= c;
      let v = 0;
      for (let j = 0; j < c; j++) v += (inp[i * c + j]! - m) ** 2;
      v /= c;
      const r = 1 / Math.sqrt(v + eps);
      mean[i] = m;
      rstd[i] = r;
      for (let j = 0; j < c; j++) out[i * c + j] = (inp[i * c + j]! - m) * r * weight[j]! + (bias ? bias[j]! : 0);
    }
  },
  // dinp (N,C) +=, dweight (C) +=, dbias (C) += from dout (N,C), inp (N,C), weight (C), mean (N), rstd (N)
  layernormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, n, c) {
    for (let i = 0; i < n; i++) {
      const m = mean[i]!,
        r = rstd[i]!;
      let sdh = 0,
        sdhh = 0;
      for (let j = 0; j < c; j++) {
        const h = (inp[i * c + j]! - m) * r;
        const dh = dout[i * c + j]! * weight[j]!;
        sdh += dh;
        sdhh += dh * h;
      }
      for (let j = 0; j < c; j++) {
        const h = (inp[i * c + j]! - m) * r;
        const g = dout[i * c + j]!;
        const dh = g * weight[j]!;
        dinp[i * c + j] = dinp[i * c + j]! + r * (dh - sdh / c - (h * sdhh) / c);
        dweight[j] = dweight[j]! + g * h;
        if (dbias) dbias[j] = dbias[j]! + g;
      }
    }
  },
};
