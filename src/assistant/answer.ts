// Answering a question from the index: retrieve the top sections, and if the
// retrieval confidence is below a threshold, say "not found in the documents";
// otherwise either
//   - "model": build the grounded prompt (prompt.ts) within the model's
//     context and generate greedily, citations parsed from [n] in the text;
//   - "extractive" (the baseline, no model): the sentence of the top sections
//     that shares the most (IDF-weighted) content words with the question,
//     cited as the section it came from.
// Returns plain data the CLI, the evaluator and the server all use. Never
// prints; knows nothing about HTTP or files beyond the opened index.
import { ConfigError } from "../errors.ts";
import { generate } from "../infer/generate.ts";
import type { SamplingOptions } from "../infer/sampler.ts";
import type { CausalLM } from "../models/index.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import type { Embedder } from "./embed.ts";
import type { SectionIndex } from "./index-db.ts";
import { NOT_FOUND_TEXT, fitSources, groundedMessages, groundedPromptText, parseCitations, saysNotFound, sentences, type PromptSource } from "./prompt.ts";
import { retrieve, type RetrievalMode } from "./retrieve.ts";
import { contentTerms, words } from "./terms.ts";

/**
 * Default retrieval-confidence threshold: below it the answer is "not found". Chosen on the
 * 18F handbook question sets (docs/assistant.md has the sweep); the Northwind sets were not used.
 */
export const DEFAULT_MIN_CONFIDENCE = 0.65;

export interface AnswerOptions {
  index: SectionIndex;
  /** Embeds the question (needed for "vector" and "hybrid" retrieval). */
  embedder?: Embedder;
  /** A model and its tokenizer: generate the answer; without them the extractive baseline answers. */
  model?: CausalLM;
  tokenizer?: Tokenizer;
  /** Token ids that end generation (EOS, end of turn). */
  stopTokenIds?: readonly number[];
  /** Retrieval mode (default hybrid when an embedder is given, else bm25). */
  mode?: RetrievalMode;
  /** Sections shown to the model / searched by the extractive baseline (default 3). */
  k?: number;
  /** Confidence threshold (default DEFAULT_MIN_CONFIDENCE); 0 always answers. */
  minConfidence?: number;
  /** Most generated tokens (default 64). */
  maxTokens?: number;
  /** Sampling (default greedy). */
  sampling?: SamplingOptions;
  seed?: number;
  /** Source characters in the prompt before token fitting (default 2400). */
  maxSourceChars?: number;
  signal?: AbortSignal;
}

export interface Citation {
  n: number;
  sourcePath: string;
  headingPath: string;
  sectionId: string;
  /** The text of the section shown to the model (or the extracted sentence). */
  snippet: string;
}

export interface AnswerHit {
  rank: number;
  sectionId: string;
  sourcePath: string;
  headingPath: string;
  score: number;
  bm25Rank: number | null;
  vectorRank: number | null;
}

export interface AnswerResult {
  text: string;
  /** The sources the answer cites, by number. */
  citations: Citation[];
  /** Every source shown (what [n] refers to). */
  sources: Citation[];
  notFound: boolean;
  method: "model" | "extractive";
  retrieval: { mode: RetrievalMode; confidence: number; minConfidence: number; hits: AnswerHit[]; ms: number };
  /** Prompt and generated tokens (model only). */
  usage: { promptTokens: number; completionTokens: number } | null;
  ms: number;
}

function toCitation(s: PromptSource): Citation {
  return { n: s.n, sourcePath: s.sourcePath, headingPath: s.headingPath, sectionId: s.sectionId, snippet: s.text };
}

/** The best sentence of the sources for a question, by IDF-weighted shared stems (earlier sources win ties). */
export function extractiveAnswer(question: string, sources: readonly PromptSource[], idf: (term: string) => number): { sentence: string; n: number } | null {
  const q = new Set(contentTerms(question));
  let best: { sentence: string; n: number; score: number } | null = null;
  for (const src of sources) {
    const sents = sentences(src.text);
    sents.forEach((s, i) => {
      if (i === 0 && sents.length > 1) return; // the heading line
      let score = 0;
      for (const t of new Set(contentTerms(s))) if (q.has(t)) score += idf(t);
      if (words(s).length < 4) score *= 0.5;
      score -= (src.n - 1) * 0.5; // prefer higher-ranked sources a little
      if (!best || score > best.score) best = { sentence: s, n: src.n, score };
    });
  }
  const b = best as { sentence: string; n: number; score: number } | null;
  return b ? { sentence: b.sentence, n: b.n } : null;
}

/** Answers a question from the index; the shared entry point of `slm ask`, `slm eval qa` and the server. */
export async function answer(question: string, opts: AnswerOptions): Promise<AnswerResult> {
  const t0 = performance.now();
  if (typeof question !== "string" || question.trim() === "") throw new ConfigError("the question is empty");
  if (opts.model && !opts.tokenizer) throw new ConfigError("answering with a model needs its tokenizer");
  const k = opts.k ?? 3;
  const minConfidence = opts.minConfidence ?? DEFAULT_MIN_CONFIDENCE;
  const mode = opts.mode ?? (opts.embedder ? "hybrid" : "bm25");
  const r = retrieve(opts.index, question, { mode, k: Math.max(k, 5), ...(opts.embedder ? { embedder: opts.embedder } : {}) });
  const hits: AnswerHit[] = r.hits.map((h) => ({ rank: h.rank, sectionId: h.section.id, sourcePath: h.section.source, headingPath: h.section.headingPath, score: h.score, bm25Rank: h.bm25Rank, vectorRank: h.vectorRank }));
  const retrieval = { mode, confidence: r.confidence, minConfidence, hits, ms: r.ms };
  const method = opts.model ? "model" : "extractive";
  const notFoundResult = (sources: Citation[], usage: AnswerResult["usage"], text = `${NOT_FOUND_TEXT[0]!.toUpperCase()}${NOT_FOUND_TEXT.slice(1)}.`): AnswerResult =>
    ({ text, citations: [], sources, notFound: true, method, retrieval, usage, ms: performance.now() - t0 });
  if (r.hits.length === 0 || r.confidence < minConfidence) return notFoundResult([], null);
  const top = r.hits.slice(0, k).map((h) => h.section);

  if (!opts.model) {
    const sources = fitSources(question, top, { maxChars: opts.maxSourceChars ?? 2400 });
    const ex = extractiveAnswer(question, sources, (t) => opts.index.idf(t));
    if (!ex) return notFoundResult(sources.map(toCitation), null);
    const src = sources[ex.n - 1]!;
    return { text: `${ex.sentence} [${ex.n}]`, citations: [toCitation(src)], sources: sources.map(toCitation), notFound: false, method, retrieval, usage: null, ms: performance.now() - t0 };
  }

  const model = opts.model, tok = opts.tokenizer!;
  const maxNew = opts.maxTokens ?? 64;
  const ctx = model.config.maxSeqLen;
  if (maxNew >= ctx - 16) throw new ConfigError(`--max-tokens ${maxNew} leaves no room for a prompt in the model's ${ctx}-token context`);
  const template = typeof tok.spec.config.chat_template === "string" && tok.spec.config.chat_template.length > 0;
  const encode = (question: string, sources: readonly PromptSource[]): number[] =>
    template ? tok.applyChatTemplate(groundedMessages(question, sources), { addGenerationPrompt: true }).ids : tok.encode(groundedPromptText(question, sources), { addSpecialTokens: true });
  const fitted = fitSources(question, top, { maxChars: opts.maxSourceChars ?? 2400, maxTokens: ctx - maxNew, countTokens: (s) => encode(question, s).length });
  const ids = encode(question, fitted);
  if (ids.length > ctx - maxNew) throw new ConfigError(`the instructions and question alone need ${ids.length} tokens, more than the model's context allows with ${maxNew} to generate`);
  const [res] = await generate(model, [ids], {
    maxTokens: maxNew,
    sampling: opts.sampling ?? { temperature: 0 },
    seed: opts.seed ?? 0,
    stopTokenIds: opts.stopTokenIds ?? [],
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const text = tok.decode(res!.ids, { skipSpecialTokens: true }).trim();
  const usage = { promptTokens: res!.promptTokens, completionTokens: res!.completionTokens };
  const all = fitted.map(toCitation);
  if (saysNotFound(text)) return notFoundResult(all, usage, text);
  const cited = parseCitations(text, fitted.length).map((n) => all[n - 1]!);
  return { text, citations: cited, sources: all, notFound: false, method, retrieval, usage, ms: performance.now() - t0 };
}
