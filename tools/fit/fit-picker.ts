// Fits the extractive baseline's sentence picker (PICKER_WEIGHTS in
// src/assistant/extractive.ts) on question sets over indexed handbooks, and
// reports, per handbook, how many questions get a sentence holding the gold
// answer when the weights are fitted without that handbook (leave one handbook
// out) beside the weights in the source now. Candidates are what the answerers
// see: the sentences of the top 3 sections fitted to CONFIDENCE_SOURCE_CHARS.
// Model: conditional logit over each question's candidates (the probability of
// the sentences holding the gold answer, summed), Adam, L2 0.01; questions
// whose shown sentences hold no gold answer teach nothing and are left out of
// the fit. Writes the weights fitted on all sets to the "picker" section of
// src/assistant/fitted-weights.json (--out FILE elsewhere, --dry-run only
// prints); the library reads them from there at start. A training tool, not
// a benchmark; refit the confidence after it (tools/fit/fit-confidence.ts),
// since its features include the picker's score.
//
//   node --import tsx tools/fit/fit-picker.ts --set NAME=INDEX,QUESTIONS ... [--steps 600] [--out FILE] [--dry-run]
// Sets over the same index are one handbook (left out together).
import { parseArgs } from "node:util";

import { CONFIDENCE_SOURCE_CHARS } from "../../src/assistant/confidence.ts";
import { PICKER_FEATURES, PICKER_WEIGHTS, pickerCandidates, type PickerFeatures } from "../../src/assistant/extractive.ts";
import { SectionIndex } from "../../src/assistant/index-db.ts";
import { fitSources } from "../../src/assistant/prompt.ts";
import { retrieve } from "../../src/assistant/retrieve.ts";
import { readQaFile } from "../../src/eval/qa.ts";
import { answerMatches } from "../../src/eval/score.ts";
import { FITTED_PATH, writeFittedSection } from "../../src/assistant/fitted.ts";
import { fitPicker } from "./picker-fit.ts";

const { values: v } = parseArgs({
  options: { set: { type: "string", multiple: true }, steps: { type: "string" }, out: { type: "string" }, "dry-run": { type: "boolean" } },
});
if (!v.set?.length) throw new Error("give at least one --set NAME=INDEX,QUESTIONS");
const steps = Number(v.steps ?? 600);
if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps must be a positive integer, got "${v.steps}"`);

interface Question {
  set: string;
  group: string;
  x: number[][];
  gold: boolean[];
}
const questions: Question[] = [];
for (const spec of v.set) {
  const m = /^([^=]+)=([^,]+),([^,]+)$/.exec(spec);
  if (!m) throw new Error(`--set must be NAME=INDEX,QUESTIONS, got "${spec}"`);
  const [, name, ixPath, qPath] = m as unknown as [string, string, string, string];
  const index = SectionIndex.open(ixPath);
  const idf = (t: string) => index.idf(t);
  for (const q of readQaFile(qPath)) {
    const r = retrieve(index, q.question, { k: 5 });
    const sources = fitSources(
      q.question,
      r.hits.slice(0, 3).map((h) => h.section),
      { maxChars: CONFIDENCE_SOURCE_CHARS },
    );
    const cands = pickerCandidates(q.question, sources, idf);
    questions.push({
      set: name,
      group: ixPath,
      x: cands.map((c) => PICKER_FEATURES.map((f) => c.features[f])),
      gold: cands.map((c) => answerMatches(c.sentence, q.answer, q.aliases)),
    });
  }
  index.close();
}

const dot = (x: readonly number[], w: readonly number[]) => x.reduce((a, xi, j) => a + xi * w[j]!, 0);
const fit = (train: readonly Question[]) => fitPicker(train, steps);

/** Questions whose best-scoring candidate (earliest on ties) holds the gold answer. */
function right(qs: readonly Question[], w: readonly number[]): number {
  let n = 0;
  for (const q of qs) {
    let best = -1,
      bestScore = -Infinity;
    q.x.forEach((x, i) => {
      const sc = dot(x, w);
      if (sc > bestScore) {
        bestScore = sc;
        best = i;
      }
    });
    if (best >= 0 && q.gold[best]) n++;
  }
  return n;
}

const current = PICKER_FEATURES.map((f) => PICKER_WEIGHTS[f]);
console.log("gold sentence picked, leave one handbook out (weights fitted without it) vs the weights in extractive.ts:");
let totHeld = 0,
  totCur = 0,
  totShown = 0;
for (const group of [...new Set(questions.map((q) => q.group))]) {
  const w = fit(questions.filter((q) => q.group !== group));
  for (const set of [...new Set(questions.filter((q) => q.group === group).map((q) => q.set))]) {
    const qs = questions.filter((q) => q.set === set && q.group === group);
    const held = right(qs, w),
      cur = right(qs, current),
      shown = qs.filter((q) => q.gold.some(Boolean)).length;
    console.log(`  ${set.padEnd(14)} ${String(held).padStart(3)} held out   ${String(cur).padStart(3)} current   (gold shown for ${shown} of ${qs.length})`);
    totHeld += held;
    totCur += cur;
    totShown += shown;
  }
}
console.log(
  `  ${"all".padEnd(14)} ${String(totHeld).padStart(3)} held out   ${String(totCur).padStart(3)} current   (gold shown for ${totShown} of ${questions.length})`,
);
const w = fit(questions);
console.log(`\nfitted on all ${questions.length} questions: ${right(questions, w)} right in sample. PICKER_WEIGHTS:`);
const weights: Partial<PickerFeatures> = {};
PICKER_FEATURES.forEach((f, j) => (weights[f] = Math.round(w[j]! * 100) / 100));
console.log(`  ${PICKER_FEATURES.map((f) => `${f}: ${weights[f]}`).join(", ")},`);
if (!v["dry-run"]) {
  const out = v.out ?? FITTED_PATH;
  const sets = [...new Set(questions.map((q) => q.set))];
  writeFittedSection(out, {
    picker: {
      fittedAt: new Date().toISOString().slice(0, 10),
      fittedBy: `node --import tsx tools/fit/fit-picker.ts --steps ${steps} (${sets.length} sets)`,
      note: `Conditional logit over each question's candidates, L2 0.01, on ${questions.length} answerable questions (sets: ${sets.join(", ")}); ${right(questions, w)} pick a sentence holding the gold answer in sample, ${totHeld} with the handbook left out (the previous weights: ${totCur}).`,
      weights: weights as PickerFeatures,
    },
  });
  console.log(`wrote the picker section of ${out}`);
}
