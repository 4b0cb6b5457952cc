// The assistant's section index: one SQLite file holding the sections of a
// dataset made by `slm ingest` (documents.jsonl rows with provenance), an FTS5
// table for BM25 (heading path + source path words in one column, body in
// another), a second FTS5 table of passages (runs of PASSAGE_SENTENCES
// sentences of each section, overlapping, with the section's heading words) so
// that a long section is found by its best few sentences, a sqlite-vec vec0
// table of unit vectors (cosine distance; rowids are the section rowids,
// passed as BigInt), per-stem document frequencies for
// the answer-confidence score, and a meta table (format version, embedder).
// Built into a temporary file beside the target and renamed into place.
// Knows nothing about how vectors are made (an Embedder is passed in) or how
// results are fused (retrieve.ts).
import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

import Database from "better-sqlite3";
import * as sqliteVec from "sqlite-vec";

import { ConfigError, FormatError, NotFoundError } from "../errors.ts";
import { readJsonl } from "../util/jsonl.ts";
import type { Embedder, EmbedderSpec } from "./embed.ts";
import { contentTerms, ftsQuery, sentences } from "./terms.ts";

export const INDEX_FORMAT = "slmkit-index";
// Version 2 added the passages table; a version 1 index must be rebuilt.
export const INDEX_VERSION = 2;

/**
 * Sentences per passage (each section gives one passage per sentence after its heading line,
 * covering it and the next PASSAGE_SENTENCES - 1). BM25 over whole sections favours short ones
 * and misses an answer deep in a long one; over passages, fused with the section ranking, the
 * section holding the answer was in the top 3 for 251 instead of 246 of 283 development
 * questions (docs/assistant.md); 1 to 5 sentences were tried, 3 and 4 did best.
 */
export const PASSAGE_SENTENCES = 3;

/** Passages read per section wanted by passageBm25 (a long section holds many matching passages). */
const PASSAGE_SCAN = 20;

/** A section's passages: overlapping runs of `n` sentences after its heading line (the whole text when it has one sentence; none when it is empty). */
export function sectionPassages(text: string, n = PASSAGE_SENTENCES): string[] {
  const sents = sentences(text);
  const body = sents.length > 1 ? sents.slice(1) : sents;
  if (body.length === 0) return [];
  const out: string[] = [];
  for (let i = 0; i < Math.max(1, body.length - n + 1); i++) out.push(body.slice(i, i + n).join(" "));
  return out;
}

/** A section as stored: the ingest row's provenance and text. */
export interface Section {
  /** SQLite rowid (1-based, in dataset order). */
  rowid: number;
  /** Ingest section id, `<doc>#<n>`. */
  id: string;
  doc: string;
  /** Source label of the file (relative path as ingested). */
  source: string;
  title: string | null;
  heading: string[];
  headingPath: string;
  /** Code-point offsets in the document's cleaned text. */
  start: number;
  end: number;
  text: string;
}

export interface IndexInfo {
  format: string;
  version: number;
  createdAt: string;
  dataset: string;
  sections: number;
  documents: number;
  embedder: EmbedderSpec;
}

export interface BuildIndexOptions {
  dataset: string;
  out: string;
  embedder: Embedder;
  /** Sections embedded per call (default 32). */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

function sqliteError(path: string, e: unknown): FormatError {
  const msg = (e as Error)?.message ?? String(e);
  return new FormatError(`${path}: not a readable slm index (${msg})`, { hint: "rebuild it with `slm index DATASET --out INDEX`" });
}

/** Reads and validates documents.jsonl of a dataset directory. */
export function readDatasetSections(dataset: string): Omit<Section, "rowid">[] {
  if (!existsSync(dataset)) throw new NotFoundError(`dataset not found: ${dataset}`, { hint: "make one with `slm ingest DOCS --out DATASET`" });
  if (!statSync(dataset).isDirectory()) throw new ConfigError(`${dataset}: expected a dataset directory (manifest.json + documents.jsonl)`);
  const docsPath = join(dataset, "documents.jsonl");
  if (!existsSync(join(dataset, "manifest.json")) || !existsSync(docsPath)) {
    throw new ConfigError(`${dataset}: not a dataset directory (manifest.json and documents.jsonl expected)`, {
      hint: "make one with `slm ingest DOCS --out DATASET`",
    });
  }
  const out = readJsonl(docsPath, (v, { at }): Omit<Section, "rowid"> => {
    const r = (v ?? {}) as Record<string, unknown>;
    const bad = (f: string) => new FormatError(`${at}: field "${f}" missing or of the wrong type`);
    if (typeof r.id !== "string") throw bad("id");
    if (typeof r.source !== "string") throw bad("source");
    if (typeof r.text !== "string") throw bad("text");
    if (!Array.isArray(r.heading) || !r.heading.every((h) => typeof h === "string")) throw bad("heading");
    return {
      id: r.id,
      doc: typeof r.doc === "string" ? r.doc : r.id.split("#")[0]!,
      source: r.source,
      title: typeof r.title === "string" ? r.title : null,
      heading: r.heading as string[],
      headingPath: typeof r.headingPath === "string" ? r.headingPath : (r.heading as string[]).join(" › "),
      start: typeof r.start === "number" ? r.start : 0,
      end: typeof r.end === "number" ? r.end : 0,
      text: r.text,
    };
  });
  if (out.length === 0) throw new ConfigError(`${docsPath} has no sections`);
  return out;
}

/** Words of a source path ("pages/travel-and-leave/leave.md" -> "travel and leave leave"). */
export function sourceWords(source: string): string {
  return source
    .replace(/\.[a-z0-9]+$/i, "")
    .split(/[/\\]/)
    .filter((p) => p !== "pages" && p !== "." && p !== "..")
    .join(" ")
    .replace(/[-_]+/g, " ");
}

/** What a section's vector is made from: its heading path and text. */
export function embedText(s: Pick<Section, "headingPath" | "text">): string {
  return `${s.headingPath}\n${s.text}`;
}

/** Builds the index file `out` from a dataset directory. */
export function buildIndex(opts: BuildIndexOptions): IndexInfo {
  const sections = readDatasetSections(opts.dataset);
  const dim = opts.embedder.spec.dim;
  const out = resolve(opts.out);
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}-${Date.now()}`);
  const db = new Database(tmp);
  try {
    sqliteVec.load(db);
    db.pragma("journal_mode = OFF");
    db.pragma("synchronous = OFF");
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE sections (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL, doc TEXT NOT NULL, source TEXT NOT NULL, title TEXT,
        heading TEXT NOT NULL, heading_path TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL);
      CREATE INDEX sections_id ON sections(id);
      CREATE VIRTUAL TABLE fts USING fts5(heading, body, tokenize = 'porter unicode61');
      CREATE VIRTUAL TABLE passages USING fts5(section UNINDEXED, heading, body, tokenize = 'porter unicode61');
      CREATE TABLE terms (term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
      CREATE VIRTUAL TABLE vec USING vec0(embedding float[${dim}] distance_metric=cosine);
    `);
    const insS = db.prepare("INSERT INTO sections (rowid, id, doc, source, title, heading, heading_path, start, end, text) VALUES (?,?,?,?,?,?,?,?,?,?)");
    const insF = db.prepare("INSERT INTO fts (rowid, heading, body) VALUES (?,?,?)");
    const insP = db.prepare("INSERT INTO passages (section, heading, body) VALUES (?,?,?)");
    const insV = db.prepare("INSERT INTO vec (rowid, embedding) VALUES (?, ?)");
    const insT = db.prepare("INSERT INTO terms (term, df) VALUES (?, ?)");
    const df = new Map<string, number>();
    const batch = opts.batch ?? 32;
    const docs = new Set<string>();
    for (let b = 0; b < sections.length; b += batch) {
      const chunk = sections.slice(b, b + batch);
      const vecs = opts.embedder.embed(chunk.map(embedText));
      db.transaction(() => {
        chunk.forEach((s, j) => {
          const rowid = b + j + 1;
          docs.add(s.doc);
          insS.run(rowid, s.id, s.doc, s.source, s.title, JSON.stringify(s.heading), s.headingPath, s.start, s.end, s.text);
          const heading = `${s.headingPath} ${sourceWords(s.source)}`;
          insF.run(rowid, heading, s.text);
          for (const p of sectionPassages(s.text)) insP.run(rowid, heading, p);
          const v = vecs[j]!;
          if (v.length !== dim) throw new ConfigError(`embedder returned ${v.length} values, expected ${dim}`);
          insV.run(BigInt(rowid), v);
          for (const t of new Set(contentTerms(`${s.headingPath} ${s.text}`))) df.set(t, (df.get(t) ?? 0) + 1);
        });
      })();
      opts.onProgress?.(Math.min(b + batch, sections.length), sections.length);
    }
    db.transaction(() => {
      for (const [t, n] of df) insT.run(t, n);
    })();
    const info: IndexInfo = {
      format: INDEX_FORMAT,
      version: INDEX_VERSION,
      createdAt: new Date().toISOString(),
      dataset: resolve(opts.dataset),
      sections: sections.length,
      documents: docs.size,
      embedder: opts.embedder.spec,
    };
    const insM = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
    for (const [k, v] of Object.entries(info)) insM.run(k, JSON.stringify(v));
    db.exec("INSERT INTO fts(fts) VALUES ('optimize'); INSERT INTO passages(passages) VALUES ('optimize')");
    db.close();
    renameSync(tmp, out);
    return info;
  } catch (e) {
    if (db.open) db.close();
    rmSync(tmp, { force: true });
    throw e;
  }
}

export interface Bm25Hit {
  rowid: number;
  /** -bm25(): higher is better. */
  score: number;
}

export interface VectorHit {
  rowid: number;
  /** Cosine distance in [0, 2]: lower is better. */
  distance: number;
}

/** An opened index (read-only). */
export class SectionIndex {
  readonly info: IndexInfo;
  readonly path: string;
  private readonly db: Database.Database;
  private readonly qSection: Database.Statement;
  private readonly qBm25: Database.Statement;
  private readonly qPassages: Database.Statement;
  private readonly qVec: Database.Statement;
  private readonly qDf: Database.Statement;
  private readonly cache = new Map<number, Section>();

  private constructor(path: string, db: Database.Database, info: IndexInfo) {
    this.path = path;
    this.db = db;
    this.info = info;
    this.qSection = db.prepare("SELECT rowid, id, doc, source, title, heading, heading_path, start, end, text FROM sections WHERE rowid = ?");
    this.qBm25 = db.prepare("SELECT rowid, -bm25(fts, 2.0, 1.0) AS score FROM fts WHERE fts MATCH ? ORDER BY bm25(fts, 2.0, 1.0) LIMIT ?");
    // Passages best first (bm25() cannot be aggregated in SQL; passageBm25 keeps each section's best).
    this.qPassages = db.prepare(
      "SELECT section, -bm25(passages, 0.0, 1.0, 1.0) AS score FROM passages WHERE passages MATCH ? ORDER BY bm25(passages, 0.0, 1.0, 1.0) LIMIT ?",
    );
    this.qVec = db.prepare("SELECT rowid, distance FROM vec WHERE embedding MATCH ? AND k = ? ORDER BY distance");
    this.qDf = db.prepare("SELECT df FROM terms WHERE term = ?");
  }

  /** Opens an index file; FormatError for anything that is not a readable index of this version. */
  static open(path: string): SectionIndex {
    if (!existsSync(path)) throw new NotFoundError(`index not found: ${path}`, { hint: "build one with `slm index DATASET --out INDEX`" });
    if (statSync(path).isDirectory()) throw new ConfigError(`${path} is a directory; an index is one file made by \`slm index\``);
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
    } catch (e) {
      throw sqliteError(path, e);
    }
    try {
      sqliteVec.load(db);
      const rows = db.prepare("SELECT key, value FROM meta").all() as { key: string; value: string }[];
      const m = Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.value)]));
      if (m.format !== INDEX_FORMAT) throw new FormatError(`${path}: not an slm index (meta.format is ${JSON.stringify(m.format)})`);
      if (m.version !== INDEX_VERSION)
        throw new FormatError(`${path}: index version ${m.version}, this slmkit reads version ${INDEX_VERSION}`, { hint: "rebuild it with `slm index`" });
      const info = m as IndexInfo;
      // Touch every table once so a damaged file fails here, not mid-question.
      db.prepare("SELECT count(*) FROM sections").get();
      db.prepare("SELECT rowid FROM fts WHERE fts MATCH 'a' LIMIT 1").all();
      db.prepare("SELECT rowid FROM passages WHERE passages MATCH 'a' LIMIT 1").all();
      return new SectionIndex(path, db, info);
    } catch (e) {
      db.close();
      if (e instanceof FormatError) throw e;
      throw sqliteError(path, e);
    }
  }

  get size(): number {
    return this.info.sections;
  }

  section(rowid: number): Section {
    const hit = this.cache.get(rowid);
    if (hit) return hit;
    const r = this.qSection.get(rowid) as
      | {
          rowid: number;
          id: string;
          doc: string;
          source: string;
          title: string | null;
          heading: string;
          heading_path: string;
          start: number;
          end: number;
          text: string;
        }
      | undefined;
    if (!r) throw new NotFoundError(`section ${rowid} is not in ${this.path}`);
    const s: Section = {
      rowid: r.rowid,
      id: r.id,
      doc: r.doc,
      source: r.source,
      title: r.title,
      heading: JSON.parse(r.heading),
      headingPath: r.heading_path,
      start: r.start,
      end: r.end,
      text: r.text,
    };
    this.cache.set(rowid, s);
    return s;
  }

  /** A section by its ingest id (`<doc>#<n>`), or undefined. */
  sectionById(id: string): Section | undefined {
    const r = this.db.prepare("SELECT rowid FROM sections WHERE id = ?").get(id) as { rowid: number } | undefined;
    return r ? this.section(r.rowid) : undefined;
  }

  /** The k best sections by BM25 for a question (empty when it has no content word). */
  bm25(question: string, k: number): Bm25Hit[] {
    const q = ftsQuery(question);
    if (!q) return [];
    return this.qBm25.all(q, k) as Bm25Hit[];
  }

  /**
   * The k sections whose best passage scores highest by BM25 (rowid: the section's; score: that
   * passage's), from the best PASSAGE_SCAN·k passages.
   */
  passageBm25(question: string, k: number): Bm25Hit[] {
    const q = ftsQuery(question);
    if (!q) return [];
    const out: Bm25Hit[] = [];
    const seen = new Set<number>();
    for (const r of this.qPassages.iterate(q, PASSAGE_SCAN * k) as Iterable<{ section: number; score: number }>) {
      if (seen.has(r.section)) continue;
      seen.add(r.section);
      out.push({ rowid: r.section, score: r.score });
      if (out.length === k) break;
    }
    return out;
  }

  /** The k nearest sections to a unit vector. */
  nearest(vec: Float32Array, k: number): VectorHit[] {
    if (vec.length !== this.info.embedder.dim) throw new ConfigError(`query vector has ${vec.length} values, the index holds ${this.info.embedder.dim}`);
    return (this.qVec.all(vec, Math.min(k, this.size)) as VectorHit[]).map((r) => ({ rowid: Number(r.rowid), distance: r.distance }));
  }

  /** Number of sections containing a stem (contentTerms). */
  df(term: string): number {
    const r = this.qDf.get(term) as { df: number } | undefined;
    return r?.df ?? 0;
  }

  /** Smoothed inverse document frequency of a stem: ln(1 + N / (df + 0.5)). */
  idf(term: string): number {
    return Math.log(1 + this.size / (this.df(term) + 0.5));
  }

  close(): void {
    this.db.close();
  }
}
