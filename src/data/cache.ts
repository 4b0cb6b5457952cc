// The incremental-ingest cache: extracted documents stored by content hash, and
// an index from source path to (size, mtime, content hash) so an unchanged file
// is neither parsed nor even read again. Entries not used by the latest run are
// pruned at its end, so the cache tracks the corpus instead of growing forever.
// Layout: <dir>/index.json, <dir>/x/<key>.json. Written with temp + rename.
// Knows nothing about cleaning, dedupe or tokenizers.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

import { writeFileAtomicSync } from "../util/atomic.ts";
import type { ExtractedDoc } from "./text.ts";

export interface CacheEntry {
  docs: ExtractedDoc[];
  notes: string[];
}

interface IndexRow {
  size: number;
  mtimeMs: number;
  /** sha256 of the file's bytes. */
  hash: string;
}

const INDEX_VERSION = 1;

export class ExtractCache {
  readonly dir: string;
  private index = new Map<string, IndexRow>();
  private used = new Set<string>();
  private nextIndex = new Map<string, IndexRow>();
  private existing: Set<string>;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(join(dir, "x"), { recursive: true });
    try {
      const raw = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { version: number; files: Record<string, IndexRow> };
      if (raw.version === INDEX_VERSION) for (const [k, v] of Object.entries(raw.files)) this.index.set(k, v);
    } catch {
      // No index or an unreadable one: start empty (the content cache still works).
    }
    this.existing = new Set(
      readdirSync(join(dir, "x"))
        .filter((n) => n.endsWith(".json"))
        .map((n) => n.slice(0, -5)),
    );
  }

  /** The key of a file's extraction: its content hash plus everything that changes extraction. */
  static key(contentHash: string, settings: string): string {
    return createHash("sha256").update(contentHash).update("\0").update(settings).digest("hex").slice(0, 40);
  }

  /** The content hash of a file whose size and mtime are unchanged since the last run (no read needed). */
  hashByStat(path: string, size: number, mtimeMs: number): string | undefined {
    const row = this.index.get(path);
    return row && row.size === size && row.mtimeMs === mtimeMs ? row.hash : undefined;
  }

  has(key: string): boolean {
    return this.existing.has(key);
  }

  get(key: string): CacheEntry {
    return JSON.parse(readFileSync(join(this.dir, "x", `${key}.json`), "utf8")) as CacheEntry;
  }

  /** The file an entry is stored in (for writers in other threads; then call markStored). */
  fileFor(key: string): string {
    return join(this.dir, "x", `${key}.json`);
  }

  /** Records that another thread wrote fileFor(key). */
  markStored(key: string): void {
    this.existing.add(key);
  }

  put(key: string, entry: CacheEntry): void {
    writeFileAtomicSync(join(this.dir, "x", `${key}.json`), JSON.stringify(entry));
    this.existing.add(key);
  }

  /** Records that this run used key for path (kept by prune, and indexed by stat). */
  use(path: string, size: number, mtimeMs: number, hash: string, key: string): void {
    this.used.add(key);
    this.nextIndex.set(path, { size, mtimeMs, hash });
  }

  /** Writes the index of this run and deletes entries it did not use. */
  finish(): number {
    let pruned = 0;
    for (const k of this.existing) {
      if (!this.used.has(k)) {
        rmSync(join(this.dir, "x", `${k}.json`), { force: true });
        pruned++;
      }
    }
    const files: Record<string, IndexRow> = {};
    for (const [k, v] of this.nextIndex) files[k] = v;
    writeFileAtomicSync(join(this.dir, "index.json"), JSON.stringify({ version: INDEX_VERSION, files }));
    return pruned;
  }
}
