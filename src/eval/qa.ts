// QA evaluation of the assistant: for each question of a JSONL set (question,
// answer, answer_aliases, source_path), retrieval recall@k for BM25, vectors
// and hybrid (the gold file among the sources of the top k sections), then
// one answer (answer.ts) scored by normalised match, whether it cites the
// gold file, whether it said "not found", and its latency. A set of
// unanswerable questions measures the not-found rate. Returns per-question
// records and a summary; writing files and printing is the caller's job.
import { readFileSync } from "node:fs";

import { FormatError, NotFoundError } from "../errors.ts";
import { parseJsonl } from "../util/jsonl.ts";
import { answer, type AnswerOptions, type AnswerResult } from "../assistant/answer.ts";
import { RETRIEVAL_MODES, retrieve, type RetrievalMode } from "../assistant/retrieve.ts";
import { answerMatches, sameSource } from "./score.ts";

export interface QaItem {
  id: string;
  question: string;
  /** Empty for unanswerable questions. */
  answer: string;
  aliases: string[];
  sourcePath: string | null;
}

/** Reads a question set: one JSON object per line with at least "question" (and "answer" unless unanswerable). */
export function readQaFile(path: string, opts: { unanswerable?: boolean } = {}): QaItem[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new NotFoundError(`cannot read question set ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const items = parseJsonl(text, path, (v, { at, line }): QaItem => {
    const r = (v ?? {}) as Record<string, unknown>;
    if (typeof r.question !== "string" || r.question.trim() === "") throw new FormatError(`${at}: "question" must be a non-empty string`);
    if (!opts.unanswerable && (typeof r.answer !== "string" || r.answer.trim() === ""))
      throw new FormatError(`${at}: "answer" must be a non-empty string`, { hint: "questions without an answer go in the --unanswerable set" });
    const aliases = r.answer_aliases ?? [];
    if (!Array.isArray(aliases) || !aliases.every((a) => typeof a === "string")) throw new FormatError(`${at}: "answer_aliases" must be an array of strings`);
    return {
      id: typeof r.id === "string" ? r.id : `${line}`,
      question: r.question,
      answer: typeof r.answer === "string" ? r.answer : "",
      aliases: aliases as string[],
      sourcePath: typeof r.source_path === "string" ? r.source_path : null,
    };
  });
  if (items.length === 0) throw new FormatError(`${path}: no questions`);
  return items;
}

const RECALL_KS = [1, 3, 5] as const;

export interface QaRecord {
  id: string;
  question: string;
  gold: string;
  /** Rank (1-based) of the first section from the gold file, per retrieval mode; null if not in the top 5. */
  goldRank: Partial<Record<RetrievalMode, number | null>>;
  answer: string;
  correct: boolean;
  notFound: boolean;
  /** Cites the gold file (null when the answer cites nothing or said not found). */
  citesGold: boolean | null;
  confidence: number;
  ms: number;
  citations: { n: number; sourcePath: string; headingPath: string }[];
}

export interface UnanswerableRecord {
  id: string;
  question: string;
  answer: string;
  notFound: boolean;
  confidence: number;
  ms: number;
}

export interface QaSummary {
  questions: number;
  /** recall[mode]["@k"]: share of questions with a gold-file section in the top k. */
  recall: Partial<Record<RetrievalMode, Record<string, number>>>;
  answerMode: RetrievalMode;
  method: "model" | "reader" | "extractive";
  accuracy: number;
  /** Share of answerable questions wrongly answered "not found". */
  falseNotFound: number;
  /** Among answers that cite something: share citing the gold file. */
  citationCorrect: number | null;
  latencyMs: { mean: number; p50: number; p95: number };
  unanswerable: null | { questions: number; notFoundRate: number };
  minConfidence: number;
}

export interface QaResult {
  summary: QaSummary;
  records: QaRecord[];
  unanswerable: UnanswerableRecord[];
}

export interface RunQaOptions extends AnswerOptions {
  /** Retrieval modes to measure recall for (default: bm25, plus vector and hybrid when an embedder is given). */
  recallModes?: RetrievalMode[];
  onProgress?: (done: number, total: number) => void;
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export async function runQa(items: QaItem[], unanswerable: QaItem[], opts: RunQaOptions): Promise<QaResult> {
  const modes = opts.recallModes ?? (opts.embedder ? [...RETRIEVAL_MODES] : ["bm25" as const]);
  const maxK = Math.max(...RECALL_KS);
  const records: QaRecord[] = [];
  const total = items.length + unanswerable.length;
  let done = 0;
  let last: AnswerResult | null = null;
  for (const it of items) {
    const goldRank: QaRecord["goldRank"] = {};
    for (const m of modes) {
      const r = retrieve(opts.index, it.question, { mode: m, k: maxK, ...(opts.embedder ? { embedder: opts.embedder } : {}) });
      const pos = it.sourcePath === null ? -1 : r.hits.findIndex((h) => sameSource(h.section.source, it.sourcePath!));
      goldRank[m] = pos < 0 ? null : pos + 1;
    }
    const a = await answer(it.question, opts);
    last = a;
    const citesGold =
      a.notFound || a.citations.length === 0 || it.sourcePath === null ? null : a.citations.some((c) => sameSource(c.sourcePath, it.sourcePath!));
    records.push({
      id: it.id,
      question: it.question,
      gold: it.answer,
      goldRank,
      answer: a.text,
      correct: !a.notFound && answerMatches(a.text, it.answer, it.aliases),
      notFound: a.notFound,
      citesGold,
      confidence: a.retrieval.confidence,
      ms: a.ms,
      citations: a.citations.map((c) => ({ n: c.n, sourcePath: c.sourcePath, headingPath: c.headingPath })),
    });
    opts.onProgress?.(++done, total);
  }
  const un: UnanswerableRecord[] = [];
  for (const it of unanswerable) {
    const a = await answer(it.question, opts);
    last = a;
    un.push({ id: it.id, question: it.question, answer: a.text, notFound: a.notFound, confidence: a.retrieval.confidence, ms: a.ms });
    opts.onProgress?.(++done, total);
  }
  const recall: QaSummary["recall"] = {};
  for (const m of modes) {
    recall[m] = Object.fromEntries(
      RECALL_KS.map((k) => [
        `@${k}`,
        records.filter((r) => {
          const g = r.goldRank[m];
          return g !== null && g !== undefined && g <= k;
        }).length / Math.max(1, records.length),
      ]),
    );
  }
  const citing = records.filter((r) => r.citesGold !== null);
  const lat = [...records.map((r) => r.ms), ...un.map((r) => r.ms)];
  const summary: QaSummary = {
    questions: records.length,
    recall,
    answerMode: last?.retrieval.mode ?? opts.mode ?? "bm25",
    method: opts.reader ? "reader" : opts.model ? "model" : "extractive",
    accuracy: records.filter((r) => r.correct).length / Math.max(1, records.length),
    falseNotFound: records.filter((r) => r.notFound).length / Math.max(1, records.length),
    citationCorrect: citing.length === 0 ? null : citing.filter((r) => r.citesGold).length / citing.length,
    latencyMs: { mean: lat.reduce((a, b) => a + b, 0) / Math.max(1, lat.length), p50: quantile(lat, 0.5), p95: quantile(lat, 0.95) },
    unanswerable: un.length === 0 ? null : { questions: un.length, notFoundRate: un.filter((r) => r.notFound).length / un.length },
    minConfidence: last?.retrieval.minConfidence ?? opts.minConfidence ?? 0,
  };
  return { summary, records, unanswerable: un };
}
