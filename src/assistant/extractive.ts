// The extractive baseline's choice of answer: the sentence of the shown sources
// that shares the most (IDF-weighted) content stems with the question. When the
// question asks for a kind of answer (a number, a day, an address:
// answer-type.ts), a sentence holding no span of that kind counts for less. Used
// alone when there is no model, and beside the reader's score (reader.ts). Pure
// text: knows nothing about models or indexes beyond the IDF it is given.
import { findSpans, questionKinds, type SpanKind } from "./answer-type.ts";
import type { PromptSource } from "./prompt.ts";
import { contentTerms, sentences, words } from "./terms.ts";

/**
 * The extractive baseline's score of a sentence that holds no span of the kind the question asks
 * for is multiplied by this. Chosen on the development sets (answers before the confidence gate,
 * sweep of 1, 0.8, 0.6, 0.4, 0.2: 18F ours 32 -> 36 of 44 from 0.6 down, 18F qa.jsonl 26 -> 28 of
 * 40 from 0.6 down, Northwind 27 -> 28 of 40 from 0.4 down), then 0.5 -> 0.3 with the frequency and
 * name kinds (slm eval qa, after the gate: Northwind 65.0 -> 67.5%, 37signals 55.0 -> 60.0%, the
 * 18F sets and the library unchanged).
 */
export const TYPE_MISS_FACTOR = 0.3;

/** The extractive baseline's score of one sentence of source `n` (kinds: questionKinds of the question). */
export function extractiveScore(questionTerms: ReadonlySet<string>, kinds: ReadonlySet<SpanKind>, sentence: string, n: number, idf: (term: string) => number): number {
  let score = 0;
  for (const t of new Set(contentTerms(sentence))) if (questionTerms.has(t)) score += idf(t);
  if (words(sentence).length < 4) score *= 0.5;
  if (kinds.size > 0 && findSpans(sentence, kinds).length === 0) score *= TYPE_MISS_FACTOR;
  return score - (n - 1) * 0.5; // prefer higher-ranked sources a little
}

/** The best sentence of the sources for a question, by extractiveScore (earlier sources win ties), with its score. */
export function extractiveAnswer(question: string, sources: readonly PromptSource[], idf: (term: string) => number): { sentence: string; n: number; score: number } | null {
  const q = new Set(contentTerms(question));
  const kinds = questionKinds(question);
  let best: { sentence: string; n: number; score: number } | null = null;
  for (const src of sources) {
    const sents = sentences(src.text);
    sents.forEach((s, i) => {
      if (i === 0 && sents.length > 1) return; // the heading line
      const score = extractiveScore(q, kinds, s, src.n, idf);
      if (!best || score > best.score) best = { sentence: s, n: src.n, score };
    });
  }
  const b = best as { sentence: string; n: number; score: number } | null;
  return b ? { sentence: b.sentence, n: b.n, score: b.score } : null;
}
