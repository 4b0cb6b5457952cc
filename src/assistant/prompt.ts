// The grounded prompt: numbered sources (path, heading path, a snippet of the
// section chosen around the sentences that share the most words with the
// question), then the question; the model answers citing [n], or says the
// fixed not-found phrase. One format for asking (answer.ts) and for building
// SFT examples (grounded-qa fine-tuning), so a model is trained on exactly
// what it is later shown. Also sentence splitting and citation parsing.
// Knows nothing about models, tokenizers (a token counter may be passed) or SQLite.
import type { ChatMessage } from "../tokenizer/index.ts";
import { contentTerms, sentenceLines } from "./terms.ts";

/** What the assistant says when the documents do not answer the question. */
export const NOT_FOUND_TEXT = "not found in the documents";

const GROUNDED_INSTRUCTIONS =
  `Answer the question using only the sources below. Cite each source you use as [1], [2]. ` +
  `If the sources do not contain the answer, reply exactly: ${NOT_FOUND_TEXT}.`;

export interface PromptSource {
  /** Citation number, 1-based. */
  n: number;
  sourcePath: string;
  headingPath: string;
  sectionId: string;
  /** The text shown (a snippet of the section). */
  text: string;
}

/** Overlap of a sentence with the question's content stems (distinct stems shared). */
function overlap(qTerms: ReadonlySet<string>, s: string): number {
  let n = 0;
  for (const t of new Set(contentTerms(s))) if (qTerms.has(t)) n++;
  return n;
}

/** Order of the sentences of a trimmed snippet: as in the document, or best-overlapping first. */
export type SnippetOrder = "document" | "relevance";

/**
 * The part of `text` to show for a question within maxChars: the whole text if it fits,
 * else its first line (the heading) plus the best-overlapping sentences, in their original
 * order ("document", the default) or best first ("relevance": what a small model reads first).
 */
export function selectSnippet(text: string, question: string, maxChars: number, orderBy: SnippetOrder = "document"): string {
  if (text.length <= maxChars) return text;
  const lines = sentenceLines(text);
  const sents = lines.map((x) => x.sentence);
  if (sents.length === 0) return text.slice(0, maxChars);
  const q = new Set(contentTerms(question));
  const order = sents.map((s, i) => ({ i, score: overlap(q, s) - i * 1e-3 })).sort((a, b) => b.score - a.score);
  const keep = new Set<number>([0]);
  let used = sents[0]!.length;
  for (const { i } of order) {
    if (keep.has(i)) continue;
    if (used + sents[i]!.length + 1 > maxChars) continue;
    keep.add(i);
    used += sents[i]!.length + 1;
  }
  const rank = new Map(order.map(({ i }, r) => [i, r]));
  const ids = [...keep].sort((a, b) => a - b);
  if (orderBy === "relevance") ids.sort((a, b) => (a === 0 ? -1 : b === 0 ? 1 : rank.get(a)! - rank.get(b)!));
  // Sentences of one line stay on one line; a list item or paragraph starts a new one (joining
  // list items with spaces made one candidate answer of a whole list: "- Holidays - A paid sabbatical…").
  let s = ids.map((i, j) => (j === 0 ? "" : orderBy === "document" && lines[ids[j - 1]!]!.line === lines[i]!.line ? " " : "\n") + sents[i]!).join("");
  if (s.length > maxChars) s = s.slice(0, maxChars);
  return s;
}

/** One source block: "[n] path — heading path" then the snippet. */
function formatSource(s: PromptSource): string {
  return `[${s.n}] ${s.sourcePath} — ${s.headingPath}\n${s.text}`;
}

/** The user turn: instructions, sources, question. */
function groundedUserMessage(question: string, sources: readonly PromptSource[]): string {
  return `${GROUNDED_INSTRUCTIONS}\n\nSources:\n\n${sources.map(formatSource).join("\n\n")}\n\nQuestion: ${question.trim()}`;
}

/** Chat messages for a model with a chat template (one user turn; small templates may lack a system role). */
export function groundedMessages(question: string, sources: readonly PromptSource[]): ChatMessage[] {
  return [{ role: "user", content: groundedUserMessage(question, sources) }];
}

/** Plain-text prompt for a model without a chat template; the model continues after "Answer:". */
export function groundedPromptText(question: string, sources: readonly PromptSource[]): string {
  return `${groundedUserMessage(question, sources)}\nAnswer:`;
}

/** An SFT example in the same format (grounded-qa fine-tuning). */
export function groundedExample(question: string, sources: readonly PromptSource[], answer: string): ChatMessage[] {
  return [...groundedMessages(question, sources), { role: "assistant", content: answer }];
}

export interface SectionLike {
  id: string;
  source: string;
  headingPath: string;
  text: string;
}

export interface FitOptions {
  /** Tokens of the whole prompt the caller builds from these sources (template included); without it, maxChars alone bounds the source text. */
  countTokens?: (sources: readonly PromptSource[]) => number;
  /** Most prompt tokens (with countTokens). */
  maxTokens?: number;
  /** Most characters of source text in all (default 3000). */
  maxChars?: number;
  /** Fewest characters of one snippet before a source is dropped instead (default 160). */
  minSnippetChars?: number;
  /** Sentence order of trimmed snippets (default "document"). */
  order?: SnippetOrder;
}

/**
 * The fitting loop as a generator: yields a candidate list of sources and is told (via next(fits))
 * whether its prompt fits; returns the first that fits ([] when none does). Shared by the sync
 * and async fitters so both shrink the same way.
 */
function* fitCandidates(
  question: string,
  sections: readonly SectionLike[],
  opts: Omit<FitOptions, "countTokens">,
): Generator<PromptSource[], PromptSource[], boolean> {
  const minChars = opts.minSnippetChars ?? 160;
  let list = [...sections];
  let perSource = Math.floor((opts.maxChars ?? 3000) / Math.max(1, list.length));
  for (let guard = 0; guard < 200 && list.length > 0; guard++) {
    const sources = list.map((s, i) => ({
      n: i + 1,
      sourcePath: s.source,
      headingPath: s.headingPath,
      sectionId: s.id,
      text: selectSnippet(s.text, question, perSource, opts.order),
    }));
    if (opts.maxTokens === undefined) return sources;
    if (yield sources) return sources;
    perSource = Math.floor(perSource * 0.8);
    if (perSource < minChars) {
      list = list.slice(0, -1);
      perSource = Math.floor((opts.maxChars ?? 3000) / Math.max(1, list.length));
    }
  }
  return [];
}

/**
 * Numbered sources for a question that fit the budget: each section's snippet gets an
 * equal share, shrunk until the prompt fits; below minSnippetChars the last source goes.
 */
export function fitSources(question: string, sections: readonly SectionLike[], opts: FitOptions = {}): PromptSource[] {
  const count = opts.countTokens;
  const gen = fitCandidates(question, sections, count ? opts : { ...opts, maxTokens: undefined });
  let step = gen.next(false);
  while (!step.done) step = gen.next(count!(step.value) <= opts.maxTokens!);
  return step.value;
}

/** fitSources with an asynchronous token counter (e.g. a tokenizer in another thread). */
export async function fitSourcesAsync(
  question: string,
  sections: readonly SectionLike[],
  opts: Omit<FitOptions, "countTokens"> & { countTokens: (sources: readonly PromptSource[]) => Promise<number>; maxTokens: number },
): Promise<PromptSource[]> {
  const gen = fitCandidates(question, sections, opts);
  let step = gen.next(false);
  while (!step.done) step = gen.next((await opts.countTokens(step.value)) <= opts.maxTokens);
  return step.value;
}

/** Citation numbers [n] (also "[1, 2]" and "[1][2]") in an answer, distinct, in order of first use, within 1..nSources. */
export function parseCitations(text: string, nSources: number): number[] {
  const out: number[] = [];
  for (const m of text.matchAll(/\[(\d+(?:\s*,\s*\d+)*)\]/g)) {
    for (const p of m[1]!.split(",")) {
      const n = Number(p.trim());
      if (n >= 1 && n <= nSources && !out.includes(n)) out.push(n);
    }
  }
  return out;
}

/** True when an answer says the documents do not contain it. */
export function saysNotFound(text: string): boolean {
  return text.toLowerCase().replace(/\s+/g, " ").includes(NOT_FOUND_TEXT);
}
