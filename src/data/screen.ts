// Screening one document's sections: the length and text-ratio filters, a
// hash per kept section, the document's length, and its MinHash signature.
// Pure and per document, so it runs wherever the text is: on the main thread
// in pass 2, or on an ingestion worker ahead of the main thread (pass 2 then
// keeps only the order-dependent work).
// Knows nothing about files, the order of documents or what is a duplicate.
import { textHash, textRatio } from "./clean.ts";
import { minhash } from "./dedupe.ts";
import { cpLength } from "./text.ts";

export interface ScreenOptions {
  /** Sections shorter than this (UTF-16 units, after line removal) are dropped. */
  minSectionChars: number;
  /** Sections whose textRatio is below this are dropped. */
  minTextRatio: number;
  /** MinHash seed; the signature is computed only when nearDup is on. */
  seed: number;
  nearDup: boolean;
}

export interface Screened {
  /** Indices (into the texts screened) of the sections kept, in order. */
  keep: Int32Array;
  /** textHash of each kept section. (keep.length,) */
  hashes: Float64Array;
  /** Code-point length of each kept section. (keep.length,) */
  cpLengths: Uint32Array;
  /** Sections dropped as too short / as low text ratio. */
  short: number;
  lowRatio: number;
  /** Length of the kept sections joined by blank lines (the document's length test). */
  fullLength: number;
  /** MinHash of the kept sections (128,), null when they have no words or nearDup is off. */
  sig: Uint32Array | null;
}

export function screenSections(texts: readonly string[], o: ScreenOptions): Screened {
  const keep: number[] = [];
  let short = 0;
  let lowRatio = 0;
  for (let i = 0; i < texts.length; i++) {
    const t = texts[i]!;
    if (t.length < o.minSectionChars) short++;
    else if (textRatio(t) < o.minTextRatio) lowRatio++;
    else keep.push(i);
  }
  const kept = keep.map((i) => texts[i]!);
  const fullLength = kept.reduce((a, t) => a + t.length, 0) + 2 * Math.max(0, kept.length - 1);
  return {
    keep: Int32Array.from(keep),
    hashes: Float64Array.from(kept, (t) => textHash(t)),
    cpLengths: Uint32Array.from(kept, (t) => cpLength(t)),
    short,
    lowRatio,
    fullLength,
    sig: o.nearDup && kept.length > 0 ? minhash(kept, o.seed, 5, new Uint32Array(128)) : null,
  };
}
