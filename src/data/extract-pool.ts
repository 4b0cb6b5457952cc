// A small pool of extraction worker threads, so files are parsed (and their
// cache entries written) on all cores while the main thread reads, hashes
// and counts lines in file order. Jobs go to the least busy worker; results
// come back as promises. Knows nothing about the pipeline around it.
import { Worker } from "node:worker_threads";

import type { ExtractJob, ExtractReply } from "./extract-worker.ts";
import type { Format, ReaderOptions } from "./readers.ts";
import type { ScreenOptions, Screened } from "./screen.ts";

export type ExtractResult = { ok: true; documents: number; notes: string[]; lineKeys: Float64Array[]; screens?: Screened[] } | { ok: false; skip: string };

export class ExtractPool {
  private readonly workers: { w: Worker; busy: number }[] = [];
  private readonly waiting = new Map<number, { resolve: (r: ExtractResult) => void; reject: (e: unknown) => void; slot: number }>();
  private nextId = 0;
  private failed: unknown;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./extract-worker-entry.mjs", import.meta.url));
      const slot = i;
      w.on("message", (r: ExtractReply) => {
        const p = this.waiting.get(r.id);
        if (!p) return;
        this.waiting.delete(r.id);
        this.workers[slot]!.busy--;
        p.resolve(r.ok ? { ok: true, documents: r.documents, notes: r.notes, lineKeys: r.lineKeys, screens: r.screens } : { ok: false, skip: r.skip });
      });
      w.on("error", (e) => {
        this.failed = e;
        for (const [id, p] of this.waiting) if (p.slot === slot) {
          this.waiting.delete(id);
          p.reject(e);
        }
      });
      this.workers.push({ w, busy: 0 });
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Extracts bytes into cacheFile (bytes are transferred: the caller must not use them afterwards). */
  extract(bytes: Uint8Array, format: Format, opts: ReaderOptions, cacheFile: string, screen?: ScreenOptions): Promise<ExtractResult> {
    if (this.failed) return Promise.reject(this.failed);
    let slot = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.workers[i]!.busy < this.workers[slot]!.busy) slot = i;
    const id = this.nextId++;
    const job: ExtractJob = { id, bytes, format, opts, cacheFile, screen };
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, slot });
      this.workers[slot]!.busy++;
      const transfer = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? [bytes.buffer as ArrayBuffer] : [];
      this.workers[slot]!.w.postMessage(job, transfer);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((x) => x.w.terminate()));
  }
}
