// The extractive picker's fit (conditional logit over each question's candidate
// sentences), shared by fit-picker.ts, which writes the picker's weights to
// src/assistant/fitted-weights.json, and fit-confidence.ts, which refits the
// picker inside each leave-one-handbook-out fold. Pure arithmetic on feature
// vectors: knows nothing about indexes or questions' text.
import { PICKER_FEATURES, type PickerFeatures } from "../../src/assistant/extractive.ts";

/** One question: its candidates' feature vectors (in PICKER_FEATURES order) and which hold the gold answer. */
export interface PickerQuestion {
  x: number[][];
  gold: boolean[];
}

const d = PICKER_FEATURES.length;
const dot = (x: readonly number[], w: readonly number[]) => x.reduce((a, xi, j) => a + xi * w[j]!, 0);

/** Weights maximising the summed probability of the gold sentences (Adam, lr 0.05, L2 0.01), from zero. */
export function fitPicker(train: readonly PickerQuestion[], steps = 600): number[] {
  const qs = train.filter((q) => q.gold.some(Boolean));
  const w = new Array<number>(d).fill(0),
    m = new Array<number>(d).fill(0),
    s = new Array<number>(d).fill(0);
  for (let t = 1; t <= steps; t++) {
    const g = new Array<number>(d).fill(0);
    for (const q of qs) {
      const z = q.x.map((x) => dot(x, w));
      const top = Math.max(...z);
      const e = z.map((zi) => Math.exp(zi - top));
      const sum = e.reduce((a, b) => a + b, 0);
      const p = e.map((ei) => ei / sum);
      const pGold = p.reduce((a, pi, i) => a + (q.gold[i] ? pi : 0), 0);
      // d(-log pGold)/dz_i = p_i - [gold_i] p_i / pGold
      q.x.forEach((x, i) => {
        const r = p[i]! - (q.gold[i] ? p[i]! / pGold : 0);
        for (let j = 0; j < d; j++) g[j]! += r * x[j]!;
      });
    }
    for (let j = 0; j < d; j++) {
      const gj = g[j]! / Math.max(1, qs.length) + 0.01 * w[j]!;
      m[j] = 0.9 * m[j]! + 0.1 * gj;
      s[j] = 0.999 * s[j]! + 0.001 * gj * gj;
      w[j]! -= (0.05 * (m[j]! / (1 - 0.9 ** t))) / (Math.sqrt(s[j]! / (1 - 0.999 ** t)) + 1e-8);
    }
  }
  return w;
}

/** A weight vector (PICKER_FEATURES order) as the PickerFeatures record the library takes. */
export function pickerWeights(w: readonly number[]): PickerFeatures {
  return Object.fromEntries(PICKER_FEATURES.map((f, j) => [f, w[j]!])) as PickerFeatures;
}
