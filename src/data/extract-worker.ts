// The ingestion worker thread. Two kinds of job:
// - extract: receives a file's bytes, runs the same extractFile as the main
//   thread, writes the cache entry (temp + rename) and posts back what pass 1
//   needs: document count, notes and each document's line keys for
//   boilerplate counting (the text itself stays in the cache file).
// - screen (pass 2): reads a cache entry, removes the boilerplate lines (the
//   set is sent once, after pass 1) and screens each document (screen.ts:
//   filters, section hashes, MinHash); the main thread keeps only the
//   order-dependent work (dedupe against earlier documents, writing).
// Loaded by extract-worker-entry.mjs (which registers tsx so this TypeScript
// module can load in a worker). Knows nothing about dedupe or the manifest.
import { readFileSync } from "node:fs";
import { parentPort } from "node:worker_threads";

import { writeFileAtomicSync } from "../util/atomic.ts";
import type { CacheEntry } from "./cache.ts";
import { LineSet, documentLineKeys, removeLines } from "./clean.ts";
import { SkipFile, extractFile, type Format, type ReaderOptions } from "./readers.ts";
import { screenSections, type ScreenOptions, type Screened } from "./screen.ts";

export interface ExtractJob {
  kind: "extract";
  id: number;
  bytes: Uint8Array;
  format: Format;
  opts: ReaderOptions;
  /** Where to store the cache entry (JSON), or null. */
  cacheFile: string | null;
}

export interface ScreenJob {
  kind: "screen";
  id: number;
  /** A cache entry written by pass 1. */
  cacheFile: string;
  opts: ScreenOptions;
}

/** The boilerplate lines for screen jobs (LineSet's keys and lengths). */
export interface BoilerplateMessage {
  kind: "boilerplate";
  hashes: Float64Array;
  lengths: Float64Array;
}

export type WorkerMessage = ExtractJob | ScreenJob | BoilerplateMessage;

export type ExtractReply =
  /** The entry itself stays in the cache file: only what pass 1 needs comes back (no text). */
  { id: number; ok: true; documents: number; notes: string[]; lineKeys: Float64Array[] } | { id: number; ok: false; skip: string };

export type ScreenReply = { id: number; ok: true; screens: Screened[]; boilerplateLines: number } | { id: number; ok: false; error: string };

/** Removes boilerplate lines from each section, then screens the document: the same steps pass 2 takes on the main thread. */
export function screenDocument(
  sections: readonly { heading: string[]; text: string }[],
  boiler: LineSet,
  opts: ScreenOptions,
): { texts: string[]; screened: Screened; boilerplateLines: number } {
  let removed = 0;
  const texts = sections.map((s) => {
    const r = removeLines(s.text, boiler, s.heading);
    removed += r.removed;
    return r.text;
  });
  return { texts, screened: screenSections(texts, opts), boilerplateLines: removed };
}

let boiler = new LineSet(new Set(), new Set());

async function handle(job: ExtractJob | ScreenJob): Promise<ExtractReply | ScreenReply> {
  if (job.kind === "screen") {
    try {
      const entry = JSON.parse(readFileSync(job.cacheFile, "utf8")) as CacheEntry;
      let lines = 0;
      const screens = entry.docs.map((d) => {
        const r = screenDocument(d.sections, boiler, job.opts);
        lines += r.boilerplateLines;
        return r.screened;
      });
      return { id: job.id, ok: true, screens, boilerplateLines: lines };
    } catch (e) {
      return { id: job.id, ok: false, error: (e as Error)?.message ?? String(e) };
    }
  }
  try {
    const entry = await extractFile(job.bytes, "", job.format, job.opts);
    if (job.cacheFile) writeFileAtomicSync(job.cacheFile, JSON.stringify(entry));
    return {
      id: job.id,
      ok: true,
      documents: entry.docs.length,
      notes: entry.notes,
      lineKeys: entry.docs.map((d) => documentLineKeys(d.sections.map((s) => s.text))),
    };
  } catch (e) {
    return { id: job.id, ok: false, skip: e instanceof SkipFile ? e.reason : `extraction failed: ${(e as Error)?.message ?? String(e)}` };
  }
}

parentPort?.on("message", async (m: WorkerMessage) => {
  if (m.kind === "boilerplate") {
    boiler = new LineSet(new Set(m.hashes), new Set(m.lengths));
    return;
  }
  parentPort!.postMessage(await handle(m));
});
