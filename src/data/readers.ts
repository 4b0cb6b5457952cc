// One reader per input format: bytes of a file in, extracted documents
// (sections with heading paths) out. Formats: Markdown, plain text, HTML,
// PDF (unpdf / pdf.js), DOCX (mammoth), JSON / JSONL (a text field) and CSV
// (a text column). A file that cannot be used raises SkipFile with a reason
// for the manifest; nothing here throws for bad input otherwise.
// Knows nothing about walking directories, cleaning, dedupe or tokenizers.
import { extname } from "node:path";

import { parseJsonl } from "../util/jsonl.ts";

// unpdf, mammoth and linkedom/Readability are loaded on first use: a Markdown-only corpus never pays for them.
import { markdownToBlocks } from "./markdown.ts";
import { blocksToSections, groupParagraphs, normalizeInline, normalizeSource, type ExtractedDoc, type Section } from "./text.ts";

export type Format = "markdown" | "text" | "html" | "pdf" | "docx" | "json" | "jsonl" | "csv";

const EXT: Record<string, Format> = {
  ".md": "markdown",
  ".markdown": "markdown",
  ".txt": "text",
  ".text": "text",
  ".html": "html",
  ".htm": "html",
  ".pdf": "pdf",
  ".docx": "docx",
  ".json": "json",
  ".jsonl": "jsonl",
  ".ndjson": "jsonl",
  ".csv": "csv",
};

export function formatOf(path: string): Format | undefined {
  return EXT[extname(path).toLowerCase()];
}

/** Bumped whenever extraction output changes, so the incremental cache is invalidated. */
export const EXTRACTOR_VERSION = 1;

export interface ReaderOptions {
  /** JSON/JSONL field holding the text; dots address nested fields ("meta.body"). */
  textField: string;
  /** CSV column holding the text (matched case-insensitively). */
  csvColumn: string;
  /** Sections longer than this are split at paragraph boundaries. */
  maxSectionChars: number;
  /** Headingless text (txt, PDF pages, records) is grouped into sections of about this size. */
  targetSectionChars: number;
}

/** The file cannot be used; `reason` goes into the manifest. */
export class SkipFile extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}

export interface ReadResult {
  docs: ExtractedDoc[];
  /** Non-fatal remarks ("invalid UTF-8, decoded as windows-1252", "3 lines are not JSON"). */
  notes: string[];
}

/** Bytes to a string: BOMs honoured, binary refused, invalid UTF-8 decoded as windows-1252 with a note. */
function decodeText(bytes: Uint8Array, notes: string[]): string {
  if (bytes.length === 0) throw new SkipFile("empty file");
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) {
    return new TextDecoder(bytes[0] === 0xff ? "utf-16le" : "utf-16be").decode(bytes);
  }
  const probe = bytes.subarray(0, Math.min(bytes.length, 65536));
  let nul = 0;
  let ctrl = 0;
  for (let i = 0; i < probe.length; i++) {
    const b = probe[i];
    if (b === 0) nul++;
    else if (b < 9 || (b > 13 && b < 32)) ctrl++;
  }
  if (nul > 0 || ctrl > probe.length * 0.05) throw new SkipFile(`binary content (${nul} NUL and ${ctrl} control bytes in the first ${probe.length} bytes)`);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    notes.push("invalid UTF-8, decoded as windows-1252");
    return new TextDecoder("windows-1252").decode(bytes);
  }
}

function getField(obj: unknown, path: string): unknown {
  let v: unknown = obj;
  for (const k of path.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** RFC 4180 CSV: quoted fields with "" escapes and embedded newlines. Returns rows of cells. */
function parseCsv(s: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let i = 0;
  let quoted = false;
  while (i < s.length) {
    const c = s[i];
    if (quoted) {
      if (c === '"') {
        if (s[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      cell += c;
      i++;
      continue;
    }
    if (c === '"' && cell === "") quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && s[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += c;
    i++;
  }
  if (cell !== "" || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

function recordDoc(source: string, text: string, o: ReaderOptions): ExtractedDoc | null {
  const sections = groupParagraphs(text, o.targetSectionChars, o.maxSectionChars);
  return sections.length > 0 ? { source, sections } : null;
}

async function readPdf(bytes: Uint8Array, source: string, o: ReaderOptions): Promise<ExtractedDoc[]> {
  const { extractText, getDocumentProxy } = await import("unpdf");
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>> | undefined;
  try {
    pdf = await getDocumentProxy(new Uint8Array(bytes), { verbosity: 0 } as Parameters<typeof getDocumentProxy>[1]);
    const { text } = await extractText(pdf, { mergePages: false });
    const sections: Section[] = [];
    text.forEach((page, i) => sections.push(...groupParagraphs(page, o.targetSectionChars, o.maxSectionChars, [`Page ${i + 1}`])));
    return sections.length > 0 ? [{ source, sections }] : [];
  } catch (e) {
    const err = e as Error;
    if (err?.name === "PasswordException") throw new SkipFile("password-protected PDF");
    if (err?.name === "InvalidPDFException") throw new SkipFile(`invalid or truncated PDF (${err.message})`);
    throw new SkipFile(`unreadable PDF: ${err?.name ?? "Error"}: ${err?.message ?? String(e)}`);
  } finally {
    await pdf?.destroy().catch(() => undefined);
  }
}

async function readDocx(bytes: Uint8Array, source: string, o: ReaderOptions): Promise<ExtractedDoc[]> {
  const mammoth = (await import("mammoth")).default;
  const { htmlFragmentToBlocks } = await import("./html.ts");
  let html: string;
  try {
    html = (await mammoth.convertToHtml({ buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) })).value;
  } catch (e) {
    const msg = (e as Error)?.message ?? String(e);
    if (/zip|central directory/i.test(msg)) throw new SkipFile(`corrupt DOCX (not a valid zip archive: ${msg.split(" : ")[0]})`);
    throw new SkipFile(`unreadable DOCX: ${msg}`);
  }
  const sections = blocksToSections(htmlFragmentToBlocks(html), { maxChars: o.maxSectionChars });
  return sections.length > 0 ? [{ source, sections }] : [];
}

/** Extracts the documents of one file. Throws SkipFile when the file cannot be used. */
export async function extractFile(bytes: Uint8Array, source: string, format: Format, o: ReaderOptions): Promise<ReadResult> {
  const notes: string[] = [];
  if (bytes.length === 0) throw new SkipFile("empty file");
  let docs: ExtractedDoc[] = [];
  switch (format) {
    case "pdf":
      docs = await readPdf(bytes, source, o);
      break;
    case "docx":
      docs = await readDocx(bytes, source, o);
      break;
    case "markdown": {
      const md = markdownToBlocks(normalizeSource(decodeText(bytes, notes)));
      const sections = blocksToSections(md.blocks, { title: md.title, maxChars: o.maxSectionChars });
      if (sections.length > 0) docs = [{ source, title: md.title, sections }];
      break;
    }
    case "html": {
      const { htmlToBlocks } = await import("./html.ts");
      const h = htmlToBlocks(decodeText(bytes, notes));
      const sections = blocksToSections(h.blocks, { maxChars: o.maxSectionChars });
      if (sections.length > 0) docs = [{ source, title: h.title, sections }];
      if (h.mode === "body") notes.push("no article found; used the page body without navigation/header/footer");
      break;
    }
    case "text": {
      const d = recordDoc(source, decodeText(bytes, notes), o);
      if (d) docs = [d];
      break;
    }
    case "jsonl": {
      let bad = 0;
      let missing = 0;
      parseJsonl(
        decodeText(bytes, notes),
        source,
        (v, { at }) => {
          const t = getField(v, o.textField);
          if (typeof t !== "string") {
            missing++;
            return;
          }
          const d = recordDoc(at, t, o);
          if (d) docs.push(d);
        },
        { invalid: "skip", onInvalid: () => bad++ },
      );
      if (bad > 0) notes.push(`${bad} line(s) are not valid JSON`);
      if (missing > 0) notes.push(`${missing} record(s) have no string field "${o.textField}"`);
      if (docs.length === 0 && (bad > 0 || missing > 0))
        throw new SkipFile(`no records with a string field "${o.textField}" (${bad} invalid JSON lines, ${missing} without the field)`);
      break;
    }
    case "json": {
      let v: unknown;
      try {
        v = JSON.parse(decodeText(bytes, notes));
      } catch (e) {
        throw new SkipFile(`invalid JSON: ${(e as Error).message}`);
      }
      const records = Array.isArray(v) ? v : [v];
      let missing = 0;
      records.forEach((r, i) => {
        const t = getField(r, o.textField);
        if (typeof t !== "string") {
          missing++;
          return;
        }
        const d = recordDoc(Array.isArray(v) ? `${source}:${i}` : source, t, o);
        if (d) docs.push(d);
      });
      if (docs.length === 0 && missing > 0) throw new SkipFile(`no records with a string field "${o.textField}"`);
      if (missing > 0) notes.push(`${missing} record(s) have no string field "${o.textField}"`);
      break;
    }
    case "csv": {
      const rows = parseCsv(decodeText(bytes, notes));
      const header = (rows[0] ?? []).map((h) => normalizeInline(h).toLowerCase());
      const col = header.indexOf(o.csvColumn.toLowerCase());
      if (col < 0) throw new SkipFile(`no column "${o.csvColumn}" (columns: ${header.join(", ") || "none"})`);
      for (let r = 1; r < rows.length; r++) {
        const t = rows[r][col];
        if (typeof t !== "string") continue;
        const d = recordDoc(`${source}:row ${r}`, t, o);
        if (d) docs.push(d);
      }
      break;
    }
  }
  if (docs.length === 0) throw new SkipFile("no text found");
  return { docs, notes };
}
