// Plain-text building blocks shared by every reader: Unicode/whitespace
// normalisation, the Block model readers emit (headings and text lines), the
// conversion of blocks into sections with heading paths, splitting of long
// sections at paragraph boundaries, and code-point lengths for offsets.
// Knows nothing about file formats, cleaning or tokenizers.

/** What a reader produces: headings and text, in reading order. */
export type Block =
  | { kind: "heading"; level: number; text: string }
  /** A paragraph, list item ("- x"), table row ("a | b") or code line. tight: join to the previous text with one newline, not a blank line. */
  | { kind: "text"; text: string; tight?: boolean };

/** A piece of a document under one heading path. text starts with its heading line when it has one. */
export interface Section {
  heading: string[];
  text: string;
}

/** One document as extracted from a file (before corpus-level cleaning). */
export interface ExtractedDoc {
  /** Provenance: the file, plus a record locator for multi-document files ("line 12", "row 3"). */
  source: string;
  title?: string;
  sections: Section[];
}

export const HEADING_SEP = " › ";

const SPACE_LIKE = /[\t\v\f\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/g;
// Single character classes (no alternation) so the regex engine can scan quickly.
const NOT_PLAIN = /[^\x20-\x7e\n]/;
const NOT_PRINTABLE = /[^\x20-\x7e]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
const INVISIBLE = /[\u0000-\u0008\u000e-\u001f\u007f\u200b-\u200d\u2060\ufeff]/g;

/**
 * NFC, "\n" line ends, space-like characters to " ", invisible and control
 * characters dropped, runs of spaces collapsed, lines trimmed, at most one
 * blank line in a row, no leading/trailing blank lines.
 */
export function normalizeText(s: string): string {
  if (s.length === 0) return s;
  // Fast path: printable ASCII with single spaces and "\n"/"\n\n" breaks needs nothing but a trim.
  if (!NOT_PLAIN.test(s) && !s.includes("  ") && !s.includes(" \n") && !s.includes("\n ") && !s.includes("\n\n\n")) return s.trim();
  // NFC is a no-op on ASCII; skip ICU when there is nothing to compose.
  // eslint-disable-next-line no-control-regex
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range starts at U+0000
  if (/[^\u0000-\u007f]/.test(s)) s = s.normalize("NFC");
  s = s
    .replace(/\r\n?|[\u2028\u2029\u0085]/g, "\n")
    .replace(SPACE_LIKE, " ")
    .replace(INVISIBLE, "");
  s = s
    .replace(/ {2,}/g, " ")
    .replace(/ ?\n ?/g, "\n")
    .replace(/\n{3,}/g, "\n\n");
  return s.trim();
}

/** NFC, "\n" line ends and invisible characters dropped, but indentation kept (for line-structured sources). */
export function normalizeSource(s: string): string {
  if (!NOT_PLAIN.test(s)) return s; // printable ASCII and "\n" only: nothing to do
  // eslint-disable-next-line no-control-regex
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range starts at U+0000
  if (/[^\u0000-\u007f]/.test(s)) s = s.normalize("NFC");
  return s
    .replace(/\r\n?|[\u2028\u2029\u0085]/g, "\n")
    .replace(/\t/g, "    ")
    .replace(INVISIBLE, "");
}

/** Normalises a short inline string (a heading, a cell): one line, single spaces. */
export function normalizeInline(s: string): string {
  if (!NOT_PRINTABLE.test(s) && !s.includes("  ")) return s.trim();
  return normalizeText(s).replace(/\s+/g, " ");
}

/** Length in Unicode code points (offsets are code points, not UTF-16 units). */
export function cpLength(s: string): number {
  if (!/[\ud800-\udfff]/.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff || i === 0 || (s.charCodeAt(i - 1) & 0xfc00) !== 0xd800) n++;
  }
  return n;
}

export interface SectionOptions {
  /** Root heading (e.g. a front-matter or <title> title) above every heading in the document. */
  title?: string;
  /** Sections longer than this many characters are split at paragraph boundaries. */
  maxChars: number;
}

/** Groups blocks into sections by heading; heading-only sections carry their heading into the next one. */
export function blocksToSections(blocks: Block[], o: SectionOptions): Section[] {
  const title = o.title ? normalizeInline(o.title) : "";
  const stack: { level: number; text: string }[] = title ? [{ level: 0, text: title }] : [];
  const out: Section[] = [];
  let head = title; // heading lines at the top of the current section
  let body = "";
  let sawTitleHeading = false;
  const flush = () => {
    if (body) {
      const text = head ? `${head}\n\n${body}` : body;
      out.push({ heading: stack.map((h) => h.text), text });
      head = "";
    }
    body = "";
  };
  for (const b of blocks) {
    if (b.kind === "heading") {
      const t = normalizeInline(b.text);
      if (!t) continue;
      // The first top-level heading repeating the title is the title itself.
      if (title && !sawTitleHeading && b.level === 1 && t.toLowerCase() === title.toLowerCase()) {
        sawTitleHeading = true;
        continue;
      }
      const hadBody = body !== "";
      flush();
      if (!hadBody && head)
        head = `${head}\n\n${t}`; // heading-only section: carry it forward
      else head = t;
      while (stack.length > 0 && stack[stack.length - 1].level >= b.level && stack[stack.length - 1].level > 0) stack.pop();
      stack.push({ level: b.level, text: t });
    } else {
      const t = b.text;
      if (!t) continue;
      body = body ? body + (b.tight ? "\n" : "\n\n") + t : t;
    }
  }
  flush();
  const split: Section[] = [];
  for (const s of out) for (const part of splitLong(s.text, o.maxChars)) split.push({ heading: s.heading, text: part });
  return split;
}

/** Splits text at paragraph (then line, then space) boundaries into pieces of at most maxChars. */
export function splitLong(text: string, maxChars: number): string[] {
  if (text.length <= maxChars) return [text];
  const parts: string[] = [];
  let cur = "";
  const push = (p: string) => {
    if (cur && cur.length + 2 + p.length > maxChars) {
      parts.push(cur);
      cur = "";
    }
    if (p.length <= maxChars) {
      cur = cur ? `${cur}\n\n${p}` : p;
      return;
    }
    // A paragraph longer than the limit: cut at the last newline or space before it.
    let rest = p;
    while (rest.length > maxChars) {
      let cut = rest.lastIndexOf("\n", maxChars);
      if (cut < maxChars / 2) cut = rest.lastIndexOf(" ", maxChars);
      if (cut < maxChars / 2) cut = maxChars;
      parts.push(rest.slice(0, cut).trim());
      rest = rest.slice(cut).trim();
    }
    cur = rest;
  };
  for (const p of text.split("\n\n")) push(p);
  if (cur) parts.push(cur);
  return parts.filter((p) => p.length > 0);
}

/** Sections for headingless text: paragraphs grouped up to targetChars. */
export function groupParagraphs(text: string, targetChars: number, maxChars: number, heading: string[] = []): Section[] {
  const out: Section[] = [];
  let cur = "";
  for (const p of normalizeText(text).split("\n\n")) {
    if (!p) continue;
    if (cur && cur.length + 2 + p.length > targetChars) {
      out.push({ heading, text: cur });
      cur = "";
    }
    cur = cur ? `${cur}\n\n${p}` : p;
  }
  if (cur) out.push({ heading, text: cur });
  return out.flatMap((s) => splitLong(s.text, maxChars).map((t) => ({ heading, text: t })));
}
