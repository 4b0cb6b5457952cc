// Reference rope kernels in plain TypeScript (the tests' oracle and the slow fallback):
// each (token, head) row rotated pair by pair in float64. Knows nothing about how the
// cos/sin tables were made, and does not validate (ops/rope.ts does).
import type { RopeKernels } from "../ops/rope.ts";

/** The two dims of pair j: (2j, 2j+1) interleaved, else (j, j + rot/2). */
function pair(j: number, half: number, interleaved: boolean): [number, number] {
  return interleaved ? [2 * j, 2 * j + 1] : [j, j + half];
}

export const ropeReference: RopeKernels = {
  ropeForward(out, inp, cos, sin, positions, n, h, d, rot, interleaved) {
    const half = rot / 2;
    const row = new Float64Array(d);
    for (let t = 0; t < n; t++) {
      const p = positions[t]!;
      for (let hh = 0; hh < h; hh++) {
        const base = (t * h + hh) * d;
        for (let i = 0; i < d; i++) row[i] = inp[base + i]!;
        for (let j = 0; j < half; j++) {
          const [a, b] = pair(j, half, interleaved);
          const c = cos[p * half + j]!,
            s = sin[p * half + j]!;
          const x1 = inp[base + a]!,
            x2 = inp[base + b]!;
          row[a] = x1 * c - x2 * s;
          row[b] = x2 * c + x1 * s;
        }
        for (let i = 0; i < d; i++) out[base + i] = row[i]!;
      }
    }
  },
  ropeBackward(dinp, dout, cos, sin, positions, n, h, d, rot, interleaved) {
    const half = rot / 2;
    for (let t = 0; t < n; t++) {
      const p = positions[t]!;
      for (let hh = 0; hh < h; hh++) {
        const base = (t * h + hh) * d;
        for (let i = rot; i < d; i++) dinp[base + i] = dinp[base + i]! + dout[base + i]!;
        for (let j = 0; j < half; j++) {
          const [a, b] = pair(j, half, interleaved);
          const c = cos[p * half + j]!,
            s = sin[p * half + j]!;
          const y1 = dout[base + a]!,
            y2 = dout[base + b]!;
          dinp[base + a] = dinp[base + a]! + y1 * c + y2 * s;
          dinp[base + b] = dinp[base + b]! + y2 * c - y1 * s;
        }
      }
    }
  },
};
