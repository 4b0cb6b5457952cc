// A small pool of ingestion worker threads (extract-worker.ts), so files are
// parsed (pass 1) and screened (pass 2) on all cores while the main thread
// does the order-dependent work in file order. Jobs go to the least busy
// worker; results come back as promises. Knows nothing about the pipeline
// around it.
import { Worker } from "node:worker_threads";

import type { LineSet } from "./clean.ts";
import type { BoilerplateMessage, ExtractJob, ExtractReply, ScreenJob, ScreenReply } from "./extract-worker.ts";
import type { Format, ReaderOptions } from "./readers.ts";
import type { ScreenOptions, Screened } from "./screen.ts";

export type ExtractResult = { ok: true; documents: number; notes: string[]; lineKeys: Float64Array[] } | { ok: false; skip: string };
export type ScreenResult = { screens: Screened[]; boilerplateLines: number };

type Reply = ExtractReply | ScreenReply;

export class ExtractPool {
  private readonly workers: { w: Worker; busy: number }[] = [];
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: unknown) => void; slot: number }>();
  private nextId = 0;
  private failed: unknown;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./extract-worker-entry.mjs", import.meta.url));
      const slot = i;
      w.on("message", (r: Reply) => {
        const p = this.waiting.get(r.id);
        if (!p) return;
        this.waiting.delete(r.id);
        this.workers[slot]!.busy--;
        p.resolve(r);
      });
      w.on("error", (e) => {
        this.failed = e;
        for (const [id, p] of this.waiting)
          if (p.slot === slot) {
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

  private post(job: ExtractJob | ScreenJob, transfer: ArrayBuffer[]): Promise<Reply> {
    if (this.failed) return Promise.reject(this.failed);
    let slot = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.workers[i]!.busy < this.workers[slot]!.busy) slot = i;
    return new Promise((resolve, reject) => {
      this.waiting.set(job.id, { resolve, reject, slot });
      this.workers[slot]!.busy++;
      this.workers[slot]!.w.postMessage(job, transfer);
    });
  }

  /** Extracts bytes into cacheFile (bytes are transferred: the caller must not use them afterwards). */
  async extract(bytes: Uint8Array, format: Format, opts: ReaderOptions, cacheFile: string): Promise<ExtractResult> {
    const transfer = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? [bytes.buffer as ArrayBuffer] : [];
    const r = (await this.post({ kind: "extract", id: this.nextId++, bytes, format, opts, cacheFile }, transfer)) as ExtractReply;
    return r.ok ? { ok: true, documents: r.documents, notes: r.notes, lineKeys: r.lineKeys } : { ok: false, skip: r.skip };
  }

  /** Sends the boilerplate set every later screen job uses. */
  setBoilerplate(boiler: LineSet): void {
    const m: BoilerplateMessage = { kind: "boilerplate", hashes: Float64Array.from(boiler.hashes), lengths: Float64Array.from(boiler.lengths) };
    for (const x of this.workers) x.w.postMessage(m);
  }

  /** Removes boilerplate from, and screens, each document of a cache entry. */
  async screen(cacheFile: string, opts: ScreenOptions): Promise<ScreenResult> {
    const r = (await this.post({ kind: "screen", id: this.nextId++, cacheFile, opts }, [])) as ScreenReply;
    if (!r.ok) throw new Error(`screening ${cacheFile} failed: ${r.error}`);
    return { screens: r.screens, boilerplateLines: r.boilerplateLines };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((x) => x.w.terminate()));
  }
}
