// Words for retrieval and scoring: lower-cased alphanumeric tokens, a small
// English stop-word list, and a light suffix-stripping stemmer (plural -s/-es/
// -ies, -ing, -ed, -ly) so "reimbursed" and "reimbursement" share a stem only
// when the rules say so. Also the FTS5 MATCH query for a question, and the
// sentence splitter every sentence-level step shares (passages, snippets,
// answer candidates). Pure text:
// knows nothing about SQLite, models or sections.

/** Function words that carry no topic (questions are full of them). */
export const STOP_WORDS: ReadonlySet<string> = new Set(
  (
    "a about above after again against all am an and any are as at be because been before being below between both but by " +
    "can could did do does doing down during each few for from further had has have having he her here hers him his how " +
    "i if in into is it its itself just me more most my no nor not now of off on once only or other our ours out over own " +
    "same she should so some such than that the their them then there these they this those through to too under until up " +
    "very was we were what when where which while who whom why will with would you your yours yourself " +
    "get gets got may might must shall let lets im ive id dont doesnt isnt cant also per via etc one s t " +
    // Words that shape a question rather than name its topic ("how long", "how far ahead", "what's").
    "long far much many soon often quickly ahead whats hows wheres whos whens kind sort need needs want wants use tell know " +
    "find able allowed okay ok please thing things someone anything something"
  ).split(" "),
);

/** Lower-cased word tokens (letters and digits; apostrophes dropped so "don't" -> "dont"). */
export function words(text: string): string[] {
  return text
    .normalize("NFKC")
    .toLowerCase()
    .replace(/['’]/g, "")
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 0);
}

/** "submitt" -> "submit" (a doubled final consonant left by -ing/-ed), but "install" and "pass" stay. */
function undouble(s: string): string {
  const n = s.length;
  return n > 3 && s[n - 1] === s[n - 2] && /[bcdfgkmnprtvz]/.test(s[n - 1]!) ? s.slice(0, -1) : s;
}

/** A light stemmer: enough to join plurals and common verb forms, never below 3 letters. */
export function stem(w: string): string {
  if (w.length <= 3 || /^\d/.test(w)) return w;
  let s = w;
  if (s.endsWith("ies") && s.length > 4) s = `${s.slice(0, -3)}y`;
  else if (s.endsWith("sses")) s = s.slice(0, -2);
  else if (s.endsWith("s") && !s.endsWith("ss") && !s.endsWith("us") && !s.endsWith("is")) s = s.slice(0, -1);
  if (s.endsWith("ing") && s.length > 5) s = undouble(s.slice(0, -3));
  else if (s.endsWith("ed") && s.length > 4) s = undouble(s.slice(0, -2));
  else if (s.endsWith("ly") && s.length > 5) s = s.slice(0, -2);
  if (s.length > 4 && s.endsWith("e")) s = s.slice(0, -1);
  return s;
}

/** Stems of the content words of a text (stop words removed), in order, with repeats. */
export function contentTerms(text: string): string[] {
  const out: string[] = [];
  for (const w of words(text)) if (!STOP_WORDS.has(w)) out.push(stem(w));
  return out;
}

/** The distinct content words of a question (unstemmed, for the FTS query). */
function queryWords(text: string): string[] {
  return [...new Set(words(text).filter((w) => !STOP_WORDS.has(w)))];
}

/**
 * An FTS5 MATCH expression: the question's content words as quoted strings joined by OR
 * (BM25 then ranks by how many, and how rare). Null when the question has no content word.
 */
export function ftsQuery(text: string): string | null {
  const ws = queryWords(text);
  if (ws.length === 0) return null;
  return ws.map((w) => `"${w.replace(/"/g, "")}"`).join(" OR ");
}

/** Splits text into sentences and list/heading lines (kept in order, trimmed, non-empty). */
export function sentences(text: string): string[] {
  return sentenceLines(text).map((x) => x.sentence);
}

/** sentences(), each with the number of the (non-empty) line it came from, so a caller can put lines back. */
export function sentenceLines(text: string): { sentence: string; line: number }[] {
  const out: { sentence: string; line: number }[] = [];
  let line = 0;
  for (const raw of text.split(/\n+/)) {
    const l = raw.trim();
    if (!l) continue;
    // Split after . ! ? followed by a space and a capital, digit or quote; keep "e.g. x" together.
    const parts = l.split(/(?<=[.!?])\s+(?=["“([]?[A-Z0-9])/);
    // A numbered item's number is no sentence: "1. Remind your team" stays one.
    if (parts.length > 1 && /^\d{1,3}\.$/.test(parts[0]!)) parts.splice(0, 2, `${parts[0]} ${parts[1]}`);
    for (const s of parts) if (s.trim()) out.push({ sentence: s.trim(), line });
    line++;
  }
  return out;
}
