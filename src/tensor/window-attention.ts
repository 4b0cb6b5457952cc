// Sliding-window causal attention (Gemma 3's local layers) in plain
// TypeScript: forward, backward and KV-cache decode side by side, same layouts
// and argument order as the native attention kernels (src/native/ops/
// attention.ts) plus `window`: query i sees key j when j <= i and i - j <
// window (Hugging Face's `kv_idx > q_idx - sliding_window`, llama.cpp's
// `p1 - p0 < n_swa`), so a window of W tokens includes the query itself.
// Used only when the window actually cuts: with T <= window (training) or
// every query's position < window (decode) the native causal kernels give
// the same result and the model calls those. No native kernel yet: a window
// cuts only past 512 tokens on Gemma-3-270M; see docs/formats.md.
// Accumulates in float64. Backward ADDS into dq, dk, dv.

/**
 * out (B,T,H,D) contiguous, lse (B,H,T) = windowed causal attention of q (B,T,H,D) and
 * k, v (B,T,KVH,D), rows qs / ks / vs elements apart. `onlyCut`: compute only the rows the
 * window cuts (i >= window) and leave the others as they are (filled by the causal kernel).
 */
export function windowAttentionForward(
  out: Float32Array,
  lse: Float32Array,
  q: Float32Array,
  qs: number,
  k: Float32Array,
  ks: number,
  v: Float32Array,
  vs: number,
  b: number,
  t: number,
  h: number,
  kvh: number,
  d: number,
  scale: number,
  window: number,
  onlyCut = false,
): void {
  const group = h / kvh;
  const p = new Float64Array(t);
  const acc = new Float64Array(d);
  for (let bi = 0; bi < b; bi++) {
    for (let hh = 0; hh < h; hh++) {
      const g = Math.floor(hh / group);
      for (let i = onlyCut ? Math.min(window, t) : 0; i < t; i++) {
        const lo = Math.max(0, i - window + 1);
        const qo = (bi * t + i) * qs + hh * d;
        let m = -Infinity;
        for (let j = lo; j <= i; j++) {
          const ko = (bi * t + j) * ks + g * d;
          let s = 0;
          for (let x = 0; x < d; x++) s += q[qo + x]! * k[ko + x]!;
          p[j] = s * scale;
          if (p[j]! > m) m = p[j]!;
        }
        let l = 0;
        acc.fill(0);
        for (let j = lo; j <= i; j++) {
          const e = Math.exp(p[j]! - m);
          l += e;
          const vo = (bi * t + j) * vs + g * d;
          for (let x = 0; x < d; x++) acc[x] = acc[x]! + e * v[vo + x]!;
        }
        const oo = ((bi * t + i) * h + hh) * d;
        for (let x = 0; x < d; x++) out[oo + x] = acc[x]! / l;
        lse[(bi * h + hh) * t + i] = m + Math.log(l);
      }
    }
  }
}

/** dq, dk, dv (q's, k's, v's layouts) += gradients given dout (B,T,H,D), the forward's out and lse. */
export function windowAttentionBackward(
  dq: Float32Array,
  dk: Float32Array,
  dv: Float32Array,
  dout: Float32Array,
  q: Float32Array,
  qs: number,
  k: Float32Array,
  ks: number,
  v: Float32Array,
  vs: number,
  out: Float32Array,
  lse: Float32Array,
  b: number,
  t: number,
  h: number,
  kvh: number,
  d: number,
  scale: number,
  window: number,
): void {
  const group = h / kvh;
  for (let bi = 0; bi < b; bi++) {
    for (let hh = 0; hh < h; hh++) {
      const g = Math.floor(hh / group);
      for (let i = 0; i < t; i++) {
        const lo = Math.max(0, i - window + 1);
        const qo = (bi * t + i) * qs + hh * d;
        const oo = ((bi * t + i) * h + hh) * d;
        const L = lse[(bi * h + hh) * t + i]!;
        let di = 0;
        for (let x = 0; x < d; x++) di += dout[oo + x]! * out[oo + x]!;
        for (let j = lo; j <= i; j++) {
          const ko = (bi * t + j) * ks + g * d;
          const vo = (bi * t + j) * vs + g * d;
          let s = 0,
            dp = 0;
          for (let x = 0; x < d; x++) {
            s += q[qo + x]! * k[ko + x]!;
            dp += dout[oo + x]! * v[vo + x]!;
          }
          const pij = Math.exp(s * scale - L);
          const ds = pij * (dp - di) * scale;
          for (let x = 0; x < d; x++) {
            dv[vo + x] = dv[vo + x]! + pij * dout[oo + x]!;
            dq[qo + x] = dq[qo + x]! + ds * k[ko + x]!;
            dk[ko + x] = dk[ko + x]! + ds * q[qo + x]!;
          }
        }
      }
    }
  }
}

/**
 * Windowed attention over a KV cache: q, out (B,Tq,H,D); kCache, vCache (B,KVH,maxT,D).
 * Query i of sequence b sits at position starts[b] + i and sees cache positions
 * max(0, pos - window + 1) ..= pos. `onlyCut`: compute only the queries at positions >= window.
 */
export function windowAttentionDecode(
  out: Float32Array,
  q: Float32Array,
  kCache: Float32Array,
  vCache: Float32Array,
  starts: Int32Array,
  b: number,
  tq: number,
  h: number,
  kvh: number,
  d: number,
  maxT: number,
  scale: number,
  window: number,
  onlyCut = false,
): void {
  const group = h / kvh;
  const p = new Float64Array(Math.min(window, maxT));
  const acc = new Float64Array(d);
  for (let bi = 0; bi < b; bi++) {
    for (let i = 0; i < tq; i++) {
      const pos = starts[bi]! + i;
      if (onlyCut && pos < window) continue;
      const lo = Math.max(0, pos - window + 1);
      for (let hh = 0; hh < h; hh++) {
        const cache = (bi * kvh + Math.floor(hh / group)) * maxT * d;
        const qo = ((bi * tq + i) * h + hh) * d;
        let m = -Infinity;
        for (let j = lo; j <= pos; j++) {
          let s = 0;
          for (let x = 0; x < d; x++) s += q[qo + x]! * kCache[cache + j * d + x]!;
          p[j - lo] = s * scale;
          if (p[j - lo]! > m) m = p[j - lo]!;
        }
        let l = 0;
        acc.fill(0);
        for (let j = lo; j <= pos; j++) {
          const e = Math.exp(p[j - lo]! - m);
          l += e;
          for (let x = 0; x < d; x++) acc[x] = acc[x]! + e * vCache[cache + j * d + x]!;
        }
        for (let x = 0; x < d; x++) out[qo + x] = acc[x]! / l;
      }
    }
  }
}
