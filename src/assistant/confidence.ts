// Whether to answer at all: the answer confidence, a small logistic model over
// word-level signals of how well the retrieved text covers the question —
//   - coverage: the IDF-weighted share of the question's content stems in the
//     best of the top sections (retrieve.ts),
//   - the same share in the sentence the extractive baseline would pick,
//   - the rarest question stem the best section lacks, how many it lacks, and
//     how many the question has,
//   - the picked sentence's score under the extractive baseline's picker,
//   - whether the question asks for a kind of answer (a number, a day…) and
//     whether the picked sentence holds one.
// Fitted on the development question sets by tools/fit-confidence.ts, which
// writes the model and threshold to fitted-weights.json (read at start by
// fitted.ts) and prints the leave-one-handbook-out figures (docs/assistant.md). Below the threshold the answer is "not found".
// Knows nothing about models: the reader and the generator answer after this
// gate, whichever answers.
import { questionKinds, findSpans } from "./answer-type.ts";
import { extractiveAnswer, type PickerFeatures } from "./extractive.ts";
import { fittedConfidence } from "./fitted.ts";
import type { SectionIndex } from "./index-db.ts";
import { fitSources, type PromptSource, type SectionLike } from "./prompt.ts";
import { termCoverage, type Retrieval } from "./retrieve.ts";

/** The signals, in the order of the model's weights. */
export const CONFIDENCE_FEATURES = ["coverage", "pickCoverage", "maxMissingIdf", "missing", "terms", "pickScore", "typed", "typeMissing"] as const;
export type ConfidenceFeatures = Record<(typeof CONFIDENCE_FEATURES)[number], number>;

/** A logistic model over standardised features: p = σ(bias + Σ w·(x − mean)/sd). */
export interface ConfidenceModel {
  mean: readonly number[];
  sd: readonly number[];
  weights: readonly number[];
  bias: number;
}

/**
 * Read from fitted-weights.json when this module loads. Fitted by `node --import tsx
 * tools/fit-confidence.ts` (2026-11-27) on the question sets of
 * nine handbooks (18F ours and qa.jsonl, Northwind, library, 37signals, dxw, Sourcegraph,
 * Mattermost, Clef, Made Tech: 404 answerable, 216 unanswerable); label: answerable. Refitted
 * when the extractive picker became a fitted model (pickScore is its score).
 */
const fitted = fittedConfidence(CONFIDENCE_FEATURES);
export const CONFIDENCE_MODEL: ConfidenceModel = Object.freeze({ mean: fitted.mean, sd: fitted.sd, weights: fitted.weights, bias: fitted.bias });

/**
 * Default threshold on the answer confidence (fitted-weights.json): below it, "not found". The fitting script sets it
 * where 85% of the development sets' unanswerable questions fall below (184 of 216 refused, 222
 * of 404 answerable questions answered right by the extractive baseline; the word-coverage
 * threshold it replaces, 0.65 on eight of the sets: 166 of 192 and 177 of 364).
 */
export const DEFAULT_MIN_CONFIDENCE: number = fitted.threshold;

/** The answer confidence of a feature set under a model (default CONFIDENCE_MODEL), in (0, 1). */
export function confidenceOf(f: ConfidenceFeatures, model: ConfidenceModel = CONFIDENCE_MODEL): number {
  let z = model.bias;
  CONFIDENCE_FEATURES.forEach((name, i) => (z += (model.weights[i]! * (f[name] - model.mean[i]!)) / model.sd[i]!));
  return 1 / (1 + Math.exp(-z));
}

/**
 * The features of a question given its retrieval and the sources shown from it. `pickerWeights`
 * (default PICKER_WEIGHTS) choose the picked sentence; tools/fit-confidence.ts passes weights
 * fitted without the handbook it is judging.
 */
export function confidenceFeatures(
  index: Pick<SectionIndex, "idf">,
  question: string,
  r: Pick<Retrieval, "confidence" | "coverage">,
  sources: readonly PromptSource[],
  pickerWeights?: PickerFeatures,
): ConfidenceFeatures {
  const idf = (t: string) => index.idf(t);
  const missing = r.coverage.filter((c) => !c.found);
  const pick = extractiveAnswer(question, sources, idf, pickerWeights);
  const kinds = questionKinds(question);
  const typed = !!pick && kinds.size > 0 && findSpans(pick.sentence, kinds).length > 0;
  return {
    coverage: r.confidence,
    pickCoverage: pick ? termCoverage(index, question, pick.sentence).score : 0,
    maxMissingIdf: Math.max(0, ...missing.map((c) => c.idf)),
    missing: missing.length,
    terms: r.coverage.length,
    pickScore: pick ? pick.score : 0,
    typed: typed ? 1 : 0,
    typeMissing: kinds.size > 0 && !typed ? 1 : 0,
  };
}

/** Sources the confidence reads: the top k sections fitted to maxChars, as the extractive answerers see them. */
export const CONFIDENCE_SOURCE_CHARS = 2400;

/**
 * The answer confidence of a question from its retrieval (0 when nothing was retrieved), with its
 * features and the sources it read (the top `k` sections within CONFIDENCE_SOURCE_CHARS).
 */
export function answerConfidence(
  index: Pick<SectionIndex, "idf">,
  question: string,
  r: Retrieval,
  k = 3,
): { confidence: number; features: ConfidenceFeatures | null; sources: PromptSource[] } {
  if (r.hits.length === 0) return { confidence: 0, features: null, sources: [] };
  const top: SectionLike[] = r.hits.slice(0, k).map((h) => h.section);
  const sources = fitSources(question, top, { maxChars: CONFIDENCE_SOURCE_CHARS });
  const features = confidenceFeatures(index, question, r, sources);
  return { confidence: confidenceOf(features), features, sources };
}
