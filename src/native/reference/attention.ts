// Reference attention kernels in plain TypeScript (the tests' oracle and the slow
// fallback): materialises each head's causal score rows and accumulates in float64.
// Knows nothing about tiling or threads, and does not validate (ops/attention.ts does).
import type { AttentionKernels } from "../ops/attention.ts";

export const attentionReference: AttentionKernels = {
  attentionForward(out, lse, q, qStride, k, kStride, v, vStride, b, t, h, kvh, d, scale) {
    const group = h / kvh;
    const p = new Float64Array(t);
    for (let bi = 0; bi < b; bi++) {
      for (let hh = 0; hh < h; hh++) {
        const g = Math.floor(hh / group);
        for (let i = 0; i < t; i++) {
          const qo = (bi * t + i) * qStride + hh * d;
          let m = -Infinity;
          for (let j = 0; j <= i; j++) {
            const ko = (bi * t + j) * kStride + g * d;
            let s = 0;
            for (let x = 0; x < d; x++) s += q[qo + x]! * k[ko + x]!;
            p[j] = s * scale;
            if (p[j]! > m) m = p[j]!;
          }
          let l = 0;
          for (let j = 0; j <= i; j++) l += p[j] = Math.exp(p[j]! - m);
          const oo = ((bi * t + i) * h + hh) * d;
          for (let x = 0; x < d; x++) {
            let acc = 0;
            for (let j = 0; j <= i; j++) acc += p[j]! * v[(bi * t + j) * vStride + g * d + x]!;
            out[oo + x] = acc / l;
          }
          lse[(bi * h + hh) * t + i] = m + Math.log(l);
        }
      }
    }
  },

  attentionBackward(dq, dk, dv, dout, q, qStride, k, kStride, v, vStride, out, lse, b, t, h, kvh, d, scale) {
    const group = h / kvh;
    for (let bi = 0; bi < b; bi++) {
      for (let hh = 0; hh < h; hh++) {
        const g = Math.floor(hh / group);
        for (let i = 0; i < t; i++) {
          const qo = (bi * t + i) * qStride + hh * d;
          const oo = ((bi * t + i) * h + hh) * d;
          const L = lse[(bi * h + hh) * t + i]!;
          let di = 0;
          for (let x = 0; x < d; x++) di += dout[oo + x]! * out[oo + x]!;
          for (let j = 0; j <= i; j++) {
            const ko = (bi * t + j) * kStride + g * d;
            const vo = (bi * t + j) * vStride + g * d;
            let s = 0,
              dp = 0;
            for (let x = 0; x < d; x++) {
              s += q[qo + x]! * k[ko + x]!;
              dp += dout[oo + x]! * v[vo + x]!;
            }
            const pij = Math.exp(s * scale - L);
            const ds = pij * (dp - di);
            for (let x = 0; x < d; x++) {
              dv[vo + x] = dv[vo + x]! + pij * dout[oo + x]!;
              dq[qo + x] = dq[qo + x]! + ds * scale * k[ko + x]!;
              dk[ko + x] = dk[ko + x]! + ds * scale * q[qo + x]!;
            }
          }
        }
      }
    }
  },

  attentionDecode(out, q, kCache, vCache, starts, b, tq, h, kvh, d, maxT, scale) {
    const group = h / kvh;
    for (let bi = 0; bi < b; bi++) {
      for (let i = 0; i < tq; i++) {
        const pos = starts[bi]! + i;
        const p = new Float64Array(pos + 1);
        for (let hh = 0; hh < h; hh++) {
          const cache = (bi * kvh + Math.floor(hh / group)) * maxT * d;
          const qo = ((bi * tq + i) * h + hh) * d;
          let m = -Infinity;
          for (let j = 0; j <= pos; j++) {
            let s = 0;
            for (let x = 0; x < d; x++) s += q[qo + x]! * kCache[cache + j * d + x]!;
            p[j] = s * scale;
            if (p[j]! > m) m = p[j]!;
          }
          let l = 0;
          for (let j = 0; j <= pos; j++) l += p[j] = Math.exp(p[j]! - m);
          for (let x = 0; x < d; x++) {
            let acc = 0;
            for (let j = 0; j <= pos; j++) acc += p[j]! * vCache[cache + j * d + x]!;
            out[qo + x] = acc / l;
          }
        }
      }
    }
  },
};
