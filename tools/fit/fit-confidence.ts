// Fits the answer-confidence model (src/assistant/confidence.ts) on question
// sets over indexed handbooks, and reports how it does on each handbook when
// fitted without it (leave one handbook out) beside the word-coverage
// threshold it replaced, itself re-chosen without the left-out handbook.
// Label: the question is answerable. "Right" counts answerable questions
// whose extractive-baseline sentence holds the gold answer and that pass the
// gate; "refused" counts unanswerable questions that do not pass. Thresholds
// are set where REFUSE (default 85%) of the fitting sets' unanswerable
// questions fall below. Writes the model and threshold fitted on all sets to
// the "confidence" section of src/assistant/fitted-weights.json (--out FILE
// elsewhere, --dry-run only prints); the library reads them at start.
// Held out means held out: inside each fold the extractive picker is refitted
// on the other handbooks (picker-fit.ts, as fit-picker.ts does),
// and that picker chooses the sentence behind both the "right" count and the
// picker-dependent features. (Until 2026-12-07 every fold used PICKER_WEIGHTS,
// which had been fitted on all handbooks, the left-out one included.) The
// final fit on all handbooks uses the picker in the file it writes (--out).
//
//   node --import tsx tools/fit/fit-confidence.ts --set NAME=INDEX,QUESTIONS[,UNANSWERABLE] ... [--refuse 0.85] [--picker-steps 600] [--out FILE] [--dry-run]
// Sets over the same index are one handbook (left out together).
import { parseArgs } from "node:util";

import {
  CONFIDENCE_FEATURES,
  confidenceFeatures,
  confidenceOf,
  CONFIDENCE_SOURCE_CHARS,
  type ConfidenceFeatures,
  type ConfidenceModel,
} from "../../src/assistant/confidence.ts";
import { extractiveAnswer, PICKER_FEATURES, pickerCandidates, type PickerFeatures } from "../../src/assistant/extractive.ts";
import { SectionIndex } from "../../src/assistant/index-db.ts";
import { fitSources, type PromptSource } from "../../src/assistant/prompt.ts";
import { retrieve, type Retrieval } from "../../src/assistant/retrieve.ts";
import { readQaFile, type QaItem } from "../../src/eval/qa.ts";
import { answerMatches } from "../../src/eval/score.ts";
import { FITTED_PATH, fittedPickerWeights, writeFittedSection } from "../../src/assistant/fitted.ts";
import { fitPicker, pickerWeights, type PickerQuestion } from "./picker-fit.ts";

const { values: v } = parseArgs({
  options: {
    set: { type: "string", multiple: true },
    refuse: { type: "string" },
    "picker-steps": { type: "string" },
    out: { type: "string" },
    "dry-run": { type: "boolean" },
  },
});
if (!v.set?.length) throw new Error("give at least one --set NAME=INDEX,QUESTIONS[,UNANSWERABLE]");
const refuse = Number(v.refuse ?? 0.85);
const pickerSteps = Number(v["picker-steps"] ?? 600);
if (!Number.isInteger(pickerSteps) || pickerSteps < 1) throw new Error(`--picker-steps must be a positive integer, got "${v["picker-steps"]}"`);

/** A question with everything that does not depend on the picker: retrieval, shown sources, candidates. */
interface Question {
  set: string;
  group: string;
  answerable: boolean;
  q: QaItem;
  index: SectionIndex;
  r: Retrieval;
  sources: PromptSource[];
  picker: PickerQuestion;
}
interface Row {
  set: string;
  group: string;
  answerable: boolean;
  right: boolean;
  f: ConfidenceFeatures;
}
const questions: Question[] = [];
const indexes = new Map<string, SectionIndex>();
for (const spec of v.set) {
  const m = /^([^=]+)=([^,]+),([^,]+)(?:,([^,]+))?$/.exec(spec);
  if (!m) throw new Error(`--set must be NAME=INDEX,QUESTIONS[,UNANSWERABLE], got "${spec}"`);
  const [, name, ixPath, qPath, uPath] = m as unknown as [string, string, string, string, string | undefined];
  let index = indexes.get(ixPath!);
  if (!index) indexes.set(ixPath!, (index = SectionIndex.open(ixPath!)));
  const idf = (t: string) => index.idf(t);
  const items = [
    ...readQaFile(qPath!).map((q) => ({ q, answerable: true })),
    ...(uPath ? readQaFile(uPath, { unanswerable: true }).map((q) => ({ q, answerable: false })) : []),
  ];
  for (const { q, answerable } of items) {
    const r = retrieve(index, q.question, { k: 5 });
    const sources = fitSources(
      q.question,
      r.hits.slice(0, 3).map((h) => h.section),
      { maxChars: CONFIDENCE_SOURCE_CHARS },
    );
    const cands = pickerCandidates(q.question, sources, idf);
    const picker = {
      x: cands.map((c) => PICKER_FEATURES.map((f) => c.features[f])),
      gold: answerable ? cands.map((c) => answerMatches(c.sentence, q.answer, q.aliases)) : cands.map(() => false),
    };
    questions.push({ set: name!, group: ixPath!, answerable, q, index, r, sources, picker });
  }
}

/** The rows (label, right, features) of `qs` with the sentence chosen by picker weights `w`. */
function rowsWith(qs: readonly Question[], w: PickerFeatures): Row[] {
  return qs.map(({ set, group, answerable, q, index, r, sources }) => {
    const pick = extractiveAnswer(q.question, sources, (t) => index.idf(t), w);
    return {
      set,
      group,
      answerable,
      right: answerable && !!pick && answerMatches(pick.sentence, q.answer, q.aliases),
      f: confidenceFeatures(index, q.question, r, sources, w),
    };
  });
}

const vec = (f: ConfidenceFeatures) => CONFIDENCE_FEATURES.map((n) => f[n]);

/** Logistic regression, full-batch gradient descent on standardised features, L2 0.01. */
function fit(train: readonly Row[]): ConfidenceModel {
  const X = train.map((r) => vec(r.f)),
    y = train.map((r) => (r.answerable ? 1 : 0)),
    d = CONFIDENCE_FEATURES.length;
  const mean = Array.from({ length: d }, (_, j) => X.reduce((a, x) => a + x[j]!, 0) / X.length);
  const sd = Array.from({ length: d }, (_, j) => Math.sqrt(X.reduce((a, x) => a + (x[j]! - mean[j]!) ** 2, 0) / X.length) || 1);
  const Z = X.map((x) => x.map((val, j) => (val - mean[j]!) / sd[j]!));
  const w = new Array<number>(d).fill(0);
  let b = 0;
  for (let it = 0; it < 2000; it++) {
    const g = new Array<number>(d).fill(0);
    let gb = 0;
    Z.forEach((z, i) => {
      const p = 1 / (1 + Math.exp(-(b + z.reduce((a, val, j) => a + val * w[j]!, 0))));
      gb += p - y[i]!;
      z.forEach((val, j) => (g[j]! += (p - y[i]!) * val));
    });
    for (let j = 0; j < d; j++) w[j]! -= 0.1 * (g[j]! / Z.length + 0.01 * w[j]!);
    b -= (0.1 * gb) / Z.length;
  }
  return { mean, sd, weights: w, bias: b };
}

/** The score below which `refuse` of the rows' unanswerable questions fall. */
function threshold(train: readonly Row[], score: (r: Row) => number): number {
  const u = train
    .filter((r) => !r.answerable)
    .map(score)
    .sort((a, b) => a - b);
  return u.length ? u[Math.min(u.length - 1, Math.ceil(refuse * u.length) - 1)]! + 1e-9 : 0;
}

const tally = (rs: readonly Row[], pass: (r: Row) => boolean) => ({
  right: rs.filter((r) => r.answerable && r.right && pass(r)).length,
  answerable: rs.filter((r) => r.answerable).length,
  refused: rs.filter((r) => !r.answerable && !pass(r)).length,
  unanswerable: rs.filter((r) => !r.answerable).length,
});
const fmt = (t: ReturnType<typeof tally>) =>
  `${t.right}/${t.answerable} right, ${t.unanswerable ? `${t.refused}/${t.unanswerable} refused` : "no unanswerable"}`;

console.log(`leave one handbook out (picker refitted without it; thresholds at ${refuse * 100}% of the fitting sets' unanswerable questions):`);
const tot = { cov: { right: 0, answerable: 0, refused: 0, unanswerable: 0 }, model: { right: 0, answerable: 0, refused: 0, unanswerable: 0 } };
for (const group of [...new Set(questions.map((q) => q.group))]) {
  const others = questions.filter((q) => q.group !== group);
  const w = pickerWeights(
    fitPicker(
      others.filter((q) => q.answerable).map((q) => q.picker),
      pickerSteps,
    ),
  );
  const train = rowsWith(others, w),
    held = rowsWith(
      questions.filter((q) => q.group === group),
      w,
    );
  const tc = threshold(train, (r) => r.f.coverage);
  const m = fit(train),
    tm = threshold(train, (r) => confidenceOf(r.f, m));
  for (const name of [...new Set(held.map((r) => r.set))]) {
    const test = held.filter((r) => r.set === name);
    const a = tally(test, (r) => r.f.coverage >= tc),
      b = tally(test, (r) => confidenceOf(r.f, m) >= tm);
    for (const k of ["right", "answerable", "refused", "unanswerable"] as const) {
      tot.cov[k] += a[k];
      tot.model[k] += b[k];
    }
    console.log(`  ${name.padEnd(12)} coverage >= ${tc.toFixed(2)}: ${fmt(a).padEnd(34)} model >= ${tm.toFixed(2)}: ${fmt(b)}`);
  }
}
console.log(`  ${"all".padEnd(12)} coverage: ${fmt(tot.cov).padEnd(40)} model: ${fmt(tot.model)}`);

// The final fit uses the picker in the file being written (the shipped one by default), so
// fit-picker.ts then fit-confidence.ts with the same --out gives a consistent pair.
const out = v.out ?? FITTED_PATH;
const rows = rowsWith(questions, fittedPickerWeights(PICKER_FEATURES, out));
const m = fit(rows),
  t = threshold(rows, (r) => confidenceOf(r.f, m));
const all = tally(rows, (r) => confidenceOf(r.f, m) >= t);
console.log(`\nfitted on all ${rows.length} questions: ${fmt(all)} at threshold ${t.toFixed(3)}`);
const r4 = (x: number) => Number(x.toFixed(4));
const features = Object.fromEntries(CONFIDENCE_FEATURES.map((f, i) => [f, { mean: r4(m.mean[i]!), sd: r4(m.sd[i]!), weight: r4(m.weights[i]!) }]));
console.log(JSON.stringify({ features, bias: r4(m.bias), threshold: Number(t.toFixed(2)) }, null, 1));
if (!v["dry-run"]) {
  const sets = [...new Set(rows.map((r) => r.set))];
  writeFittedSection(out, {
    confidence: {
      fittedAt: new Date().toISOString().slice(0, 10),
      fittedBy: `node --import tsx tools/fit/fit-confidence.ts --refuse ${refuse} --picker-steps ${pickerSteps} (${sets.length} sets)`,
      note: `Logistic regression on standardised features, L2 0.01, label answerable, with the picker in this file; ${all.answerable} answerable and ${all.unanswerable} unanswerable questions (sets: ${sets.join(", ")}); threshold where ${refuse * 100}% of the unanswerable fall below: ${fmt(all)}. Leave one handbook out: ${fmt(tot.model)} (word coverage: ${fmt(tot.cov)}).`,
      features,
      bias: r4(m.bias),
      threshold: Number(t.toFixed(2)),
    },
  });
  console.log(`wrote the confidence section of ${out}`);
}
for (const ix of indexes.values()) ix.close();
