// Corpus cleaning: repeated-line (header/footer) detection by counting
// per-document line hashes, length and text-ratio filters, and PII redaction
// (emails, phones, payment cards, IBANs) with counts.
// Memory: 8 bytes per distinct line per document while counting (a growable
// Float64Array, sorted once), not the lines themselves.
// Knows nothing about files, formats, dedupe or tokenizers.
import { createHash, hash as oneShotHash } from "node:crypto";

/** A 53-bit hash of s[start, end) (two 32-bit FNV-1a style lanes), for lines. */
function hash53(s: string, start = 0, end = s.length): number {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ (end - start);
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a ^= a >>> 16;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 13;
  return (b >>> 0) * 2097152 + ((a >>> 0) & 0x1fffff);
}

/** A line's key: 40 bits of hash53 above its length (capped at 8191) in the low 13 bits. */
export function lineKey(s: string, start = 0, end = s.length): number {
  return Math.floor(hash53(s, start, end) / 8192) * 8192 + Math.min(end - start, 8191);
}

/** A 48-bit digest (MD5 prefix) of a longer text, or of parts joined by blank lines, for document and section identity. */
export function textHash(s: string | readonly string[]): number {
  // One-shot hashing avoids a Hash object per call (sections are many and short).
  if (typeof s === "string") return parseInt(oneShotHash("md5", s, "hex").slice(0, 12), 16);
  const h = createHash("md5");
  s.forEach((p, i) => (i > 0 ? h.update("\n\n").update(p) : h.update(p)));
  return parseInt(h.digest("hex").slice(0, 12), 16);
}

/** Lines longer than this are content, never boilerplate (and are not hashed at all). */
const MAX_BOILERPLATE_LINE = 300;

/** The distinct keys of a document's candidate boilerplate lines (non-empty, at most MAX_BOILERPLATE_LINE long). */
export function documentLineKeys(texts: readonly string[]): Float64Array {
  const seen = new Set<number>();
  for (const t of texts) {
    for (let start = 0; start < t.length; ) {
      let end = t.indexOf("\n", start);
      if (end < 0) end = t.length;
      if (end > start && end - start <= MAX_BOILERPLATE_LINE) seen.add(lineKey(t, start, end));
      start = end + 1;
    }
  }
  return Float64Array.from(seen);
}

/** Counts, for each line text, how many documents contain it; then names the boilerplate lines. */
export class LineCounter {
  private keys = new Float64Array(1 << 16);
  private n = 0;
  docs = 0;

  /** Adds one document's lines (each distinct non-empty line of its texts counted once per document). */
  addDocument(texts: readonly string[]): void {
    this.addKeys(documentLineKeys(texts));
  }

  /** Adds one document given its distinct line keys (documentLineKeys, e.g. computed in a worker). */
  addKeys(keys: ArrayLike<number>): void {
    if (this.n + keys.length > this.keys.length) {
      let cap = this.keys.length;
      while (cap < this.n + keys.length) cap *= 2;
      const k = new Float64Array(cap);
      k.set(this.keys.subarray(0, this.n));
      this.keys = k;
    }
    for (let i = 0; i < keys.length; i++) this.keys[this.n++] = keys[i]!;
    this.docs++;
  }

  /**
   * Hashes of lines found in at least max(minDocs, ceil(minFraction × docs))
   * documents. Frees the counts.
   */
  boilerplate(minDocs: number, minFraction: number): LineSet {
    const need = Math.max(minDocs, Math.ceil(minFraction * this.docs));
    const keys = this.keys.subarray(0, this.n).sort();
    const out = new Set<number>();
    let i = 0;
    while (i < keys.length) {
      let j = i + 1;
      while (j < keys.length && keys[j] === keys[i]) j++;
      if (j - i >= need) out.add(keys[i]);
      i = j;
    }
    this.keys = new Float64Array(0);
    this.n = 0;
    return new LineSet(out, new Set([...out].map((k) => k % 8192)));
  }
}

/** Boilerplate line keys, with their lengths so most lines are ruled out without hashing. */
export class LineSet {
  readonly hashes: Set<number>;
  readonly lengths: Set<number>;
  constructor(hashes: Set<number>, lengths: Set<number>) {
    this.hashes = hashes;
    this.lengths = lengths;
  }
  get size(): number {
    return this.hashes.size;
  }
  has(s: string, start: number, end: number): boolean {
    return this.lengths.has(Math.min(end - start, 8191)) && this.hashes.has(lineKey(s, start, end));
  }
}

/** Drops lines in the set, except lines that are headings of the section. Returns the text and the number of lines dropped. */
export function removeLines(text: string, drop: LineSet, keep: readonly string[]): { text: string; removed: number } {
  if (drop.size === 0) return { text, removed: 0 };
  let removed = 0;
  let out = "";
  let from = 0; // start of the kept run not yet copied
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    if (end > start && drop.has(text, start, end) && !keep.includes(text.slice(start, end))) {
      out += text.slice(from, start);
      from = end + 1;
      removed++;
    }
    start = end + 1;
  }
  if (removed === 0) return { text, removed };
  out += text.slice(from);
  return { text: out.replace(/\n{3,}/g, "\n\n").trim(), removed };
}

function goodChars(s: string, from: number, to: number): number {
  let good = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 32 || c === 10) good++;
    else if (c > 127 && /[\p{L}\p{N}\p{Zs}]/u.test(s[i])) good++;
  }
  return good;
}

/**
 * Fraction of characters that are letters, digits or whitespace (garbage and
 * binary score low). Texts over 4096 characters are scored on four evenly
 * spaced 1024-character windows.
 */
export function textRatio(s: string): number {
  if (s.length === 0) return 0;
  if (s.length <= 4096) return goodChars(s, 0, s.length) / s.length;
  let good = 0;
  const step = (s.length - 1024) / 3;
  for (let k = 0; k < 4; k++) {
    const from = Math.floor(k * step);
    good += goodChars(s, from, from + 1024);
  }
  return good / 4096;
}

export type PiiKind = "emails" | "phones" | "cards" | "ibans";
export const PII_KINDS: readonly PiiKind[] = ["emails", "phones", "cards", "ibans"];
export type PiiCounts = Record<PiiKind, number>;

export function emptyPiiCounts(): PiiCounts {
  return { emails: 0, phones: 0, cards: 0, ibans: 0 };
}

function luhn(digits: string): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 === 0;
}

function ibanValid(iban: string): boolean {
  const s = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (const ch of s) {
    const v = ch >= "A" && ch <= "Z" ? String(ch.charCodeAt(0) - 55) : ch;
    for (const d of v) rem = (rem * 10 + (d.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const IBAN = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g;
const CARD = /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g;
const PHONE = /(?<![\w+./-])(?:\+?\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,5}){1,4}(?![\w/-]|\.\d)/g;
const DATE_LIKE = /^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$/;

/** Replaces PII of the chosen kinds with [EMAIL], [PHONE], [CARD], [IBAN]; adds to counts. */
export function redactPii(text: string, kinds: ReadonlySet<PiiKind>, counts: PiiCounts): string {
  if (kinds.size === 0) return text;
  if (kinds.has("emails") && text.includes("@")) {
    text = text.replace(EMAIL, () => {
      counts.emails++;
      return "[EMAIL]";
    });
  }
  if (kinds.has("ibans")) {
    text = text.replace(IBAN, (m) => {
      const compact = m.replace(/ /g, "");
      if (compact.length < 15 || compact.length > 34 || !ibanValid(compact)) return m;
      counts.ibans++;
      return "[IBAN]";
    });
  }
  if (kinds.has("cards")) {
    text = text.replace(CARD, (m) => {
      const digits = m.replace(/[ -]/g, "");
      if (digits.length < 13 || digits.length > 19 || !luhn(digits)) return m;
      counts.cards++;
      return "[CARD]";
    });
  }
  if (kinds.has("phones")) {
    text = text.replace(PHONE, (m) => {
      // 10–15 digits, or 7+ when written like a phone number ("+…" or "(…)"); dates are not phones.
      const digits = m.replace(/\D/g, "").length;
      const styled = m.startsWith("+") || m.includes("(");
      if (digits > 15 || digits < (styled ? 7 : 10) || DATE_LIKE.test(m)) return m;
      counts.phones++;
      return "[PHONE]";
    });
  }
  return text;
}
