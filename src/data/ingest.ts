// The ingestion pipeline: files -> extracted documents (cached by content
// hash) -> cleaned, deduplicated sections with provenance (documents.jsonl) ->
// train/val split by document -> token shards -> manifest.json. Everything is
// written into a temporary directory beside the output and renamed at the end.
//
// Passes, to keep memory bounded (no document text is held across files):
//   1. extract each file (or reuse the cache) and count per-document line hashes;
//   2. re-read extractions in path order: drop boilerplate lines, filter, dedupe,
//      redact, append rows to documents.jsonl;
//   3. (with a tokenizer) stream documents.jsonl into train/val shards.
// Reports progress through a callback; never prints. Knows nothing about the
// CLI or about how a tokenizer works (see tokenizer.ts).
import { createHash } from "node:crypto";
import { createReadStream, mkdirSync, openSync, closeSync, writeSync, readSync, fstatSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";

import { ConfigError, UsageError } from "../errors.ts";
import { replaceDir } from "../util/atomic.ts";
import { ExtractCache, type CacheEntry } from "./cache.ts";
import { ExtractPool, type ScreenResult } from "./extract-pool.ts";
import { LineCounter, PII_KINDS, emptyPiiCounts, redactPii, removeLines, type LineSet, type PiiCounts, type PiiKind } from "./clean.ts";
import { NearDupIndex } from "./dedupe.ts";
import { EXTRACTOR_VERSION, SkipFile, extractFile, type Format, type ReaderOptions } from "./readers.ts";
import { screenDocument } from "./extract-worker.ts";
import type { ScreenOptions, Screened } from "./screen.ts";
import { ShardWriter, type ShardInfo } from "./shards.ts";
import { splitDocuments } from "./split.ts";
import { HEADING_SEP, cpLength, type ExtractedDoc } from "./text.ts";
import type { TextTokenizer, TrainTokenizer } from "./tokenizer.ts";
import { findFiles, type FoundFile } from "./walk.ts";

const MANIFEST_VERSION = 1;

export interface IngestProgress {
  phase: "scan" | "extract" | "clean" | "tokenize" | "done";
  files: number;
  filesTotal: number;
  /** Input bytes processed so far in this phase, and in total. */
  bytes: number;
  bytesTotal: number;
  elapsedMs: number;
}

/** Injected file access (tests simulate unreadable files with it). */
export interface IngestIO {
  /** Reads at most maxBytes of a file. */
  readFile(path: string, maxBytes: number): Promise<Uint8Array>;
}

export interface IngestOptions {
  /** Files, directories or globs. */
  inputs: string[];
  /** The dataset directory to create (replaced if it exists). */
  out: string;
  /** Base for relative inputs and for the source labels (default process.cwd()). */
  cwd?: string;
  /** Tokenizer for the shards; without it (and without trainTokenizer) no shards are written. */
  tokenizer?: TextTokenizer;
  /** Trains a tokenizer on the cleaned training documents; needs vocabSize. */
  trainTokenizer?: TrainTokenizer;
  vocabSize?: number;
  /** Fraction of documents in the validation split (default 0.05). */
  valFraction?: number;
  /** Seed of the split and of MinHash (default 0). */
  seed?: number;
  /** JSON/JSONL text field (default "text"); CSV text column (default "text"). */
  textField?: string;
  csvColumn?: string;
  /** Sections are split at paragraph boundaries beyond this (default 4000 chars). */
  maxSectionChars?: number;
  /** Headingless text is grouped into sections of about this size (default 1500 chars). */
  targetSectionChars?: number;
  /** Sections shorter than this are dropped (default 20 chars). */
  minSectionChars?: number;
  /** Documents shorter than this after cleaning are dropped (default 50 chars). */
  minDocChars?: number;
  /** Sections whose letters+digits+whitespace fraction is below this are dropped (default 0.6). */
  minTextRatio?: number;
  /** A line in at least max(minDocs, fraction × documents) documents is boilerplate (defaults 3 and 0.05). */
  boilerplateMinDocs?: number;
  boilerplateMinFraction?: number;
  /** Jaccard threshold of near duplicates (default 0.8); 0 disables near-duplicate removal. */
  nearDupThreshold?: number;
  /** PII kinds to redact (default none). */
  redact?: PiiKind[];
  /** Files larger than this are skipped as too large (default 64 MiB). */
  maxFileBytes?: number;
  /** Incremental cache directory; null disables it (default <parent>/.slm-cache/<name>). */
  cacheDir?: string | null;
  /** Tokens per shard file (default 2^28). */
  maxTokensPerShard?: number;
  onProgress?: (p: IngestProgress) => void;
  /** Minimum milliseconds between progress callbacks (default 200). */
  progressIntervalMs?: number;
  io?: IngestIO;
  /**
   * Extraction worker threads. Default: one per CPU when the input is at least 16 MB
   * and no custom `io` is given (tests inject fs errors through io), else 0 (extract
   * on the calling thread).
   */
  workers?: number;
}

export interface FileReport {
  source: string;
  format: Format | null;
  bytes: number;
  status: "ok" | "skipped";
  reason?: string;
  notes?: string[];
  /** The extraction was reused from the cache (the file was not parsed). */
  cached: boolean;
  /** The file's bytes were read in this run (false when size+mtime matched the cache index). */
  read: boolean;
  documents: number;
  sha256?: string;
}

export interface DuplicateReport {
  source: string;
  kind: "exact" | "near";
  duplicateOf: string;
  jaccard?: number;
}

export interface Removals {
  boilerplateLines: number;
  shortSections: number;
  lowTextRatioSections: number;
  duplicateSections: number;
  shortDocuments: number;
  exactDuplicateDocuments: number;
  nearDuplicateDocuments: number;
}

export interface Manifest {
  version: number;
  createdAt: string;
  inputs: string[];
  seed: number;
  options: Record<string, unknown>;
  counts: {
    filesFound: number;
    filesOk: number;
    filesSkipped: number;
    filesRead: number;
    filesParsed: number;
    filesCached: number;
    documentsExtracted: number;
    documents: number;
    sections: number;
    trainDocuments: number;
    valDocuments: number;
    warnings: number;
  };
  bytes: { input: number; text: number };
  tokens: { train: number; val: number } | null;
  removals: Removals;
  pii: PiiCounts;
  boilerplateLineCount: number;
  split: { valFraction: number; val: string[] };
  tokenizer: null | {
    vocabSize: number;
    dtype: "uint16" | "uint32";
    separator: "eos" | "bos" | "none";
    separatorId: number | null;
    dir: string;
    trained: boolean;
  };
  shards: (ShardInfo & { split: "train" | "val" })[];
  duplicates: DuplicateReport[];
  files: FileReport[];
  skipped: { source: string; reason: string }[];
  cache: { dir: string | null; pruned: number };
}

/** One row of documents.jsonl: a section with its provenance. */
export interface SectionRow {
  id: string;
  doc: string;
  source: string;
  title?: string;
  heading: string[];
  headingPath: string;
  /** Code-point offsets of text in the document's cleaned text (sections joined by a blank line). */
  start: number;
  end: number;
  text: string;
}

const defaultIO: IngestIO = {
  async readFile(path, maxBytes) {
    const fd = openSync(path, "r");
    try {
      const size = fstatSync(fd).size;
      const n = Math.min(size, maxBytes);
      const buf = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const k = readSync(fd, buf, got, n - got, got);
        if (k === 0) break;
        got += k;
      }
      return buf.subarray(0, got);
    } finally {
      closeSync(fd);
    }
  },
};

/** Appends strings to a file through a buffer, synchronously. */
class LineWriter {
  private fd: number;
  private parts: string[] = [];
  private size = 0;
  constructor(path: string) {
    this.fd = openSync(path, "w");
  }
  write(s: string): void {
    this.parts.push(s);
    this.size += s.length;
    if (this.size > 1 << 20) this.flush();
  }
  flush(): void {
    if (this.parts.length === 0) return;
    writeSync(this.fd, this.parts.join(""));
    this.parts = [];
    this.size = 0;
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

function docId(source: string): string {
  return createHash("sha1").update(source).digest("hex").slice(0, 12);
}

/** Reads documents.jsonl back one document at a time: (doc id, full text). */
async function* documentsOf(path: string, only?: (doc: string) => boolean): AsyncGenerator<{ doc: string; text: string }> {
  const rl = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
  let cur: string | null = null;
  let parts: string[] = [];
  for await (const line of rl) {
    if (!line) continue;
    const row = JSON.parse(line) as SectionRow;
    if (row.doc !== cur) {
      if (cur !== null && parts.length > 0) yield { doc: cur, text: parts.join("\n\n") };
      cur = row.doc;
      parts = [];
    }
    if (!only || only(row.doc)) parts.push(row.text);
  }
  if (cur !== null && parts.length > 0) yield { doc: cur, text: parts.join("\n\n") };
}

/** A document's identity from its sections' 48-bit hashes, in order. */
function hashOfHashes(hs: number[]): number {
  const b = Buffer.allocUnsafe(hs.length * 6);
  hs.forEach((h, i) => b.writeUIntLE(h, i * 6, 6));
  return createHash("md5").update(b).digest().readUIntLE(0, 6);
}

function num(v: number | undefined, def: number, name: string, lo: number, hi: number): number {
  const x = v ?? def;
  if (!(typeof x === "number" && x >= lo && x <= hi)) throw new ConfigError(`${name} must be in [${lo}, ${hi}], got ${x}`);
  return x;
}

/** Options with their defaults applied and ranges checked. */
interface Settings {
  valFraction: number;
  seed: number;
  nearT: number;
  minSection: number;
  minDoc: number;
  minRatio: number;
  bpDocs: number;
  bpFrac: number;
  maxFile: number;
  readerOpts: ReaderOptions;
  redact: Set<PiiKind>;
}

function settingsOf(opts: IngestOptions): Settings {
  const redact = new Set<PiiKind>(opts.redact ?? []);
  for (const k of redact) if (!PII_KINDS.includes(k)) throw new ConfigError(`unknown PII kind "${k}" (known: ${PII_KINDS.join(", ")})`);
  if (opts.trainTokenizer && !opts.vocabSize) throw new ConfigError("trainTokenizer needs vocabSize");
  return {
    valFraction: num(opts.valFraction, 0.05, "valFraction", 0, 0.99),
    seed: opts.seed ?? 0,
    nearT: num(opts.nearDupThreshold, 0.8, "nearDupThreshold", 0, 1),
    minSection: num(opts.minSectionChars, 20, "minSectionChars", 0, 1e9),
    minDoc: num(opts.minDocChars, 50, "minDocChars", 0, 1e9),
    minRatio: num(opts.minTextRatio, 0.6, "minTextRatio", 0, 1),
    bpDocs: num(opts.boilerplateMinDocs, 3, "boilerplateMinDocs", 1, 1e12),
    bpFrac: num(opts.boilerplateMinFraction, 0.05, "boilerplateMinFraction", 0, 1),
    maxFile: num(opts.maxFileBytes, 64 * 1024 * 1024, "maxFileBytes", 1, 2 ** 31 - 1),
    readerOpts: {
      textField: opts.textField ?? "text",
      csvColumn: opts.csvColumn ?? "text",
      maxSectionChars: num(opts.maxSectionChars, 4000, "maxSectionChars", 100, 1e9),
      targetSectionChars: num(opts.targetSectionChars, 1500, "targetSectionChars", 50, 1e9),
    },
    redact,
  };
}

/** What the passes share: settings, the work directory, the extraction cache and worker pool, progress. */
interface Run {
  opts: IngestOptions;
  set: Settings;
  tmp: string;
  cache: ExtractCache;
  /** Worker threads for passes 1 and 2 (closed after pass 2, or on error), or null. */
  pool: ExtractPool | null;
  /** How many files ahead the pool works. */
  window: number;
  bytesTotal: number;
  progress: (p: Omit<IngestProgress, "elapsedMs">, force?: boolean) => void;
}

/** Runs the whole pipeline and returns the manifest it wrote. */
export async function ingest(opts: IngestOptions): Promise<Manifest> {
  const t0 = Date.now();
  const cwd = opts.cwd ?? process.cwd();
  if (opts.inputs.length === 0) throw new UsageError("no inputs given", { hint: "pass files, directories or globs" });
  const out = resolve(cwd, opts.out);
  const set = settingsOf(opts);
  const interval = opts.progressIntervalMs ?? 200;
  let lastProgress = 0;
  const progress = (p: Omit<IngestProgress, "elapsedMs">, force = false) => {
    if (!opts.onProgress) return;
    const now = Date.now();
    if (!force && now - lastProgress < interval) return;
    lastProgress = now;
    opts.onProgress({ ...p, elapsedMs: now - t0 });
  };

  // Work directory beside the output so the final rename stays on one filesystem.
  mkdirSync(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  let pool: ExtractPool | null = null;
  mkdirSync(tmp, { recursive: true });
  const cacheDir = opts.cacheDir === null ? join(tmp, ".extract") : resolve(cwd, opts.cacheDir ?? join(dirname(out), ".slm-cache", basename(out)));
  try {
    progress({ phase: "scan", files: 0, filesTotal: 0, bytes: 0, bytesTotal: 0 }, true);
    const walked = await findFiles(opts.inputs, { cwd, exclude: [out, tmp, cacheDir] });
    const bytesTotal = walked.files.reduce((a, f) => a + f.size, 0);
    const workers = opts.workers ?? (opts.io === undefined && bytesTotal >= 16 * 1048576 ? Math.min(availableParallelism(), 8) : 0);
    pool = workers > 0 ? new ExtractPool(workers) : null;
    const run: Run = { opts, set, tmp, cache: new ExtractCache(cacheDir), pool, window: pool ? 2 * pool.size + 2 : 1, bytesTotal, progress };

    const extracted = await extractPass(run, walked.files);
    const cleaned = await cleanPass(run, extracted);
    await pool?.close();
    pool = null;
    const { val } = splitDocuments(
      cleaned.kept.map((k) => k.id),
      set.valFraction,
      set.seed,
    );
    const tokenized = await tokenizePass(run, cleaned, val);

    const pruned = opts.cacheDir === null ? 0 : run.cache.finish();
    if (opts.cacheDir === null) rmSync(cacheDir, { recursive: true, force: true });
    const { files } = extracted;
    const fileSkips = files.filter((f) => f.status === "skipped").length;
    const manifest: Manifest = {
      version: MANIFEST_VERSION,
      createdAt: new Date().toISOString(),
      inputs: opts.inputs,
      seed: set.seed,
      options: {
        ...set.readerOpts,
        valFraction: set.valFraction,
        nearDupThreshold: set.nearT,
        minSectionChars: set.minSection,
        minDocChars: set.minDoc,
        minTextRatio: set.minRatio,
        boilerplateMinDocs: set.bpDocs,
        boilerplateMinFraction: set.bpFrac,
        maxFileBytes: set.maxFile,
        redact: [...set.redact],
      },
      counts: {
        filesFound: walked.files.length,
        filesOk: files.length - fileSkips,
        filesSkipped: fileSkips + walked.skipped.length,
        filesRead: files.filter((f) => f.read).length,
        filesParsed: files.filter((f) => f.status === "ok" && !f.cached).length,
        filesCached: files.filter((f) => f.cached).length,
        documentsExtracted: extracted.documentsExtracted,
        documents: cleaned.kept.length,
        sections: cleaned.sectionsOut,
        trainDocuments: cleaned.kept.length - val.size,
        valDocuments: val.size,
        warnings: fileSkips + walked.skipped.length + files.filter((f) => f.notes && f.notes.length > 0).length,
      },
      bytes: { input: bytesTotal, text: cleaned.textBytes },
      tokens: tokenized.tokens,
      removals: cleaned.removals,
      pii: cleaned.pii,
      boilerplateLineCount: extracted.boiler.size,
      split: { valFraction: set.valFraction, val: [...val].sort() },
      tokenizer: tokenized.tokenizer,
      shards: tokenized.shards,
      duplicates: cleaned.duplicates,
      files,
      skipped: walked.skipped,
      cache: { dir: opts.cacheDir === null ? null : cacheDir, pruned },
    };
    writeFileSync(join(tmp, "manifest.json"), `${JSON.stringify(manifest, null, 1)}\n`);

    // Swap into place: old dataset aside, new one in, old one removed.
    replaceDir(tmp, out);
    progress({ phase: "done", files: files.length, filesTotal: files.length, bytes: bytesTotal, bytesTotal }, true);
    return manifest;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    await pool?.close();
  }
}

/** Pass 1's result: a report per file, its cache key (null when skipped), the boilerplate lines. */
interface Extracted {
  files: FileReport[];
  keys: (string | null)[];
  boiler: LineSet;
  documentsExtracted: number;
}

/** What pass 1 needs of a file's extraction: its document count, notes, and a way to count its lines. */
type Extraction = { documents: number; notes: string[]; countLines: () => void };

/**
 * Pass 1: extract (or reuse), count line hashes. Files are read and hashed here in order;
 * extraction runs on the worker pool when there is one (up to `window` files ahead), and
 * results are taken back in file order, so the outcome is the same as extracting one file
 * after another.
 */
async function extractPass(run: Run, found: FoundFile[]): Promise<Extracted> {
  const { cache } = run;
  const lines = new LineCounter();
  const settings = JSON.stringify({ v: EXTRACTOR_VERSION, ...run.set.readerOpts });
  const files: FileReport[] = [];
  const keys: (string | null)[] = [];
  const rawSeen = new Set<string>(); // cache keys whose documents were counted
  let bytesDone = 0;
  let documentsExtracted = 0;
  // Lines are counted from the text on this thread, or from keys a worker computed.
  const fromEntry = (e: CacheEntry): Extraction => ({
    documents: e.docs.length,
    notes: e.notes,
    countLines: () => {
      for (const d of e.docs) lines.addDocument(d.sections.map((s) => s.text));
    },
  });
  const inflight = new Map<string, Promise<Extraction>>(); // content key -> extraction under way
  const start = (f: FoundFile) =>
    startExtraction(run, f, settings, inflight, fromEntry, (keysOf) => () => {
      for (const k of keysOf) lines.addKeys(k);
    });
  const pending: Promise<Stage>[] = [];
  let next = 0;
  try {
    for (let i = 0; i < found.length; i++) {
      while (next < found.length && pending.length < run.window) pending.push(start(found[next++]));
      const st = await pending.shift()!;
      const rep = st.rep;
      files.push(rep);
      keys.push(null);
      let skip = "skip" in st ? st.skip : undefined;
      if (!("skip" in st)) {
        try {
          const ex = await st.entry;
          const f = found[i];
          cache.use(f.source, f.size, f.mtimeMs, rep.sha256!, st.key);
          keys[i] = st.key;
          if (ex.notes.length > 0) rep.notes = ex.notes;
          rep.documents = ex.documents;
          documentsExtracted += ex.documents;
          // Exact copies (same bytes, hence the same content-addressed entry) must not vote their lines into boilerplate.
          if (!rawSeen.has(st.key)) {
            rawSeen.add(st.key);
            ex.countLines();
          }
        } catch (e) {
          if (!(e instanceof SkipFile)) throw e;
          skip = e.reason;
        }
      }
      if (skip !== undefined) {
        rep.status = "skipped";
        rep.reason = skip;
        rep.cached = false;
      }
      bytesDone += found[i].size;
      run.progress({ phase: "extract", files: i + 1, filesTotal: found.length, bytes: bytesDone, bytesTotal: run.bytesTotal });
    }
  } finally {
    await Promise.allSettled(pending);
  }
  return { files, keys, boiler: lines.boilerplate(run.set.bpDocs, run.set.bpFrac), documentsExtracted };
}

type Stage = { rep: FileReport; key: string; entry: Promise<Extraction> } | { rep: FileReport; skip: string };

/** Starts one file of pass 1: reads and hashes it unless the cache knows it, then extracts it (pool or this thread) unless cached. */
async function startExtraction(
  run: Run,
  f: FoundFile,
  settings: string,
  inflight: Map<string, Promise<Extraction>>,
  fromEntry: (e: CacheEntry) => Extraction,
  fromKeys: (lineKeys: Float64Array[]) => () => void,
): Promise<Stage> {
  const { cache, pool, set } = run;
  const io = run.opts.io ?? defaultIO;
  const maxFile = set.maxFile;
  const rep: FileReport = { source: f.source, format: f.format, bytes: f.size, status: "ok", cached: false, read: false, documents: 0 };
  try {
    if (f.size > maxFile) throw new SkipFile(`too large (${(f.size / 1048576).toFixed(1)} MiB > ${(maxFile / 1048576).toFixed(1)} MiB; raise --max-file-mb)`);
    let hash = cache.hashByStat(f.source, f.size, f.mtimeMs);
    let key = hash ? ExtractCache.key(hash, settings) : undefined;
    let bytes: Uint8Array | undefined;
    if (!key || (!cache.has(key) && !inflight.has(key))) {
      try {
        bytes = await io.readFile(f.path, maxFile + 1);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new SkipFile(`unreadable (${code ?? (e as Error).message})`);
      }
      rep.read = true;
      if (bytes.length > maxFile) throw new SkipFile(`too large (grew beyond ${(maxFile / 1048576).toFixed(1)} MiB while reading)`);
      hash = createHash("sha256").update(bytes).digest("hex");
      key = ExtractCache.key(hash, settings);
    }
    rep.sha256 = hash;
    const known = inflight.get(key);
    if (known || cache.has(key)) {
      rep.cached = true;
      return { rep, key, entry: known ?? Promise.resolve(fromEntry(cache.get(key))) };
    }
    const k = key;
    const entry = pool
      ? pool.extract(bytes!, f.format, set.readerOpts, cache.fileFor(k)).then((r): Extraction => {
          if (!r.ok) throw new SkipFile(r.skip);
          cache.markStored(k);
          return { documents: r.documents, notes: r.notes, countLines: fromKeys(r.lineKeys) };
        })
      : extractFile(bytes!, "", f.format, set.readerOpts).then(
          (e) => {
            cache.put(k, e);
            return fromEntry(e);
          },
          (e: unknown) => {
            throw e instanceof SkipFile ? e : new SkipFile(`extraction failed: ${(e as Error)?.message ?? String(e)}`);
          },
        );
    inflight.set(k, entry);
    entry.then(
      () => inflight.delete(k),
      () => inflight.delete(k),
    );
    return { rep, key, entry };
  } catch (e) {
    if (!(e instanceof SkipFile)) throw e;
    return { rep, skip: e.reason };
  }
}

/** Pass 2's result: documents.jsonl written in the work directory, and what was removed. */
interface Cleaned {
  docsPath: string;
  removals: Removals;
  pii: PiiCounts;
  duplicates: DuplicateReport[];
  kept: { id: string; source: string }[];
  sectionsOut: number;
  textBytes: number;
}

/** Dedupe state carried from document to document through pass 2 (earlier documents win). */
interface Seen {
  docHashes: Map<number, string>;
  sectionHashes: Set<number>;
  near: NearDupIndex<string> | null;
}

/**
 * Pass 2: clean, dedupe, redact, write documents.jsonl. With a worker pool, the per-document
 * work (boilerplate removal, filters, hashes, MinHash: screenDocument) runs on the workers up
 * to `window` files ahead; this thread keeps the order-dependent work (duplicates of earlier
 * documents, section dedupe, writing).
 */
async function cleanPass(run: Run, ex: Extracted): Promise<Cleaned> {
  const { cache, pool, set } = run;
  const { files, keys, boiler } = ex;
  const screenOpts: ScreenOptions = { minSectionChars: set.minSection, minTextRatio: set.minRatio, seed: set.seed, nearDup: set.nearT > 0 };
  const c: Cleaned = {
    docsPath: join(run.tmp, "documents.jsonl"),
    removals: {
      boilerplateLines: 0,
      shortSections: 0,
      lowTextRatioSections: 0,
      duplicateSections: 0,
      shortDocuments: 0,
      exactDuplicateDocuments: 0,
      nearDuplicateDocuments: 0,
    },
    pii: emptyPiiCounts(),
    duplicates: [],
    kept: [],
    sectionsOut: 0,
    textBytes: 0,
  };
  const seen: Seen = { docHashes: new Map(), sectionHashes: new Set(), near: set.nearT > 0 ? new NearDupIndex<string>(set.nearT) : null };
  const w = new LineWriter(c.docsPath);
  let bytesDone = 0;
  pool?.setBoilerplate(boiler);
  const screening = new Map<number, Promise<ScreenResult>>();
  let nextScreen = 0;
  for (let i = 0; i < files.length; i++) {
    for (; pool && nextScreen < files.length && nextScreen <= i + run.window; nextScreen++) {
      const k = keys[nextScreen];
      if (k === null) continue;
      const p = pool.screen(cache.fileFor(k), screenOpts);
      p.catch(() => {}); // awaited below; never an unhandled rejection if this pass stops early
      screening.set(nextScreen, p);
    }
    const key = keys[i];
    bytesDone += files[i].bytes;
    if (key === null) continue;
    const entry = cache.get(key);
    const ahead = screening.get(i);
    screening.delete(i);
    const pre = ahead ? await ahead : undefined;
    if (pre) c.removals.boilerplateLines += pre.boilerplateLines;
    for (let di = 0; di < entry.docs.length; di++) {
      const d = entry.docs[di];
      // The cache is content-addressed (identical files share an entry): provenance comes from this file.
      d.source = files[i].source + d.source;
      let sc: Screened;
      let textOf: (k: number) => string;
      if (pre) {
        // The worker screened this document; redo only the (cheap) line removal for the sections kept.
        sc = pre.screens[di];
        textOf = (k) => removeLines(d.sections[k].text, boiler, d.sections[k].heading).text;
      } else {
        const r = screenDocument(d.sections, boiler, screenOpts);
        c.removals.boilerplateLines += r.boilerplateLines;
        sc = r.screened;
        textOf = (k) => r.texts[k];
      }
      writeDocument(run, c, seen, w, d, sc, textOf);
    }
    run.progress({ phase: "clean", files: i + 1, filesTotal: files.length, bytes: bytesDone, bytesTotal: run.bytesTotal });
  }
  w.close();
  return c;
}

/** One screened document of pass 2: dropped as short or a duplicate, or its new sections redacted and written as rows. */
function writeDocument(run: Run, c: Cleaned, seen: Seen, w: LineWriter, d: ExtractedDoc, sc: Screened, textOf: (k: number) => string): void {
  const { removals } = c;
  removals.shortSections += sc.short;
  removals.lowTextRatioSections += sc.lowRatio;
  const secs = Array.from(sc.keep, (k) => ({ heading: d.sections[k].heading, text: textOf(k) }));
  const secHashes = Array.from(sc.hashes);
  if (sc.fullLength < run.set.minDoc || secs.length === 0) {
    removals.shortDocuments++;
    return;
  }
  const h = hashOfHashes(secHashes);
  const prev = seen.docHashes.get(h);
  if (prev !== undefined) {
    removals.exactDuplicateDocuments++;
    c.duplicates.push({ source: d.source, kind: "exact", duplicateOf: prev });
    return;
  }
  seen.docHashes.set(h, d.source);
  if (seen.near && sc.sig) {
    const hit = seen.near.query(sc.sig);
    if (hit) {
      removals.nearDuplicateDocuments++;
      c.duplicates.push({ source: d.source, kind: "near", duplicateOf: hit.of, jaccard: hit.jaccard });
      return;
    }
    seen.near.add(d.source, sc.sig);
  }
  const redact = run.set.redact;
  const id = docId(d.source);
  let offset = 0;
  let n = 0;
  for (let j = 0; j < secs.length; j++) {
    const s = secs[j];
    const sh = secHashes[j];
    if (seen.sectionHashes.has(sh)) {
      removals.duplicateSections++;
      continue;
    }
    seen.sectionHashes.add(sh);
    const text = redact.size > 0 ? redactPii(s.text, redact, c.pii) : s.text;
    const len = text === s.text ? sc.cpLengths[j] : cpLength(text);
    if (n > 0) offset += 2; // the blank line joining sections
    const row: SectionRow = {
      id: `${id}#${n}`,
      doc: id,
      source: d.source,
      heading: s.heading,
      headingPath: s.heading.join(HEADING_SEP),
      start: offset,
      end: offset + len,
      text,
    };
    if (d.title) row.title = d.title;
    w.write(`${JSON.stringify(row)}\n`);
    offset += len;
    c.textBytes += Buffer.byteLength(text);
    n++;
  }
  if (n > 0) {
    c.sectionsOut += n;
    c.kept.push({ id, source: d.source });
  }
}

/** Pass 3 (with a tokenizer, given or trained on the training documents): token shards and the tokenizer beside them. */
async function tokenizePass(
  run: Run,
  c: Cleaned,
  val: Set<string>,
): Promise<{ tokens: Manifest["tokens"]; shards: Manifest["shards"]; tokenizer: Manifest["tokenizer"] }> {
  const { opts, tmp } = run;
  let tokenizer = opts.tokenizer;
  let trained = false;
  if (!tokenizer && opts.trainTokenizer) {
    tokenizer = await opts.trainTokenizer(
      (async function* () {
        for await (const d of documentsOf(c.docsPath)) if (!val.has(d.doc)) yield d.text;
      })(),
      opts.vocabSize!,
    );
    trained = true;
  }
  const shards: Manifest["shards"] = [];
  if (!tokenizer) return { tokens: null, shards, tokenizer: null };
  const vocab = tokenizer.vocabSize;
  const sepKind = tokenizer.eosId !== undefined ? "eos" : tokenizer.bosId !== undefined ? "bos" : "none";
  const sepId = sepKind === "eos" ? tokenizer.eosId! : sepKind === "bos" ? tokenizer.bosId! : null;
  const writers = {
    train: new ShardWriter({ dir: tmp, split: "train", vocabSize: vocab, maxTokensPerShard: opts.maxTokensPerShard }),
    val: new ShardWriter({ dir: tmp, split: "val", vocabSize: vocab, maxTokensPerShard: opts.maxTokensPerShard }),
  };
  let done = 0;
  for await (const d of documentsOf(c.docsPath)) {
    const wr = val.has(d.doc) ? writers.val : writers.train;
    if (sepKind === "bos") wr.write([sepId!]);
    wr.write(tokenizer.encode(d.text));
    if (sepKind === "eos") wr.write([sepId!]);
    done++;
    run.progress({ phase: "tokenize", files: done, filesTotal: c.kept.length, bytes: 0, bytesTotal: 0 });
  }
  for (const split of ["train", "val"] as const) for (const s of writers[split].close()) shards.push({ ...s, split });
  mkdirSync(join(tmp, "tokenizer"), { recursive: true });
  await tokenizer.save(join(tmp, "tokenizer"));
  return {
    tokens: { train: writers.train.total, val: writers.val.total },
    shards,
    tokenizer: { vocabSize: vocab, dtype: writers.train.dtype === 1 ? "uint16" : "uint32", separator: sepKind, separatorId: sepId, dir: "tokenizer", trained },
  };
}
