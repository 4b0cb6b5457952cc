// Pre-tokenization patterns: the named regexes that cut text into chunks
// before BPE (GPT-2, cl100k/Llama 3, o200k, Qwen), and the translation of a
// tokenizer.json regex (Oniguruma/Rust syntax) into a JavaScript `u` regex.
// Knows nothing about vocabularies or merges.
import { FormatError } from "../errors.ts";

// The case-insensitive contraction group, written without the `(?i:)` modifier
// that Node 20's RegExp lacks; valid in Rust/Oniguruma regexes too, so a
// tokenizer.json we write loads anywhere.
const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

/** Named pre-tokenizer patterns (JavaScript syntax, used with the `gu` flags). */
export const PATTERNS = {
  /** GPT-2 / r50k: letters, numbers, other runs, each with an optional leading space. */
  gpt2: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
  /** GPT-4 cl100k_base: numbers in groups of up to 3, newlines kept apart. */
  cl100k: `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
  /** Llama 3: the same regex as cl100k_base. */
  llama3: `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
  /** GPT-4o o200k_base: case-aware words, contractions attached. */
  o200k:
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?" +
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?" +
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  /** Qwen 2/3: like cl100k but one digit per chunk. */
  qwen: `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
} as const;

export type PatternName = keyof typeof PATTERNS;

export function isPatternName(s: string): s is PatternName {
  return Object.hasOwn(PATTERNS, s);
}

/**
 * Rewrites a regex from a tokenizer.json (Rust `regex`/Oniguruma syntax) into
 * JavaScript syntax: `(?i:…)` groups of plain literals become explicit
 * [xX] classes, possessive quantifiers (`?+ ++ *+`) become greedy ones (same
 * matches for the pre-tokenizer patterns in use), needless escapes of # & ~
 * are dropped. `field` names the JSON field for the error message.
 */
export function toJsRegexSource(src: string, field: string): string {
  let s = src.replace(/\\([#&~])/g, "$1");
  s = s.replace(/\(\?i:([^()\\[\]]*)\)/g, (_m, body: string) => {
    let out = "";
    for (const ch of body) {
      const lo = ch.toLowerCase();
      const up = ch.toUpperCase();
      out += lo !== up ? `[${lo}${up}]` : ch;
    }
    return `(?:${out})`;
  });
  s = dropPossessive(s);
  if (/\(\?[a-zA-Z]/.test(s)) {
    throw new FormatError(`${field}: unsupported inline regex flags in ${JSON.stringify(src)}`, {
      hint: "supported: plain regexes with \\p{…} classes, lookahead, and (?i:…) groups of literal text",
    });
  }
  return s;
}

/** Turns possessive quantifiers (x?+ x*+ x++ x{n,m}+) into greedy ones, outside classes and escapes. */
function dropPossessive(src: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === "\\") {
      // Copy the escape; \p{…} / \P{…} as a whole.
      let j = i + 2;
      if ((src[i + 1] === "p" || src[i + 1] === "P") && src[i + 2] === "{") j = src.indexOf("}", i) + 1 || src.length;
      out += src.slice(i, j);
      i = j - 1;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      out += c;
      continue;
    }
    if (c === "[") {
      inClass = true;
      out += c;
      continue;
    }
    let q = "";
    if ((c === "?" || c === "*" || c === "+") && src[i - 1] !== "(") q = c;
    else if (c === "{") {
      const m = /^\{\d+(?:,\d*)?\}/.exec(src.slice(i));
      if (m) q = m[0];
    }
    if (q) {
      out += q;
      i += q.length - 1;
      if (src[i + 1] === "+") i++;
      continue;
    }
    out += c;
  }
  return out;
}

/** Compiles a (translated) pattern with the `gu` flags, as a FormatError when invalid. */
export function compilePattern(src: string, field: string): RegExp {
  try {
    return new RegExp(src, "gu");
  } catch (e) {
    throw new FormatError(`${field}: regex ${JSON.stringify(src)} is not valid in JavaScript: ${(e as Error).message}`, {
      hint: "supported: the GPT-2, cl100k/Llama 3, o200k and Qwen style patterns",
    });
  }
}
