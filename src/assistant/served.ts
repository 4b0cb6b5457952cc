// The served assistant: a document index opened by the server (`slm serve
// --index`), exposed as a second chat model. For a chat request it retrieves
// the top sections on the calling thread (SQLite + FTS5, a few ms), answers
// "not found" without any model when the answer confidence is low, and
// otherwise builds the grounded prompt (prompt.ts) fitted to the model's
// context with the backend's own token counter, for the caller to generate
// through the SAME backend (worker, batching, streaming, cancellation). After
// generation, citations are the [n] in the text. The "extractive" answerer
// skips the model (the baseline of answer.ts); the "reader" answerer lets a
// trained reader (slm train-reader) pick the sentence. Knows nothing about
// HTTP: reply() takes a request-shaped input and returns the reply's parts,
// which src/serve/ maps to routes and JSON.
import { answer } from "./answer.ts";
import { answerConfidence, DEFAULT_MIN_CONFIDENCE } from "./confidence.ts";
import { HashEmbedder, type Embedder } from "./embed.ts";
import { loadReaderDir } from "../formats/reader-dir.ts";
import type { Reader } from "./reader.ts";
import { SectionIndex, type Section } from "./index-db.ts";
import { fitSourcesAsync, groundedMessages, groundedPromptText, NOT_FOUND_TEXT, parseCitations, saysNotFound, type PromptSource } from "./prompt.ts";
import { DEFAULT_RETRIEVAL_MODE, needsEmbedder, retrieve, type RetrievalMode } from "./retrieve.ts";
import { ConfigError, UsageError } from "../errors.ts";
import type { ChatMessage } from "../tokenizer/index.ts";

/** A prompt for the model: chat turns (through its chat template) or plain text. */
export type PromptInput = { kind: "chat"; messages: ChatMessage[] } | { kind: "text"; prompt: string };

/** What the assistant needs of the model that answers: its context, whether it has a chat template, and its token counter. */
export interface PromptBackend {
  readonly card: { readonly contextLength: number; readonly chatTemplate: boolean };
  countTokens(input: PromptInput): Promise<number>;
}

/** max_tokens of an answer when the request sets none (also capped at a quarter of the context, so the sources fit). */
export const DEFAULT_ASSISTANT_MAX_TOKENS = 128;

export type Answerer = "model" | "extractive" | "reader";
/** What --answerer accepts: "auto" (the default) picks model or extractive by what the model was trained for. */
export type AnswererChoice = Answerer | "auto";
export const ANSWERERS: readonly AnswererChoice[] = ["auto", "model", "extractive", "reader"];

export interface AssistantOptions {
  /** Index file made by `slm index`. */
  indexPath: string;
  /** The served base model's id; the assistant is `<modelId>-assistant`. */
  modelId: string;
  /**
   * "auto" (default): "model" when `modelWrites.ok` (the served model was trained to answer),
   * else "extractive". "model": the served model writes the answer; "extractive": the best
   * sentence by word overlap, no model; "reader": the sentence a trained reader (readerDir)
   * scores best, fused with the baseline's score (answer()'s default readerBaselineWeight).
   */
  answerer?: AnswererChoice;
  /** Whether the served model was trained to write answers, and why (ModelCard.writesAnswers); what "auto" decides by. */
  modelWrites?: { ok: boolean; reason: string };
  /** A reader directory (`slm train-reader`), for answerer "reader". */
  readerDir?: string;
  /** Sections shown to the model (default 3). */
  k?: number;
  /** Retrieval confidence below which the answer is "not found" (default DEFAULT_MIN_CONFIDENCE). */
  minConfidence?: number;
  /** Source characters before token fitting (default 2400, as answer()). */
  maxSourceChars?: number;
}

/** One cited (or shown) source, as sent to clients. */
export interface CitationJson {
  n: number;
  source_path: string;
  heading_path: string;
  section_id: string;
  /** The section's page on this server (relative), e.g. /sections/d003%232. */
  url: string;
  /** "source path — heading path", what the web UI shows as the link text. */
  title: string;
}

/** The outcome of preparing a question: a finished answer (no model needed) or a prompt to generate from. */
export type Prepared =
  | { kind: "answer"; text: string; notFound: boolean; citations: CitationJson[]; sources: CitationJson[]; confidence: number }
  | { kind: "generate"; input: PromptInput; stop: string[]; sources: PromptSource[]; confidence: number };

/** A chat request as the assistant sees it: it answers the last user message. */
export interface AssistantRequest {
  messages: readonly ChatMessage[];
  /** Generation budget; default DEFAULT_ASSISTANT_MAX_TOKENS, capped at a quarter of the context. */
  maxTokens?: number;
  /** Sampling temperature of a model-written answer; default 0 (greedy). */
  temperature?: number;
}

/** The fields an answer carries beside its text: the cited sources, and which method answered and why (the web UI shows it). */
export interface AnswerFields {
  citations: CitationJson[];
  not_found: boolean;
  /** "extractive", "reader", "model"; "not_found" when nothing was answered. */
  answered_by: { method: string; reason: string };
}

/** The parts of the assistant's reply: the budget it runs with, the answer (finished, or a prompt to generate from), and its citation fields. */
export interface AssistantReply {
  maxTokens: number;
  temperature: number;
  answer: { kind: "text"; text: string } | { kind: "generate"; input: PromptInput; stop: string[] };
  /** The citation fields of the final text (the generated one, or answer.text). */
  fields(text: string): AnswerFields;
}

/** The web page of a section (the citation link). */
export function sectionUrl(id: string): string {
  return `/sections/${encodeURIComponent(id)}`;
}

function citationJson(s: PromptSource): CitationJson {
  return {
    n: s.n,
    source_path: s.sourcePath,
    heading_path: s.headingPath,
    section_id: s.sectionId,
    url: sectionUrl(s.sectionId),
    title: `${s.sourcePath} — ${s.headingPath}`,
  };
}

/** The question a chat asks the assistant: its last user message ("" when there is none). */
export function questionOf(messages: readonly ChatMessage[]): string {
  return [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
}

const NOT_FOUND_ANSWER = `${NOT_FOUND_TEXT[0]!.toUpperCase()}${NOT_FOUND_TEXT.slice(1)}.`;

export class ServedAssistant {
  readonly id: string;
  readonly answerer: Answerer;
  /** Why this answerer: chosen by flag, or what "auto" saw in the model. */
  readonly answererReason: string;
  readonly k: number;
  readonly minConfidence: number;
  readonly mode: RetrievalMode;
  readonly index: SectionIndex;
  private readonly embedder: Embedder | undefined;
  private readonly maxSourceChars: number;
  private readonly reader: Reader | undefined;

  private constructor(index: SectionIndex, opts: AssistantOptions) {
    this.index = index;
    this.id = `${opts.modelId}-assistant`;
    const choice = opts.answerer ?? "auto";
    if (!ANSWERERS.includes(choice)) throw new ConfigError(`answerer must be one of ${ANSWERERS.join(", ")}, got ${JSON.stringify(opts.answerer)}`);
    if (choice === "auto") {
      // A model writes only when it was trained to; otherwise an extract with its citation, not generated text.
      const w = opts.modelWrites ?? { ok: false, reason: "nothing is known about the model" };
      this.answerer = w.ok ? "model" : "extractive";
      this.answererReason = w.ok ? `the model writes: ${w.reason}` : `extracts, not generated text: the model is ${w.reason.replace(/^an? /, "a ")}`;
    } else {
      this.answerer = choice;
      this.answererReason = choice === "reader" ? "a trained reader picks the answering sentence (--reader)" : `chosen with --answerer ${choice}`;
    }
    if ((this.answerer === "reader") !== (opts.readerDir !== undefined)) throw new ConfigError("the reader answerer and a reader directory go together");
    if (opts.readerDir !== undefined) {
      const r = loadReaderDir(opts.readerDir);
      this.reader = { model: r.model, tokenizer: r.tokenizer };
    }
    this.k = opts.k ?? 3;
    this.minConfidence = opts.minConfidence ?? DEFAULT_MIN_CONFIDENCE;
    this.maxSourceChars = opts.maxSourceChars ?? 2400;
    // slm ask's default retrieval. Should it search vectors: hashed ones are computed here at once;
    // a model embedder would need a second model instance on this thread, so then BM25 alone.
    const spec = index.info.embedder;
    this.embedder = needsEmbedder(DEFAULT_RETRIEVAL_MODE) && spec.kind === "hash" ? new HashEmbedder(spec.dim) : undefined;
    this.mode = needsEmbedder(DEFAULT_RETRIEVAL_MODE) && !this.embedder ? "bm25" : DEFAULT_RETRIEVAL_MODE;
  }

  /** Opens the index (FormatError / NotFoundError for a bad path). */
  static open(opts: AssistantOptions): ServedAssistant {
    const index = SectionIndex.open(opts.indexPath);
    try {
      return new ServedAssistant(index, opts);
    } catch (e) {
      index.close();
      throw e;
    }
  }

  /** What GET /v1/models shows under slm.assistant. */
  describe(): Record<string, unknown> {
    return {
      index: this.index.path,
      sections: this.index.size,
      documents: this.index.info.documents,
      answerer: this.answerer,
      answerer_reason: this.answererReason,
      retrieval: this.mode,
      k: this.k,
      min_confidence: this.minConfidence,
    };
  }

  section(id: string): Section | undefined {
    return this.index.sectionById(id);
  }

  /**
   * The completion path of a chat request: retrieval, then either a finished answer (not found,
   * extractive, reader) or the grounded prompt for the backend to generate, with the citation
   * fields of the final text. UsageError when the last user message is missing or empty.
   */
  async reply(req: AssistantRequest, backend: PromptBackend): Promise<AssistantReply> {
    const maxTokens = Math.max(1, Math.min(req.maxTokens ?? DEFAULT_ASSISTANT_MAX_TOKENS, Math.floor(backend.card.contextLength / 4)));
    const temperature = req.temperature ?? 0;
    const plan = await this.prepare(questionOf(req.messages), backend, maxTokens);
    if (plan.kind === "answer") {
      const method = plan.notFound ? "not_found" : this.answerer;
      const reason = plan.notFound ? "no section matched the question well enough" : this.answererReason;
      return {
        maxTokens,
        temperature,
        answer: { kind: "text", text: plan.text },
        fields: () => ({ citations: plan.citations, not_found: plan.notFound, answered_by: { method, reason } }),
      };
    }
    return {
      maxTokens,
      temperature,
      answer: { kind: "generate", input: plan.input, stop: plan.stop },
      fields: (text) => {
        const f = this.finish(text, plan.sources);
        return { citations: f.citations, not_found: f.notFound, answered_by: { method: "model", reason: this.answererReason } };
      },
    };
  }

  /**
   * Retrieval and the prompt for a question. maxTokens is the generation budget the prompt
   * must leave room for within contextLength; the backend counts the prompt's tokens.
   */
  async prepare(question: string, backend: PromptBackend, maxTokens: number): Promise<Prepared> {
    if (question.trim() === "") throw new UsageError("the assistant needs a question: the last user message is empty");
    if (this.answerer === "extractive" || this.answerer === "reader") {
      // Both pick a sentence on this thread (the reader scores a few dozen short pairs: tens of ms for a nano reader).
      const r = await answer(question, {
        index: this.index,
        mode: this.mode,
        k: this.k,
        minConfidence: this.minConfidence,
        maxSourceChars: this.maxSourceChars,
        ...(this.embedder ? { embedder: this.embedder } : {}),
        ...(this.reader ? { reader: this.reader } : {}),
      });
      const conv = (c: (typeof r.sources)[number]): CitationJson =>
        citationJson({ n: c.n, sourcePath: c.sourcePath, headingPath: c.headingPath, sectionId: c.sectionId, text: c.snippet });
      return {
        kind: "answer",
        text: r.text,
        notFound: r.notFound,
        citations: r.citations.map(conv),
        sources: r.sources.map(conv),
        confidence: r.retrieval.confidence,
      };
    }
    const r = retrieve(this.index, question, { mode: this.mode, k: Math.max(this.k, 5), ...(this.embedder ? { embedder: this.embedder } : {}) });
    const { confidence } = answerConfidence(this.index, question, r, this.k);
    if (r.hits.length === 0 || confidence < this.minConfidence)
      return { kind: "answer", text: NOT_FOUND_ANSWER, notFound: true, citations: [], sources: [], confidence };
    const top = r.hits.slice(0, this.k).map((h) => h.section);
    const template = backend.card.chatTemplate;
    // The same two prompt shapes as answer(): the chat template's user turn, or plain text ending "Answer:".
    const inputOf = (sources: readonly PromptSource[]): PromptInput =>
      template ? { kind: "chat", messages: groundedMessages(question, sources) } : { kind: "text", prompt: groundedPromptText(question, sources) };
    const budget = backend.card.contextLength - maxTokens;
    const sources = await fitSourcesAsync(question, top, {
      maxChars: this.maxSourceChars,
      maxTokens: budget,
      countTokens: (s) => backend.countTokens(inputOf(s)),
    });
    if (sources.length === 0) {
      throw new UsageError(
        `the assistant's instructions and question do not fit the model's ${backend.card.contextLength}-token context with max_tokens ${maxTokens}`,
        { hint: "lower max_tokens or ask a shorter question" },
      );
    }
    return { kind: "generate", input: inputOf(sources), stop: template ? [] : ["\nQuestion:", "\nSources:"], sources, confidence };
  }

  /** Citations of a generated answer: the shown sources its [n] name; "not found" when it says so. */
  finish(text: string, sources: readonly PromptSource[]): { notFound: boolean; citations: CitationJson[] } {
    if (saysNotFound(text)) return { notFound: true, citations: [] };
    return { notFound: false, citations: parseCitations(text, sources.length).map((n) => citationJson(sources[n - 1]!)) };
  }

  close(): void {
    this.index.close();
  }
}
