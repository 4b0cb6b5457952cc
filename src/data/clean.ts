// Corpus cleaning: repeated-line (header/footer) detection by counting
// per-document line hashes, length and text-ratio filters, and PII redaction
// (emails, phones, payment cards, IBANs) with counts.
// Memory: 8 bytes per distinct line per document while counting (a growable
// Float64Array, sorted once), not the lines themselves.
// Knows nothing about files, formats, dedupe or tokenizers.
import { createHash } from "node:crypto";

/** A 53-bit hash of a string (two 32-bit FNV-1a style lanes), for lines. */
export function hash53(s: string): number {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ s.length;
  for (let i = 0; i < s.length; i++) {
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

/** A 48-bit digest (MD5 prefix) of a longer text, for document and section identity. */
export function textHash(s: string): number {
  return createHash("md5").update(s).digest().readUIntLE(0, 6);
}

/** Counts, for each line text, how many documents contain it; then names the boilerplate lines. */
export class LineCounter {
  private keys = new Float64Array(1 << 16);
  private n = 0;
  docs = 0;

  /** Adds one document's lines (each distinct line counted once per document). */
  addDocument(lines: Iterable<string>): void {
    const seen = new Set<number>();
    for (const line of lines) {
      if (line.length === 0) continue;
      const h = hash53(line);
      if (seen.has(h)) continue;
      seen.add(h);
      if (this.n === this.keys.length) {
        const k = new Float64Array(this.keys.length * 2);
        k.set(this.keys);
        this.keys = k;
      }
      this.keys[this.n++] = h;
    }
    this.docs++;
  }

  /**
   * Hashes of lines found in at least max(minDocs, ceil(minFraction × docs))
   * documents. Frees the counts.
   */
  boilerplate(minDocs: number, minFraction: number): Set<number> {
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
    return out;
  }
}

/** Drops lines whose hash is boilerplate, except lines that are headings of the section. Returns the text and the number of lines dropped. */
export function removeLines(text: string, drop: Set<number>, keep: string[]): { text: string; removed: number } {
  if (drop.size === 0) return { text, removed: 0 };
  const lines = text.split("\n");
  let removed = 0;
  const out: string[] = [];
  for (const l of lines) {
    if (l.length > 0 && drop.has(hash53(l)) && !keep.includes(l)) {
      removed++;
      continue;
    }
    out.push(l);
  }
  if (removed === 0) return { text, removed };
  return { text: out.join("\n").replace(/\n{3,}/g, "\n\n").trim(), removed };
}

/** Fraction of characters that are letters, digits or whitespace (garbage and binary score low). */
export function textRatio(s: string): number {
  if (s.length === 0) return 0;
  let good = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 32 || c === 10) good++;
    else if (c > 127 && /[\p{L}\p{N}\p{Zs}]/u.test(s[i])) good++;
  }
  return good / s.length;
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
const PHONE = /(?<![\w+.\/-])(?:\+?\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,5}){1,4}(?![\w\/-]|\.\d)/g;
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
