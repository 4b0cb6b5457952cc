// Extraction in a worker thread: receives a file's bytes, runs the same
// extractFile as the main thread, writes the cache entry (temp + rename) and
// posts back what pass 1 needs: document count, notes and each document's
// line keys for boilerplate counting, plus each document's screening
// (screen.ts: filters, hashes, MinHash) done ahead for pass 2 (the text
// itself is read back from the cache in pass 2, so it never crosses threads). Loaded by extract-worker-entry.mjs (which registers
// tsx so this TypeScript module can load in a worker). Knows nothing about
// dedupe or the manifest.
import { renameSync, writeFileSync } from "node:fs";
import { parentPort } from "node:worker_threads";

import { documentLineKeys } from "./clean.ts";
import { SkipFile, extractFile, type Format, type ReaderOptions } from "./readers.ts";
import { screenSections, type ScreenOptions, type Screened } from "./screen.ts";

export interface ExtractJob {
  id: number;
  bytes: Uint8Array;
  format: Format;
  opts: ReaderOptions;
  /** Where to store the cache entry (JSON), or null. */
  cacheFile: string | null;
  /** Screen each document ahead of pass 2 with these options (omitted: no screening). */
  screen?: ScreenOptions;
}

export type ExtractReply =
  /** The entry itself stays in the cache file: only what pass 1 needs comes back (no text). */
  | { id: number; ok: true; documents: number; notes: string[]; lineKeys: Float64Array[]; screens?: Screened[] }
  | { id: number; ok: false; skip: string };

parentPort?.on("message", async (job: ExtractJob) => {
  let reply: ExtractReply;
  try {
    const entry = await extractFile(job.bytes, "", job.format, job.opts);
    if (job.cacheFile) {
      const tmp = `${job.cacheFile}.${process.pid}.${job.id}.tmp`;
      writeFileSync(tmp, JSON.stringify(entry));
      renameSync(tmp, job.cacheFile);
    }
    const texts = entry.docs.map((d) => d.sections.map((s) => s.text));
    reply = { id: job.id, ok: true, documents: entry.docs.length, notes: entry.notes, lineKeys: texts.map((t) => documentLineKeys(t)) };
    if (job.screen) reply.screens = texts.map((t) => screenSections(t, job.screen!));
  } catch (e) {
    reply = { id: job.id, ok: false, skip: e instanceof SkipFile ? e.reason : `extraction failed: ${(e as Error)?.message ?? String(e)}` };
  }
  parentPort!.postMessage(reply);
});
