// Byte-level helpers for the tokenizer: the GPT-2 byte <-> printable-character
// table that byte-level vocabularies are written in, and a UTF-8 scanner that
// splits raw bytes into valid text runs and invalid byte runs (so any byte
// string, invalid UTF-8 included, can be encoded and round-trips exactly).
// Knows nothing about vocabularies, merges or regexes.

/** byte -> the single character a byte-level vocabulary uses for it (GPT-2 table). */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = printable ? String.fromCharCode(b) : String.fromCharCode(256 + n++);
  }
  return out;
})();

/** The inverse of BYTE_TO_CHAR: char code -> byte, -1 when not a byte character. */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(512).fill(-1);
  for (let b = 0; b < 256; b++) t[BYTE_TO_CHAR[b]!.charCodeAt(0)] = b;
  return t;
})();

/** Bytes -> byte-level token string ("Ġhello" for " hello"). */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]!];
  return s;
}

export const utf8Encoder = new TextEncoder();
// ignoreBOM: keep a leading U+FEFF as text (the default would silently drop it).
export const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const fatalDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The string for `bytes` when they are valid UTF-8, else null. */
export function strictUtf8(bytes: Uint8Array): string | null {
  try {
    return fatalDecoder.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * Length of the valid UTF-8 sequence starting at `i`, or 0 when the byte at `i`
 * does not start one (lone continuation byte, truncated sequence, overlong
 * form, surrogate, or a code point above U+10FFFF).
 */
function utf8SeqLen(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const n = b.length;
  const cont = (k: number) => i + k < n && (b[i + k]! & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const c1 = b[i + 1]!;
    if (c === 0xe0 && c1 < 0xa0) return 0; // overlong
    if (c === 0xed && c1 >= 0xa0) return 0; // surrogate
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const c1 = b[i + 1]!;
    if (c === 0xf0 && c1 < 0x90) return 0; // overlong
    if (c === 0xf4 && c1 >= 0x90) return 0; // above U+10FFFF
    return 4;
  }
  return 0;
}

/** One run of `bytes`: [start, end) and whether it is valid UTF-8. */
export interface ByteRun {
  start: number;
  end: number;
  valid: boolean;
}

/** Splits bytes into maximal valid-UTF-8 runs and maximal invalid runs, in order. */
export function utf8Runs(bytes: Uint8Array): ByteRun[] {
  const runs: ByteRun[] = [];
  let i = 0;
  let start = 0;
  let valid = true;
  while (i < bytes.length) {
    const len = utf8SeqLen(bytes, i);
    const v = len > 0;
    if (v !== valid && i > start) {
      runs.push({ start, end: i, valid });
      start = i;
    }
    valid = v;
    i += v ? len : 1;
  }
  if (i > start) runs.push({ start, end: i, valid });
  return runs;
}

/** Concatenates byte arrays. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
