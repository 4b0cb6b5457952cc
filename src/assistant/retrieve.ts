// Retrieval over a SectionIndex: BM25 (FTS5), vectors (sqlite-vec, cosine),
// or both fused by reciprocal-rank fusion (RRF: score = Σ 1/(rrfK + rank)).
// "BM25" is itself two rankings fused: sections by BM25 over their whole text,
// and sections by their best passage (a few sentences; index-db.ts), which
// finds an answer deep in a long section.
// Also the word coverage, the main signal of the answer confidence that
// decides "not found" (confidence.ts): the IDF-weighted share of the
// question's content stems that occur in the best of the top sections (1 =
// every content word of the question is there; words the corpus never uses
// weigh the most). Words only: a synonym does not count (WordNet
// synonyms were tried and removed; docs/assistant.md has the figures). Knows
// nothing about models or prompts.
import { ConfigError } from "../errors.ts";
import type { Embedder } from "./embed.ts";
import type { Section, SectionIndex } from "./index-db.ts";
import { contentTerms } from "./terms.ts";

export type RetrievalMode = "bm25" | "vector" | "hybrid";
export const RETRIEVAL_MODES: readonly RetrievalMode[] = ["bm25", "vector", "hybrid"];

/**
 * The retrieval answering uses unless told otherwise: BM25 (whole sections and passages). Fusing
 * in the index's hashed vectors ("hybrid") put the answering section in the top 3 for 242 of 283
 * development questions against BM25's 251, and lost most on the largest handbooks (dxw 31 vs
 * 35 of 40, Sourcegraph 29 vs 32); docs/assistant.md. Hybrid stays available for indexes whose
 * vectors carry meaning beyond the words (a model embedder).
 */
export const DEFAULT_RETRIEVAL_MODE: RetrievalMode = "bm25";

/** Whether a mode searches the vectors (and so needs an embedder for the question). */
export function needsEmbedder(mode: RetrievalMode): boolean {
  return mode !== "bm25";
}

export interface RetrieveOptions {
  /** Default DEFAULT_RETRIEVAL_MODE. */
  mode?: RetrievalMode;
  /** Sections returned (default 5). */
  k?: number;
  /** Embeds the question; required for "vector" and "hybrid". */
  embedder?: Embedder;
  /** Candidates taken from each retriever before fusion (default 50). */
  candidates?: number;
  /** RRF constant (default 60). */
  rrfK?: number;
  /** Fuse the passage ranking into BM25's (default true; false: whole sections only). */
  passages?: boolean;
  /** Sections the confidence looks at (default 3). */
  confidenceDepth?: number;
}

export interface RetrievedSection {
  section: Section;
  /** 1-based rank in the fused list. */
  rank: number;
  /** The fused score (RRF), or the single retriever's score (1 - cosine distance; BM25 of whole sections without passages). */
  score: number;
  /** Rank in the BM25 ranking (sections and passages fused) and in the vector ranking. */
  bm25Rank: number | null;
  vectorRank: number | null;
}

export interface TermCoverage {
  term: string;
  idf: number;
  found: boolean;
}

export interface Retrieval {
  mode: RetrievalMode;
  hits: RetrievedSection[];
  /** IDF-weighted coverage of the question's content stems in the best top section, in [0, 1] (a feature of the answer confidence, confidence.ts). */
  confidence: number;
  /** Per stem of the question, for the best section. */
  coverage: TermCoverage[];
  /** Index (into hits) of the section the confidence came from, or -1. */
  bestForConfidence: number;
  ms: number;
}

/** Reciprocal-rank fusion of ranked id lists (each best first). */
export function rrf(lists: readonly (readonly number[])[], rrfK = 60): { id: number; score: number; ranks: (number | null)[] }[] {
  const acc = new Map<number, { score: number; ranks: (number | null)[] }>();
  lists.forEach((list, li) => {
    list.forEach((id, i) => {
      let e = acc.get(id);
      if (!e) {
        e = { score: 0, ranks: lists.map(() => null) };
        acc.set(id, e);
      }
      if (e.ranks[li] !== null) return; // an id repeated in one list counts once, at its best rank
      e.ranks[li] = i + 1;
      e.score += 1 / (rrfK + i + 1);
    });
  });
  // Ties: the better best rank in any list, then the better rank in the earlier list
  // (callers put BM25 first), then id, so the order is deterministic.
  const best = (r: (number | null)[]) => Math.min(...r.map((x) => x ?? Infinity));
  const byLists = (a: (number | null)[], b: (number | null)[]) => {
    for (let i = 0; i < a.length; i++) if ((a[i] ?? Infinity) !== (b[i] ?? Infinity)) return (a[i] ?? Infinity) - (b[i] ?? Infinity);
    return 0;
  };
  return [...acc.entries()]
    .map(([id, e]) => ({ id, ...e }))
    .sort((a, b) => b.score - a.score || best(a.ranks) - best(b.ranks) || byLists(a.ranks, b.ranks) || a.id - b.id);
}

/** IDF-weighted share of the question's distinct content stems found in `text`. */
export function termCoverage(index: Pick<SectionIndex, "idf">, question: string, text: string): { score: number; terms: TermCoverage[] } {
  const qs = [...new Set(contentTerms(question))];
  if (qs.length === 0) return { score: 0, terms: [] };
  const have = new Set(contentTerms(text));
  let num = 0,
    den = 0;
  const terms = qs.map((t): TermCoverage => {
    const idf = index.idf(t);
    den += idf;
    const found = have.has(t);
    if (found) num += idf;
    return { term: t, idf, found };
  });
  return { score: den > 0 ? num / den : 0, terms };
}

export function retrieve(index: SectionIndex, question: string, opts: RetrieveOptions = {}): Retrieval {
  const t0 = performance.now();
  const mode = opts.mode ?? DEFAULT_RETRIEVAL_MODE;
  const k = opts.k ?? 5;
  const cand = Math.max(opts.candidates ?? 50, k);
  if (!RETRIEVAL_MODES.includes(mode)) throw new ConfigError(`retrieval mode must be one of ${RETRIEVAL_MODES.join(", ")}, got "${mode}"`);
  if (mode !== "bm25" && !opts.embedder) throw new ConfigError(`retrieval mode "${mode}" needs an embedder`);
  if (opts.embedder && opts.embedder.spec.dim !== index.info.embedder.dim) {
    throw new ConfigError(`the embedder gives ${opts.embedder.spec.dim}-value vectors, the index was built with ${index.info.embedder.dim}`);
  }
  const rrfK = opts.rrfK ?? 60;
  let bm: { rowid: number; score: number }[] = [];
  if (mode !== "vector") {
    const whole = index.bm25(question, cand);
    bm =
      opts.passages === false
        ? whole
        : rrf([whole.map((h) => h.rowid), index.passageBm25(question, cand).map((h) => h.rowid)], rrfK)
            .slice(0, cand)
            .map((f) => ({ rowid: f.id, score: f.score }));
  }
  const vec = mode === "bm25" ? [] : index.nearest(opts.embedder!.embed([question])[0]!, cand);
  let hits: RetrievedSection[];
  if (mode === "bm25") {
    hits = bm.slice(0, k).map((h, i) => ({ section: index.section(h.rowid), rank: i + 1, score: h.score, bm25Rank: i + 1, vectorRank: null }));
  } else if (mode === "vector") {
    hits = vec.slice(0, k).map((h, i) => ({ section: index.section(h.rowid), rank: i + 1, score: 1 - h.distance, bm25Rank: null, vectorRank: i + 1 }));
  } else {
    const fused = rrf([bm.map((h) => h.rowid), vec.map((h) => h.rowid)], rrfK);
    hits = fused.slice(0, k).map((f, i) => ({ section: index.section(f.id), rank: i + 1, score: f.score, bm25Rank: f.ranks[0]!, vectorRank: f.ranks[1]! }));
  }
  const depth = Math.min(opts.confidenceDepth ?? 3, hits.length);
  let confidence = 0,
    coverage: TermCoverage[] = [],
    best = -1;
  for (let i = 0; i < depth; i++) {
    const s = hits[i]!.section;
    const c = termCoverage(index, question, `${s.headingPath}\n${s.text}`);
    if (best < 0 || c.score > confidence) {
      confidence = c.score;
      coverage = c.terms;
      best = i;
    }
  }
  return { mode, hits, confidence, coverage, bestForConfidence: best, ms: performance.now() - t0 };
}
