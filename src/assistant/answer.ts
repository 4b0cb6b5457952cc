// Answering a question from the index: retrieve the top sections, and if the
// answer confidence (confidence.ts) is below a threshold, say "not found in the documents";
// otherwise either
//   - "model": build the grounded prompt (prompt.ts) within the model's
//     context and generate greedily, citations parsed from [n] in the text;
//   - "reader": a trained extractive reader (reader.ts) scores each sentence
//     of the shown sources, beside the baseline's score unless told not to;
//     the best one, cited, is the answer;
//   - "extractive" (the baseline, no model): the sentence of the top sections
//     that shares the most (IDF-weighted) content words with the question,
//     cited as the section it came from (extractive.ts).
// With a JSON schema (`jsonSchema`) the model's answer is constrained to a
// JSON value valid against it (src/infer/json-schema/); only a model writing
// freely can be constrained, so the extractive answerers and copy decoding
// refuse a schema (ConfigError).
// Returns plain data the CLI, the evaluator and the server all use. Never
// prints; knows nothing about HTTP or files beyond the opened index.
import { ConfigError } from "../errors.ts";
import { generate } from "../infer/generate.ts";
import { compileSchema, JsonMasker, TokenIndex } from "../infer/json-schema/index.ts";
import type { SamplingOptions } from "../infer/sampler.ts";
import { KvCache, type CausalLM, type KvDtype } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { chatTemplateOf, type Tokenizer } from "../tokenizer/index.ts";
import type { Embedder } from "./embed.ts";
import type { SectionIndex } from "./index-db.ts";
import {
  NOT_FOUND_TEXT,
  fitSources,
  groundedMessages,
  groundedPromptText,
  parseCitations,
  saysNotFound,
  type PromptSource,
  type SectionLike,
  type SnippetOrder,
} from "./prompt.ts";
import { READER_BASELINE_WEIGHT, readerAnswer, readerIdf, type Reader } from "./reader.ts";
import { DEFAULT_RETRIEVAL_MODE, retrieve, type RetrievalMode } from "./retrieve.ts";
import { sentences } from "./terms.ts";
import { extractiveAnswer } from "./extractive.ts";
import { answerConfidence, CONFIDENCE_SOURCE_CHARS, DEFAULT_MIN_CONFIDENCE } from "./confidence.ts";

export interface AnswerOptions {
  index: SectionIndex;
  /** Embeds the question (needed for "vector" and "hybrid" retrieval). */
  embedder?: Embedder;
  /** A model and its tokenizer: generate the answer; without them the extractive baseline answers. */
  model?: CausalLM;
  tokenizer?: Tokenizer;
  /**
   * An extractive reader (reader.ts): it scores every sentence of the shown sources and the best
   * one, cited, is the answer. Takes precedence over `model`.
   */
  reader?: Reader;
  /**
   * Weight of the extractive baseline's sentence score beside the reader's, both z-scored over
   * the candidates (default READER_BASELINE_WEIGHT; 0 = the reader alone).
   */
  readerBaselineWeight?: number;
  /** Token ids that end generation (EOS, end of turn). */
  stopTokenIds?: readonly number[];
  /** Retrieval mode (default DEFAULT_RETRIEVAL_MODE, BM25; "vector" and "hybrid" need the embedder). */
  mode?: RetrievalMode;
  /** Sections shown to the model / searched by the extractive baseline (default 3). */
  k?: number;
  /** Answer-confidence threshold (confidence.ts; default DEFAULT_MIN_CONFIDENCE); 0 always answers. */
  minConfidence?: number;
  /** Most generated tokens (default 64). */
  maxTokens?: number;
  /** Sampling (default greedy). */
  sampling?: SamplingOptions;
  /** Storage of the model's KV cache while it writes (default f32). */
  kvDtype?: KvDtype;
  /**
   * "free" (default): the model writes any text. "copy": greedy decoding constrained to the
   * sentences of the shown sources, each followed by its citation, or the not-found phrase:
   * the model chooses which, token by token (copyDecode). "copy-answer": the same without the
   * not-found phrase (refusing is left to the answer confidence alone).
   */
  decode?: "free" | "copy" | "copy-answer";
  seed?: number;
  /**
   * A JSON Schema (parsed): the model's answer is a compact JSON value valid against it, written
   * under a token constraint (src/infer/json-schema/; unsupported keywords are a UsageError). Needs
   * `model` with free decoding (ConfigError otherwise: an extract is a sentence, not JSON). A
   * maxTokens below the schema's shortest value is a UsageError; within it the mask keeps the
   * value finishable. The not-found phrase inside the JSON does not make the result notFound;
   * only the confidence gate does.
   */
  jsonSchema?: unknown;
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
  method: "model" | "reader" | "extractive";
  /** confidence: the answer confidence (confidence.ts) compared with minConfidence; coverage: the question's words found in the best top section (retrieve.ts). */
  retrieval: { mode: RetrievalMode; confidence: number; coverage: number; minConfidence: number; hits: AnswerHit[]; ms: number };
  /** Prompt and generated tokens (model only). */
  usage: { promptTokens: number; completionTokens: number } | null;
  ms: number;
}

function toCitation(s: PromptSource): Citation {
  return { n: s.n, sourcePath: s.sourcePath, headingPath: s.headingPath, sectionId: s.sectionId, snippet: s.text };
}

export interface GroundedPromptOptions {
  tokenizer: Tokenizer;
  /** The model's context in tokens. */
  context: number;
  /** Tokens kept free for the answer. */
  maxNew: number;
  /** Source characters before token fitting (default 2400). */
  maxSourceChars?: number;
  /** Sentence order of trimmed snippets (default "relevance": the best-matching sentence first). */
  order?: SnippetOrder;
}

/**
 * The prompt ids a model is shown for a question and its retrieved sections: the grounded
 * prompt with the sources fitted into `context - maxNew` tokens, rendered with the model's chat
 * template (or as plain text ending in "Answer:"). answer() and grounded-QA fine-tuning
 * (synth.ts) both call this, so a model is trained on exactly what it is later shown.
 */
export function buildGroundedPrompt(
  question: string,
  sections: readonly SectionLike[],
  o: GroundedPromptOptions,
): { ids: number[]; sources: PromptSource[]; template: string | null } {
  const tok = o.tokenizer,
    ctx = o.context,
    maxNew = o.maxNew;
  if (maxNew >= ctx - 16) throw new ConfigError(`--max-tokens ${maxNew} leaves no room for a prompt in the model's ${ctx}-token context`);
  const template = chatTemplateOf(tok); // its own, else ChatML when the tokenizer has the tokens, else none (plain text)
  const encode = (sources: readonly PromptSource[]): number[] =>
    template !== null
      ? tok.applyChatTemplate(groundedMessages(question, sources), { addGenerationPrompt: true, template }).ids
      : tok.encode(groundedPromptText(question, sources), { addSpecialTokens: true });
  const sources = fitSources(question, sections, {
    maxChars: o.maxSourceChars ?? 2400,
    maxTokens: ctx - maxNew,
    countTokens: (s) => encode(s).length,
    order: o.order ?? "relevance",
  });
  const ids = encode(sources);
  if (ids.length > ctx - maxNew)
    throw new ConfigError(`the instructions and question alone need ${ids.length} tokens, more than the model's context allows with ${maxNew} to generate`);
  return { ids, sources, template };
}

/** The answers copy decoding allows: every sentence of every shown source (heading lines excepted) with its citation, and (unless `refusal` is false) the not-found phrase. */
export function copyCandidates(sources: readonly PromptSource[], refusal = true): string[] {
  const out: string[] = [];
  for (const src of sources) {
    const sents = sentences(src.text);
    for (const [i, s] of sents.entries()) if (!(i === 0 && sents.length > 1)) out.push(`${s} [${src.n}]`);
  }
  if (refusal) out.push(`${NOT_FOUND_TEXT}.`);
  return out;
}

/**
 * Greedy decoding constrained to a set of token sequences (a trie walk): at each step the model's
 * highest-scoring token among those that continue a still-possible candidate is taken; where a
 * candidate ends and others go on, it ends when a stop token outscores every continuation. Once
 * one candidate is left its remaining tokens are forced (greedy would take them anyway), so the
 * model is run only while the choice is open. Returns the chosen index and the decoding steps run.
 */
export function copyDecode(
  model: CausalLM,
  prompt: readonly number[],
  candidates: readonly (readonly number[])[],
  stopTokenIds: readonly number[],
  signal?: AbortSignal,
): { choice: number; steps: number } {
  if (candidates.length === 0) throw new ConfigError("copy decoding needs at least one candidate");
  let alive = candidates.map((_, i) => i).filter((i) => candidates[i]!.length > 0);
  if (alive.length === 0) return { choice: 0, steps: 0 };
  const V = model.config.vocabSize;
  const longest = Math.max(...alive.map((i) => candidates[i]!.length));
  const cache = new KvCache(model.config, 1, Math.min(model.config.maxSeqLen, prompt.length + longest + 1));
  const tape = new Tape({ grad: false });
  let logits = model.forwardCached(tape, Int32Array.from(prompt), 1, prompt.length, cache, Int32Array.of(0), { logits: "last" }).data.slice(0, V); // (V)
  let pos = 0,
    steps = 0;
  for (;;) {
    if (alive.length === 1) return { choice: alive[0]!, steps };
    if (signal?.aborted) throw new ConfigError("cancelled");
    const ended = alive.filter((i) => candidates[i]!.length === pos);
    const going = alive.filter((i) => candidates[i]!.length > pos);
    if (going.length === 0) return { choice: ended[0]!, steps };
    let best = -1,
      bestScore = -Infinity;
    for (const i of going) {
      const t = candidates[i]![pos]!;
      if (logits[t]! > bestScore) {
        bestScore = logits[t]!;
        best = t;
      }
    }
    if (ended.length > 0) {
      let stop = -Infinity;
      for (const t of stopTokenIds) if (t >= 0 && t < V) stop = Math.max(stop, logits[t]!);
      if (stop > bestScore) return { choice: ended[0]!, steps };
    }
    alive = going.filter((i) => candidates[i]![pos] === best);
    if (alive.length === 1 || prompt.length + pos + 1 >= cache.maxSeqLen) return { choice: alive[0]!, steps };
    tape.reset();
    logits = model.forwardCached(tape, Int32Array.of(best), 1, 1, cache, Int32Array.of(prompt.length + pos)).data.slice(0, V);
    pos++;
    steps++;
  }
}

/** Answers a question from the index; the shared entry point of `slm ask`, `slm eval qa` and the server. */
export async function answer(question: string, opts: AnswerOptions): Promise<AnswerResult> {
  const t0 = performance.now();
  if (typeof question !== "string" || question.trim() === "") throw new ConfigError("the question is empty");
  if (opts.model && !opts.tokenizer) throw new ConfigError("answering with a model needs its tokenizer");
  const json = opts.jsonSchema !== undefined;
  if (json && (opts.reader || !opts.model)) {
    throw new ConfigError(
      `a JSON schema constrains the answer a model writes, and this answer is picked, not written (${opts.reader ? "a reader chooses a sentence of the sources" : "the extractive baseline: no model"})`,
      { hint: "answer with a model that writes (--model MODEL_DIR)" },
    );
  }
  if (json && opts.decode !== undefined && opts.decode !== "free")
    throw new ConfigError(`a JSON schema needs free decoding; --decode ${opts.decode} copies a sentence of the sources`);
  const grammar = json ? compileSchema(opts.jsonSchema) : undefined;
  const k = opts.k ?? 3;
  const minConfidence = opts.minConfidence ?? DEFAULT_MIN_CONFIDENCE;
  const mode = opts.mode ?? DEFAULT_RETRIEVAL_MODE;
  const r = retrieve(opts.index, question, { mode, k: Math.max(k, 5), ...(opts.embedder ? { embedder: opts.embedder } : {}) });
  const hits: AnswerHit[] = r.hits.map((h) => ({
    rank: h.rank,
    sectionId: h.section.id,
    sourcePath: h.section.source,
    headingPath: h.section.headingPath,
    score: h.score,
    bm25Rank: h.bm25Rank,
    vectorRank: h.vectorRank,
  }));
  const gate = answerConfidence(opts.index, question, r, k);
  const retrieval = { mode, confidence: gate.confidence, coverage: r.confidence, minConfidence, hits, ms: r.ms };
  const method = opts.reader ? "reader" : opts.model ? "model" : "extractive";
  const notFoundResult = (
    sources: Citation[],
    usage: AnswerResult["usage"],
    text = `${NOT_FOUND_TEXT[0]!.toUpperCase()}${NOT_FOUND_TEXT.slice(1)}.`,
  ): AnswerResult => ({ text, citations: [], sources, notFound: true, method, retrieval, usage, ms: performance.now() - t0 });
  // A sentence picked from source n (the reader's or the extractive baseline's), cited; no model call.
  const sentenceResult = (sources: readonly PromptSource[], sentence: string, n: number): AnswerResult => ({
    text: `${sentence} [${n}]`,
    citations: [toCitation(sources[n - 1]!)],
    sources: sources.map(toCitation),
    notFound: false,
    method,
    retrieval,
    usage: null,
    ms: performance.now() - t0,
  });
  if (r.hits.length === 0 || gate.confidence < minConfidence) return notFoundResult([], null);
  const top = r.hits.slice(0, k).map((h) => h.section);
  // The extractive answerers read the sources the gate read, unless told to show more or less.
  const shown = () =>
    (opts.maxSourceChars ?? CONFIDENCE_SOURCE_CHARS) === CONFIDENCE_SOURCE_CHARS ? gate.sources : fitSources(question, top, { maxChars: opts.maxSourceChars! });

  if (opts.reader) {
    const sources = shown();
    const weight = opts.readerBaselineWeight ?? READER_BASELINE_WEIGHT;
    if (!Number.isFinite(weight) || weight < 0) throw new ConfigError(`the reader's baseline weight must be a number >= 0, got ${weight}`);
    const best = readerAnswer(opts.reader, question, sources, readerIdf(opts.index), { idf: (t) => opts.index.idf(t), weight });
    if (!best) return notFoundResult(sources.map(toCitation), null);
    return sentenceResult(sources, best.candidate.text, best.candidate.n);
  }

  if (!opts.model) {
    const sources = shown();
    const ex = extractiveAnswer(question, sources, (t) => opts.index.idf(t));
    if (!ex) return notFoundResult(sources.map(toCitation), null);
    return sentenceResult(sources, ex.sentence, ex.n);
  }

  const model = opts.model,
    tok = opts.tokenizer!;
  const maxNew = opts.maxTokens ?? 64;
  const { ids, sources: fitted } = buildGroundedPrompt(question, top, {
    tokenizer: tok,
    context: model.config.maxSeqLen,
    maxNew,
    ...(opts.maxSourceChars !== undefined ? { maxSourceChars: opts.maxSourceChars } : {}),
  });
  let text: string, usage: AnswerResult["usage"];
  if (opts.decode === "copy" || opts.decode === "copy-answer") {
    const cands = copyCandidates(fitted, opts.decode === "copy");
    const r = copyDecode(
      model,
      ids,
      cands.map((c) => tok.encode(c, { addSpecialTokens: false })),
      opts.stopTokenIds ?? [],
      opts.signal,
    );
    text = cands[r.choice]!;
    usage = { promptTokens: ids.length, completionTokens: r.steps };
  } else {
    const stopTokenIds = opts.stopTokenIds ?? [];
    // Ids the tokenizer lacks (padded vocabularies) and special tokens never appear inside JSON.
    const constraint = grammar
      ? new JsonMasker(
          grammar,
          new TokenIndex(Array.from({ length: model.config.vocabSize }, (_, id) => (tok.isSpecial(id) ? null : tok.idToBytes(id)))),
        ).constraint(stopTokenIds)
      : undefined;
    const [res] = await generate(model, [ids], {
      maxTokens: maxNew,
      sampling: opts.sampling ?? { temperature: 0 },
      seed: opts.seed ?? 0,
      stopTokenIds,
      ...(opts.kvDtype ? { kvDtype: opts.kvDtype } : {}),
      ...(constraint ? { constraints: [constraint] } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    text = tok.decode(res!.ids, { skipSpecialTokens: true }).trim();
    if (constraint && !constraint.finished && res!.finishReason !== "cancelled") {
      throw new ConfigError(`the answer ran out of tokens (max ${maxNew}) before its JSON value was complete: ${text.slice(0, 80)}…`, {
        hint: "raise --max-tokens, or simplify the schema",
      });
    }
    usage = { promptTokens: res!.promptTokens, completionTokens: res!.completionTokens };
  }
  const all = fitted.map(toCitation);
  if (!json && saysNotFound(text)) return notFoundResult(all, usage, text);
  const cited = parseCitations(text, fitted.length).map((n) => all[n - 1]!);
  return { text, citations: cited, sources: all, notFound: false, method, retrieval, usage, ms: performance.now() - t0 };
}
