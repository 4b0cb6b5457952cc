// Grounded-QA training data: SFT examples (question, retrieved context,
// answer) in exactly the prompt answer() shows a model (buildGroundedPrompt).
// Questions come from three places:
//   - the documents themselves: synthetic questions made from a sentence S of
//     a section (a cloze question with a span of S replaced by a wh-word, S
//     with words dropped, or keywords of S and its heading; for the reader also
//     short questions in a user's style, shortQuestion); the target is S
//     followed by the citation of the source that shows it;
//   - question/answer pairs the user supplies (JSONL); the target is the
//     sentence of the shown sources that contains the answer;
//   - a teacher model behind an OpenAI-compatible /chat/completions endpoint
//     (llama.cpp, Ollama…), asked for pairs about a section; pairs whose answer
//     is not in the section are dropped.
// The context is what retrieval returns for the question (distractors
// included), so the model learns to pick the right source; a share of
// examples have the answering file removed from the context and the target
// "not found in the documents." Knows nothing about training or the CLI.
import { readFileSync } from "node:fs";

import { ConfigError, FormatError } from "../errors.ts";
import type { ChatMessage, Tokenizer } from "../tokenizer/index.ts";
import { parseJsonl } from "../util/jsonl.ts";
import { Rng } from "../util/rng.ts";
import { buildGroundedPrompt } from "./answer.ts";
import type { Embedder } from "./embed.ts";
import type { Section, SectionIndex } from "./index-db.ts";
import { NOT_FOUND_TEXT, groundedExample, type PromptSource } from "./prompt.ts";
import { DEFAULT_RETRIEVAL_MODE, retrieve, type RetrievalMode } from "./retrieve.ts";
import { firstSpan, isTimeUnit, numberUnit, type SpanKind, type TypedSpan } from "./answer-type.ts";
import { STOP_WORDS, sentences, words } from "./terms.ts";

/** A question with what answers it: a sentence of a section (synthetic, teacher) or an answer string (user pairs). */
export interface QaSeed {
  question: string;
  /** The answer text to find in the shown sources (a sentence or a short answer). */
  answer: string;
  /** Where it came from. */
  origin: "synthetic" | "user" | "teacher";
  /** The section the question was made from, when known. */
  sectionId?: string;
}

const WH = ["What", "How", "When", "Which", "Who", "Where", "Why"];

/**
 * Sentences of a section fit to be answers: not the heading line, 6..maxWords words (default 40,
 * short enough for a model to write out), prose (not a table row or code).
 */
export function answerSentences(text: string, maxWords = 40): string[] {
  const sents = sentences(text);
  return sents.filter((s, i) => {
    if (i === 0 && sents.length > 1) return false;
    const n = words(s).length;
    return n >= 6 && n <= maxWords && !/^[|`#>]/.test(s) && /[a-z]/.test(s);
  });
}

function lowerFirst(s: string): string {
  return s.length > 1 && /^[A-Z][a-z]/.test(s) ? s[0]!.toLowerCase() + s.slice(1) : s;
}

/**
 * A synthetic question about sentence `s` of a section with heading path `heading`, one of three kinds
 * chosen by rng: a cloze question (a number span or a content word replaced by a wh-word), the
 * sentence with some words dropped turned into a question, or wh-word + content words + heading.
 */
export function synthQuestion(s: string, heading: string, rng: Rng): string {
  const body = questionBody(s);
  const topic = heading.split(" › ").pop() ?? "";
  const kind = rng.uniform();
  if (kind < 0.4) {
    const m = firstSpan(body, "number");
    const typed = typedSpan(body, rng);
    if (typed && rng.uniform() < 0.6) return typedWords(body, typed, topic, rng);
    if (m) {
      const unit = numberUnit(body.slice(m.start, m.end));
      const wh = unit ? `how many ${unit}` : "how much";
      return `${body.slice(0, m.start)}${wh}${body.slice(m.end)}?`
        .replace(/\s+/g, " ")
        .trim()
        .replace(/^./, (c) => c.toUpperCase());
    }
    const ws = body.split(/\s+/);
    const cands = ws.map((w, i) => ({ w, i })).filter(({ w }) => w.length > 3 && !STOP_WORDS.has(w.toLowerCase().replace(/[^a-z]/g, "")));
    if (cands.length > 0) {
      const pick = cands[rng.int(cands.length)]!;
      ws[pick.i] = "what";
      return `${ws.join(" ")}?`.replace(/^./, (c) => c.toUpperCase());
    }
  }
  if (kind < 0.75) {
    const ws = body.split(/\s+/).filter(() => rng.uniform() > 0.25);
    const wh = WH[rng.int(WH.length)]!;
    return `${wh} ${lowerFirst(ws.join(" "))}${rng.uniform() < 0.5 && topic ? ` (${topic})` : ""}?`;
  }
  const content = [...new Set(words(body).filter((w) => !STOP_WORDS.has(w) && w.length > 2))];
  const keep = rng.shuffle(content).slice(0, 3 + rng.int(4));
  const wh = WH[rng.int(WH.length)]!;
  return `${wh} ${keep.join(" ")}${topic ? ` ${topic.toLowerCase()}` : ""}?`;
}

const pickOf = (rng: Rng, xs: readonly string[]) => xs[rng.int(xs.length)]!;

/** What a number span is: a duration, an amount of money, a share or a count. */
function numberKind(span: string, unit: string): SpanKind {
  if (isTimeUnit(unit)) return "duration";
  if (/[$£€]/.test(span) || /dollar|euro|pound/.test(unit)) return "money";
  if (span.includes("%") || unit === "percent") return "percent";
  return "number";
}

/** A wh-phrase asking for a number span's kind of answer. */
function numberWh(span: string, unit: string, rng: Rng): string {
  switch (numberKind(span, unit)) {
    case "duration":
      return pickOf(rng, ["How long", "How soon", "When", `How many ${unit}`, "How far ahead", `Within how many ${unit}`]);
    case "money":
      return pickOf(rng, ["How much", "What amount", "How much money"]);
    case "percent":
      return pickOf(rng, ["What percentage", "What share", "How much"]);
    default:
      return pickOf(rng, unit ? [`How many ${unit}`, "How many", "What number of"] : ["How many", "How much", "What number of"]);
  }
}

/** The wh-phrase asking for each non-number kind of span (answer-type.ts finds the spans). */
const KIND_WH: Partial<Record<SpanKind, readonly string[]>> = {
  email: ["What email address", "Which address do I email", "Where do I email"],
  url: ["Where", "What link", "Which page"],
  clock: ["By what time", "When", "What time"],
  day: ["When", "On what day", "Which day"],
  place: ["Where", "Where can I", "Where do I"],
  who: ["Who", "Whom do I ask", "Who handles"],
};

interface AskedSpan extends TypedSpan {
  wh: string;
}

/** One span of the sentence a typed question can ask for (a number span, an address, a time, a place, a who), or null. */
function typedSpan(body: string, rng: Rng): AskedSpan | null {
  const found: AskedSpan[] = [];
  const n = firstSpan(body, "number");
  if (n) {
    const span = body.slice(n.start, n.end),
      unit = numberUnit(span);
    found.push({ ...n, kind: numberKind(span, unit), wh: numberWh(span, unit, rng) });
  }
  for (const [kind, whs] of Object.entries(KIND_WH) as [SpanKind, readonly string[]][]) {
    const m = firstSpan(body, kind);
    if (m) found.push({ ...m, wh: pickOf(rng, whs) });
  }
  return found.length === 0 ? null : found[rng.int(found.length)]!;
}

/**
 * A typed question in a user's words: the wh-phrase of the answer's kind (a duration, an amount, a
 * place, a time, an address…) and a few of the sentence's other content words, so that matching
 * words alone does not single out the sentence.
 */
function typedWords(body: string, typed: AskedSpan, topic: string, rng: Rng, few = false): string {
  const rest = `${body.slice(0, typed.start)} ${body.slice(typed.end)}`;
  const content = [...new Set(words(rest).filter((w) => !STOP_WORDS.has(w) && w.length > 2))];
  const keep = few ? someWords(content, rng) : keepShare(content, rng);
  return `${typed.wh} ${keep.join(" ")}${rng.uniform() < 0.3 && topic ? ` (${topic.toLowerCase()})` : ""}?`;
}

/** Each content word with one probability in [0.2, 0.7) (at least two words). */
function keepShare(content: readonly string[], rng: Rng): string[] {
  const p = 0.2 + 0.5 * rng.uniform();
  const keep = content.filter(() => rng.uniform() < p);
  return keep.length < 2 ? rng.shuffle(content.slice()).slice(0, 2) : keep;
}

/** One to four content words, in the sentence's order: about as many as a user's question shares with its answer. */
function someWords(content: readonly string[], rng: Rng): string[] {
  const n = Math.min(content.length, 1 + rng.int(4));
  const picked = new Set(rng.shuffle(content.map((_, i) => i)).slice(0, n));
  return content.filter((_, i) => picked.has(i));
}

/** Question openings that ask for no particular kind of answer (questionKinds reads none). */
const UNTYPED_WH = ["How do I", "How can I", "What is", "What are", "Can I", "Do I", "Is", "What"];

/**
 * A short question about sentence `s` in a user's style: the wh-phrase of one of its typed spans
 * (seven in ten, when it has one) or an untyped opening, and one to four of its other content
 * words, with the section's topic three times in ten. Real questions share only a few words with
 * their answer; questions that keep most of the sentence (synthQuestion's cloze and dropped-word
 * kinds) taught the reader that a sentence with words the question lacks (numbers, times, names:
 * the answer itself) cannot be the answer.
 */
export function shortQuestion(s: string, heading: string, rng: Rng): string {
  const body = questionBody(s);
  const topic = heading.split(" › ").pop() ?? "";
  const typed = typedSpan(body, rng);
  if (typed && rng.uniform() < 0.7) return typedWords(body, typed, topic, rng, true);
  const content = [...new Set(words(body).filter((w) => !STOP_WORDS.has(w) && w.length > 2))];
  const keep = someWords(content, rng);
  return `${pickOf(rng, UNTYPED_WH)} ${keep.join(" ")}${rng.uniform() < 0.3 && topic ? ` (${topic.toLowerCase()})` : ""}?`;
}

/** The sentence as a question is made from it: links reduced to their text, end punctuation dropped. */
function questionBody(s: string): string {
  return s
    .replace(/\s*\[[^\]]*\]\([^)]*\)/g, "")
    .replace(/[.!?:;]+$/, "")
    .trim();
}

/** A typed question about sentence `s` (one of its spans, chosen by rng), with the span's kind and text; null when it has none. */
export function typedQuestion(s: string, heading: string, rng: Rng): { question: string; kind: SpanKind; span: string } | null {
  const body = questionBody(s);
  const typed = typedSpan(body, rng);
  if (!typed) return null;
  return { question: typedWords(body, typed, heading.split(" › ").pop() ?? "", rng), kind: typed.kind, span: body.slice(typed.start, typed.end) };
}

export interface SynthOptions {
  /** The longest answer sentence in words (answerSentences; default 40). */
  maxWords?: number;
  /** "mixed" (default): synthQuestion's kinds; "short": shortQuestion; "both": each half the time. */
  style?: "mixed" | "short" | "both";
}

/** `n` synthetic questions from the index's sections (sentences drawn uniformly over sections, then within one). */
export function synthSeeds(index: SectionIndex, n: number, seed = 0, o: SynthOptions = {}): QaSeed[] {
  const maxWords = o.maxWords ?? 40;
  const style = o.style ?? "mixed";
  const make = (s: string, heading: string): string =>
    (style === "short" || (style === "both" && rng.uniform() < 0.5) ? shortQuestion : synthQuestion)(s, heading, rng);
  const rng = new Rng(seed);
  const pool: { section: Section; sents: string[] }[] = [];
  for (let r = 1; r <= index.size; r++) {
    const section = index.section(r);
    const sents = answerSentences(section.text, maxWords);
    if (sents.length > 0) pool.push({ section, sents });
  }
  if (pool.length === 0) throw new ConfigError(`${index.path}: no section has a sentence to make a question from`);
  const out: QaSeed[] = [];
  for (let i = 0; i < n; i++) {
    const { section, sents } = pool[rng.int(pool.length)]!;
    const s = sents[rng.int(sents.length)]!;
    out.push({ question: make(s, section.headingPath), answer: s, origin: "synthetic", sectionId: section.id });
  }
  return out;
}

/** Reads user question/answer pairs: JSONL of {"question", "answer", "answer_aliases"?} (extra fields ignored). */
export function readQaPairs(path: string): QaSeed[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const out = parseJsonl(text, path, (v, { at }): QaSeed => {
    const o = v as { question?: unknown; answer?: unknown } | null;
    if (typeof o?.question !== "string" || o.question.trim() === "") throw new FormatError(`${at}: "question" must be a non-empty string`);
    if (typeof o.answer !== "string" || o.answer.trim() === "") throw new FormatError(`${at}: "answer" must be a non-empty string`);
    return { question: o.question, answer: o.answer, origin: "user" };
  });
  if (out.length === 0) throw new FormatError(`${path}: no question/answer pairs`);
  return out;
}

/** Normalised word string for containment tests (lower case, punctuation dropped). */
function norm(s: string): string {
  return ` ${words(s).join(" ")} `;
}

/** The target for a seed given the shown sources: "<sentence> [n]" for the first source whose text holds the answer, or null. */
export function groundedTarget(seed: QaSeed, sources: readonly PromptSource[]): string | null {
  const a = norm(seed.answer);
  if (a.trim() === "") return null;
  for (const src of sources) {
    for (const s of sentences(src.text)) if (norm(s).includes(a)) return `${s} [${src.n}]`;
  }
  // A short answer that spans sentences: the answer itself, cited.
  for (const src of sources) if (norm(src.text).includes(a)) return `${seed.answer.trim()} [${src.n}]`;
  return null;
}

export interface GroundedBuildOptions {
  index: SectionIndex;
  embedder?: Embedder;
  mode?: RetrievalMode;
  tokenizer: Tokenizer;
  /** The model's context and the answer budget: the prompt is fitted exactly as answer() fits it. */
  context: number;
  maxNew: number;
  /** Sections shown (answer()'s k, default 3). */
  k?: number;
  /** Share of examples turned into "not found" examples by removing the answering file (default 0.1). */
  negativeShare?: number;
  seed?: number;
}

export interface GroundedBuildStats {
  seeds: number;
  examples: number;
  negatives: number;
  /** Seeds dropped because the shown sources did not contain their answer. */
  missed: number;
  byOrigin: Record<string, number>;
}

/** SFT examples (chat messages) for seeds: retrieve, fit the prompt as answer() does, target the answering sentence with its citation. */
export function buildGroundedExamples(seeds: readonly QaSeed[], o: GroundedBuildOptions): { examples: ChatMessage[][]; stats: GroundedBuildStats } {
  const rng = new Rng((o.seed ?? 0) + 7919);
  const k = o.k ?? 3;
  const mode = o.mode ?? DEFAULT_RETRIEVAL_MODE;
  const negShare = o.negativeShare ?? 0.1;
  const stats: GroundedBuildStats = { seeds: seeds.length, examples: 0, negatives: 0, missed: 0, byOrigin: {} };
  const examples: ChatMessage[][] = [];
  for (const seed of seeds) {
    const r = retrieve(o.index, seed.question, { mode, k: Math.max(k + 3, 5), ...(o.embedder ? { embedder: o.embedder } : {}) });
    const hits = r.hits.map((h) => h.section);
    if (rng.uniform() < negShare) {
      const src = seed.sectionId ? o.index.sectionById(seed.sectionId)?.source : undefined;
      const answerNorm = norm(seed.answer);
      const rest = hits.filter((s) => s.source !== src && !norm(s.text).includes(answerNorm)).slice(0, k);
      if (rest.length > 0) {
        const { sources } = buildGroundedPrompt(seed.question, rest, { tokenizer: o.tokenizer, context: o.context, maxNew: o.maxNew });
        examples.push(groundedExample(seed.question, sources, `${NOT_FOUND_TEXT}.`));
        stats.negatives++;
        continue;
      }
    }
    const { sources } = buildGroundedPrompt(seed.question, hits.slice(0, k), { tokenizer: o.tokenizer, context: o.context, maxNew: o.maxNew });
    const target = groundedTarget(seed, sources);
    if (target === null) {
      stats.missed++;
      continue;
    }
    examples.push(groundedExample(seed.question, sources, target));
    stats.byOrigin[seed.origin] = (stats.byOrigin[seed.origin] ?? 0) + 1;
  }
  stats.examples = examples.length;
  return { examples, stats };
}

export interface TeacherOptions {
  /** Base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1 (POST {url}/chat/completions). */
  url: string;
  model: string;
  /** Sections to ask about (default 50), drawn at random. */
  sections?: number;
  /** Pairs asked per section (default 3). */
  perSection?: number;
  seed?: number;
  apiKey?: string;
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
}

/** The instruction sent to the teacher for one section. */
function teacherPrompt(section: Pick<Section, "headingPath" | "text">, n: number): string {
  return (
    `Read this section of a handbook and write ${n} questions a reader might ask that it answers. ` +
    `For each, give the shortest answer copied word for word from the text. ` +
    `Reply with one JSON object per line: {"question": "...", "answer": "..."} and nothing else.\n\n` +
    `Section: ${section.headingPath}\n${section.text.slice(0, 3000)}`
  );
}

/** Parses a teacher reply: JSON objects with string question and answer, one per line (other lines ignored). */
export function parseTeacherReply(text: string): { question: string; answer: string }[] {
  const out: { question: string; answer: string }[] = [];
  for (const m of text.matchAll(/\{[^{}]*\}/g)) {
    try {
      const o = JSON.parse(m[0]) as { question?: unknown; answer?: unknown };
      if (typeof o.question === "string" && typeof o.answer === "string" && o.question.trim() && o.answer.trim())
        out.push({ question: o.question.trim(), answer: o.answer.trim() });
    } catch {
      // not JSON: skip the fragment
    }
  }
  return out;
}

/** Question/answer seeds from a teacher model; pairs whose answer is not in the section are dropped. */
export async function teacherSeeds(index: SectionIndex, o: TeacherOptions): Promise<{ seeds: QaSeed[]; asked: number; rejected: number }> {
  const f = o.fetchImpl ?? fetch;
  const rng = new Rng(o.seed ?? 0);
  const rows = rng.shuffle([...Array(index.size).keys()].map((i) => i + 1)).slice(0, o.sections ?? 50);
  const url = `${o.url.replace(/\/+$/, "")}/chat/completions`;
  const seeds: QaSeed[] = [];
  let rejected = 0;
  for (const row of rows) {
    const section = index.section(row);
    if (answerSentences(section.text).length === 0) continue;
    let res: Response;
    try {
      res = await f(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
        body: JSON.stringify({ model: o.model, temperature: 0, messages: [{ role: "user", content: teacherPrompt(section, o.perSection ?? 3) }] }),
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (e) {
      throw new ConfigError(`teacher ${url}: request failed (${(e as Error).message})`, {
        hint: "is the server running? --teacher-url is the API base, e.g. http://127.0.0.1:8080/v1",
      });
    }
    if (!res.ok) throw new ConfigError(`teacher ${url}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
    const body = (await res.json()) as { choices?: { message?: { content?: unknown } }[] };
    const content = body.choices?.[0]?.message?.content;
    if (typeof content !== "string") throw new FormatError(`teacher ${url}: the reply has no choices[0].message.content`);
    const text = norm(section.text);
    for (const p of parseTeacherReply(content)) {
      if (!text.includes(norm(p.answer))) {
        rejected++;
        continue;
      }
      seeds.push({ question: p.question, answer: p.answer, origin: "teacher", sectionId: section.id });
    }
  }
  return { seeds, asked: rows.length, rejected };
}
