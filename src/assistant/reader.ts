// Answering with the extractive reader (src/models/reader.ts): the candidate
// answers are the sentences of the shown sources (heading lines excepted, as
// for the extractive baseline and copy decoding); each (question, candidate)
// pair is encoded with its features and the reader scores them all in one
// batch; the best-scoring sentence, cited, is the answer. By default the
// reader's scores are z-scored over the candidates and added to the extractive
// baseline's (extractive.ts), z-scored the same way: a product of two experts,
// one trained on this handbook's synthetic questions, one fitted on other
// handbooks' real questions.
// Measured on the development sets (docs/assistant.md). Also the encoding
// used to train it (reader-train.ts), so training sees exactly what answering
// shows. Knows nothing about files or the CLI.
import { ConfigError } from "../errors.ts";
import { kindFeature, matchFeature, placeFeature, type ReaderBatch, type ReaderModel } from "../models/reader.ts";
import { Tape, concatRows, gatherRows, type Tensor } from "../tensor/index.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { findSpans, questionKinds, type SpanKind, type TypedSpan } from "./answer-type.ts";
import { pickerCandidates, pickerScore } from "./extractive.ts";
import type { PromptSource } from "./prompt.ts";
import { STOP_WORDS, sentences, stem } from "./terms.ts";

/** Most question and candidate tokens kept per pair (longer ones are cut). */
const READER_QUESTION_TOKENS = 40;
const READER_CANDIDATE_TOKENS = 88;

/** A candidate answer: a sentence of a shown source. */
export interface ReaderCandidate {
  text: string;
  /** Citation number of its source (1-based), and its retrieval rank (0-based, = n - 1). */
  n: number;
  /** Its place among the source's sentences (0 = first after the heading line). */
  position: number;
}

/** Every sentence of every shown source, heading lines excepted (the extractive baseline's candidates). */
export function readerCandidates(sources: readonly PromptSource[]): ReaderCandidate[] {
  const out: ReaderCandidate[] = [];
  for (const src of sources) {
    const sents = sentences(src.text);
    const first = sents.length > 1 ? 1 : 0;
    for (let i = first; i < sents.length; i++) out.push({ text: sents[i]!, n: src.n, position: i - first });
  }
  return out;
}

const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu;

interface WordSpan {
  start: number;
  end: number;
  /** Stem of a content word, or null for a stop word. */
  key: string | null;
}

function wordSpans(text: string): WordSpan[] {
  const out: WordSpan[] = [];
  for (const m of text.matchAll(WORD)) {
    const w = m[0].normalize("NFKC").toLowerCase().replace(/['’]/g, "");
    out.push({ start: m.index!, end: m.index! + m[0].length, key: STOP_WORDS.has(w) ? null : stem(w) });
  }
  return out;
}

/**
 * Match level of a word whose stem occurs in the other segment: the bucket of its relative IDF
 * (see readerIdf), 1 (common) to 4 (rare).
 */
export function idfLevel(relIdf: number): number {
  return relIdf < 0.26 ? 1 : relIdf < 0.46 ? 2 : relIdf < 0.66 ? 3 : 4;
}

/**
 * An index's IDF relative to its largest possible value, ln(1 + N) for N sections, so a word
 * found in one section is "rare" in a 200-section handbook as in a 2,000-section one and a reader
 * trained on one corpus sees the same feature levels on another. (The buckets of idfLevel were
 * 2, 3.5 and 5 nats on the 1,959-section 18F index: 0.26, 0.46, 0.66 of its ln(1 + N).)
 */
export function readerIdf(index: { idf(stem: string): number; readonly size: number }): (stem: string) => number {
  const top = Math.log(1 + Math.max(1, index.size));
  return (t) => index.idf(t) / top;
}

interface EncodedText {
  ids: number[];
  levels: number[];
  /** Per token: whether it overlaps one of the given typed spans. */
  inSpan: boolean[];
}

/**
 * Token ids of `text` (at most `max`) and, per token, the highest match level of the words it
 * overlaps and whether it overlaps one of `spans`.
 */
function encodeSegment(
  tok: Tokenizer,
  text: string,
  other: ReadonlySet<string>,
  idf: (stem: string) => number,
  max: number,
  spans: readonly TypedSpan[] = [],
): EncodedText {
  const { ids, starts } = tok.encodeWithOffsets(text, { addSpecialTokens: false });
  const ws = wordSpans(text);
  const levels: number[] = [],
    inSpan: boolean[] = [];
  let w = 0;
  const n = Math.min(ids.length, max);
  for (let i = 0; i < n; i++) {
    const s = starts[i]!,
      e = i + 1 < starts.length ? starts[i + 1]! : text.length;
    while (w < ws.length && ws[w]!.end <= s) w++;
    let level = 0;
    for (let j = w; j < ws.length && ws[j]!.start < e; j++) {
      const key = ws[j]!.key;
      if (key !== null && other.has(key)) level = Math.max(level, idfLevel(idf(key)));
    }
    levels.push(level);
    // A token inside a span, not merely the space before it.
    inSpan.push(spans.some((sp) => sp.start < e && sp.end > s && text.slice(Math.max(s, sp.start), Math.min(e, sp.end)).trim() !== ""));
  }
  return { ids: ids.slice(0, n), levels, inSpan };
}

function keysOf(text: string): Set<string> {
  const out = new Set<string>();
  for (const s of wordSpans(text)) if (s.key !== null) out.add(s.key);
  return out;
}

/** One (question, candidate) pair as token ids with per-token feature rows. */
export interface EncodedPair {
  ids: number[];
  match: number[];
  place: number[];
  kind: number[];
  /** Lexical overlap: the sum of the relative IDF of the stems question and candidate share. */
  lex: number;
  /** Tokens of the question (the rest are the candidate's). */
  questionTokens: number;
}

/**
 * Encodes a pair: the question's tokens, then the candidate's, each token with its segment/match,
 * place and answer-type features, and the pair's lexical overlap. `kinds`: the kinds of answer the
 * question asks for (questionKinds; computed when not given).
 */
export function encodePair(
  tok: Tokenizer,
  question: string,
  cand: ReaderCandidate,
  idf: (stem: string) => number,
  kinds: ReadonlySet<SpanKind> = questionKinds(question),
): EncodedPair {
  const qKeys = keysOf(question),
    cKeys = keysOf(cand.text);
  const typed = kinds.size > 0;
  const q = encodeSegment(tok, question, cKeys, idf, READER_QUESTION_TOKENS);
  const c = encodeSegment(tok, cand.text, qKeys, idf, READER_CANDIDATE_TOKENS, typed ? findSpans(cand.text, kinds) : []);
  if (c.ids.length === 0) c.ids.push(0), c.levels.push(0), c.inSpan.push(false); // an empty candidate still needs a token to pool
  const qPlace = placeFeature(0, 0, 0),
    cPlace = placeFeature(1, cand.n - 1, cand.position);
  let lex = 0;
  for (const k of qKeys) if (cKeys.has(k)) lex += idf(k);
  return {
    ids: [...q.ids, ...c.ids],
    match: [...q.levels.map((l) => matchFeature(0, l)), ...c.levels.map((l) => matchFeature(1, l))],
    place: [...q.ids.map(() => qPlace), ...c.ids.map(() => cPlace)],
    kind: [...q.ids.map(() => kindFeature(0, typed, false)), ...c.inSpan.map((x) => kindFeature(1, typed, x))],
    lex,
    questionTokens: q.ids.length,
  };
}

/** Pads pairs to the longest into one batch (padding: token 0, no pooling weight). */
export function packReaderBatch(pairs: readonly EncodedPair[]): ReaderBatch {
  if (pairs.length === 0) throw new ConfigError("a reader batch needs at least one pair");
  const T = Math.max(...pairs.map((p) => p.ids.length)),
    B = pairs.length;
  const ids = new Int32Array(B * T),
    match = new Int32Array(B * T),
    place = new Int32Array(B * T),
    kind = new Int32Array(B * T),
    pool = new Float32Array(B * T);
  const lex = new Float32Array(B);
  pairs.forEach((p, b) => {
    const o = b * T;
    for (let t = 0; t < p.ids.length; t++) {
      ids[o + t] = p.ids[t]!;
      match[o + t] = p.match[t]!;
      place[o + t] = p.place[t]!;
      kind[o + t] = p.kind[t]!;
    }
    pool[o + p.ids.length - 1] = 1; // the last token: with causal attention it has read the whole pair
    // Padding reuses the last real token's features; it comes after every real token, so causal attention keeps it out.
    const last = p.ids.length - 1;
    for (let t = p.ids.length; t < T; t++) (match[o + t] = p.match[last]!), (place[o + t] = p.place[last]!), (kind[o + t] = p.kind[last]!);
    lex[b] = p.lex;
  });
  return { batch: B, seqLen: T, ids, match, place, kind, lex, pool };
}

/** A trained reader with its tokenizer, ready to choose answers. */
export interface Reader {
  model: ReaderModel;
  tokenizer: Tokenizer;
}

/**
 * Scores (N, 1) of pairs, in their order, on tape g. The pairs are sorted by length and run in
 * batches of about `chunk` so that short pairs are not padded to the longest one; the scores are
 * put back in order (concatRows + gatherRows, so gradients flow to each batch).
 */
export function scorePairs(g: Tape, model: ReaderModel, pairs: readonly EncodedPair[], chunk = 32): Tensor {
  const order = pairs.map((_, i) => i).sort((a, b) => pairs[a]!.ids.length - pairs[b]!.ids.length || a - b);
  const parts: Tensor[] = [];
  const where = new Int32Array(pairs.length); // position of pair i in the concatenation
  for (let i = 0; i < order.length; i += chunk) {
    const idx = order.slice(i, i + chunk);
    idx.forEach((p, j) => (where[p] = i + j));
    parts.push(model.scores(g, packReaderBatch(idx.map((p) => pairs[p]!))));
  }
  return gatherRows(g, parts.length === 1 ? parts[0]! : concatRows(g, parts), where);
}

/** Scores every candidate for the question (inference tape). */
export function scoreCandidates(reader: Reader, question: string, cands: readonly ReaderCandidate[], idf: (stem: string) => number): number[] {
  if (cands.length === 0) return [];
  const kinds = questionKinds(question);
  const pairs = cands.map((c) => encodePair(reader.tokenizer, question, c, idf, kinds));
  return [...scorePairs(new Tape({ grad: false }), reader.model, pairs).data];
}

/**
 * Weight of the extractive baseline's score beside the reader's when both are z-scored over a
 * question's candidates. 1 (equal) was chosen on the first development sets (18F ours, 18F
 * qa.jsonl, Northwind). When the baseline became a fitted picker (extractive.ts), 1, 2 and 4 were
 * tried with each of the ten development sets' own readers: right answers after the gate 209, 218
 * and 220 of 404 (the baseline alone 222); 2 is the best on the 18F sets (38 / 32 against the
 * baseline's 37 / 29) and within two of the best on every other set.
 */
export const READER_BASELINE_WEIGHT = 2;

/** (x - mean) / standard deviation; all zeros when the values are all equal. */
export function zScores(xs: readonly number[]): number[] {
  const n = xs.length;
  const mean = xs.reduce((a, x) => a + x, 0) / Math.max(1, n);
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / Math.max(1, n));
  return xs.map((x) => (sd > 0 ? (x - mean) / sd : 0));
}

/** The extractive baseline beside the reader: its IDF (the index's, not relative) and weight. */
export interface BaselineFusion {
  idf: (stem: string) => number;
  weight: number;
}

/**
 * The best candidate for the question (earlier candidates win ties), or null when there is none.
 * `score` is the reader's, or with `baseline` the fused z-score.
 */
export function readerAnswer(
  reader: Reader,
  question: string,
  sources: readonly PromptSource[],
  idf: (stem: string) => number,
  baseline?: BaselineFusion,
): { candidate: ReaderCandidate; score: number; candidates: number } | null {
  const cands = readerCandidates(sources);
  if (cands.length === 0) return null;
  let scores = scoreCandidates(reader, question, cands, idf);
  if (baseline && baseline.weight > 0) {
    const picker = pickerCandidates(question, sources, baseline.idf); // the same sentences, in the same order
    if (picker.length !== cands.length) throw new Error(`reader and extractive baseline disagree on the candidates (${cands.length} vs ${picker.length})`);
    const zb = zScores(picker.map((c) => pickerScore(c.features)));
    scores = zScores(scores).map((z, i) => z + baseline.weight * zb[i]!);
  }
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
  return { candidate: cands[best]!, score: scores[best]!, candidates: cands.length };
}
