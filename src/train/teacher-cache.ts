// The teacher-logit cache: the teacher scores every training position once
// (inference tape, no gradients) and its top-k ids + logits are stored on disk,
// so distillation pays the teacher's forward pass once, not every epoch or run.
//
// File layout (little-endian):
//   0   4   magic "SLTK"
//   4   4   version (u32) = 1
//   8   4   header length H (u32), then H bytes of JSON (CacheHeader), zero-padded to 8
//   then `batches` records, one per sampler batch in draw order, each
//     u32 checksum of the batch's input ids (FNV-1a; the student checks it: same positions)
//     u32 reserved (0)
//     lse    (B·T)     f32: log Σ_V e^(z/T), the teacher's whole-vocabulary log-sum-exp at T
//     ids    (B·T, K)  u16 or u32, padded to 4 bytes
//     logits (B·T, K)  f16 or f32, padded to 4 bytes
// The cache is tied to the dataset (fingerprint + train token count), the sampler
// (batch, seqLen, seed: WindowSampler's order) and the teacher (a hash of its weights). It is written to
// `<path>.partial` and renamed when complete; an interrupted build resumes from the
// last whole record of a `.partial` with the same header.
// Knows nothing about the loss (distill-loss.ts) or the CLI.
import { createHash } from "node:crypto";
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";

import { ConfigError, FormatError } from "../errors.ts";
import type { ShardSet } from "../data/shards.ts";
import { f16BitsToF32, f32ToF16Bits } from "../formats/half.ts";
import { softmaxLsePair } from "../native/ops/loss.ts";
import type { CausalLM } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { WindowSampler } from "./batches.ts";
import type { TeacherTopK } from "./distill-loss.ts";

export const CACHE_MAGIC = "SLTK";
export const CACHE_VERSION = 1;

export type LogitType = "f16" | "f32";

/** What the cache covers: the sampler's batches and the stored precision. */
export interface CacheSpec {
  /** Sequences per batch and tokens per sequence (the student's micro-batch). */
  batch: number;
  seqLen: number;
  /** WindowSampler seed (the student's data order). */
  seed: number;
  /** Batches to score (optimizer steps × gradient accumulation). */
  batches: number;
  /** Teacher logits kept per position. */
  k: number;
  /** Stored precision of the logits (default f16: half the bytes, ~3 significant digits). */
  logitType: LogitType;
  /** Temperature of the stored log-sum-exp (the distillation temperature). */
  temperature: number;
}

export interface CacheHeader extends CacheSpec {
  idType: "u16" | "u32";
  vocabSize: number;
  sampler: "window-v1";
  dataset: { fingerprint: string; trainTokens: number };
  /** fingerprint: sha256 of the teacher's weights, so a retrained teacher at the same path rebuilds. */
  teacher: { name: string; params: number; vocabSize: number; fingerprint: string };
}

export interface CacheProgress {
  done: number;
  total: number;
  tokensPerSec: number;
  elapsedMs: number;
}

export interface BuildCacheOptions {
  path: string;
  teacher: CausalLM;
  /** A label for the teacher (its directory), stored in the header. */
  teacherName: string;
  train: ShardSet;
  /** A fingerprint of the dataset (see datasetFingerprint). */
  datasetFingerprint: string;
  spec: CacheSpec;
  onProgress?: (p: CacheProgress) => void;
  signal?: AbortSignal;
  now?: () => number;
}

export interface BuildCacheResult {
  path: string;
  header: CacheHeader;
  /** Batches found already scored (a complete cache, or a resumed .partial). */
  reused: number;
  /** Batches scored now, their tokens per second, and wall time. */
  scored: number;
  tokensPerSec: number;
  elapsedMs: number;
}

/** FNV-1a over the ids of one batch: the student checks it reads the positions the teacher scored. */
export function batchChecksum(ids: Int32Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < ids.length; i++) {
    const x = ids[i]!;
    h = Math.imul(h ^ (x & 0xff), 0x01000193);
    h = Math.imul(h ^ ((x >>> 8) & 0xff), 0x01000193);
    h = Math.imul(h ^ ((x >>> 16) & 0xffff), 0x01000193);
  }
  return h >>> 0;
}

/** sha256 of the dataset's manifest.json (it records the documents, tokenizer and counts). */
export function datasetFingerprint(datasetDir: string): string {
  const m = join(datasetDir, "manifest.json");
  if (!existsSync(m)) throw new ConfigError(`${datasetDir} has no manifest.json: not a dataset`);
  return createHash("sha256").update(readFileSync(m)).digest("hex");
}

const pad4 = (n: number) => (n + 3) & ~3;

function recordLayout(h: Pick<CacheHeader, "batch" | "seqLen" | "k" | "idType" | "logitType">) {
  const rows = h.batch * h.seqLen,
    cells = rows * h.k;
  const idBytes = pad4(cells * (h.idType === "u16" ? 2 : 4));
  const logitBytes = pad4(cells * (h.logitType === "f16" ? 2 : 4));
  return { rows, cells, idBytes, logitBytes, bytes: 8 + 4 * rows + idBytes + logitBytes };
}

function encodeHeader(h: CacheHeader): Buffer {
  const json = Buffer.from(JSON.stringify(h), "utf8");
  const total = (12 + json.length + 7) & ~7;
  const b = Buffer.alloc(total);
  b.write(CACHE_MAGIC, 0, "ascii");
  b.writeUInt32LE(CACHE_VERSION, 4);
  b.writeUInt32LE(json.length, 8);
  json.copy(b, 12);
  return b;
}

function readHeader(fd: number, path: string): { header: CacheHeader; bodyStart: number } {
  const size = fstatSync(fd).size;
  const pre = Buffer.alloc(12);
  if (size < 12 || readSync(fd, pre, 0, 12, 0) !== 12) throw new FormatError(`${path}: too short for a teacher cache (${size} bytes)`);
  if (pre.toString("ascii", 0, 4) !== CACHE_MAGIC)
    throw new FormatError(`${path}: not a teacher cache (magic "${pre.toString("latin1", 0, 4)}", expected "${CACHE_MAGIC}")`);
  const version = pre.readUInt32LE(4);
  if (version !== CACHE_VERSION)
    throw new FormatError(`${path}: teacher cache version ${version}, this build reads version ${CACHE_VERSION}`, {
      hint: "delete the cache; it will be rebuilt",
    });
  const len = pre.readUInt32LE(8);
  if (12 + len > size) throw new FormatError(`${path}: header of ${len} bytes runs past the end of the file (${size} bytes)`);
  const jb = Buffer.alloc(len);
  readSync(fd, jb, 0, len, 12);
  let header: CacheHeader;
  try {
    header = JSON.parse(jb.toString("utf8")) as CacheHeader;
  } catch (e) {
    throw new FormatError(`${path}: header is not valid JSON (${(e as Error).message})`);
  }
  if (!(header.temperature > 0)) throw new FormatError(`${path}: header field temperature must be > 0, got ${header.temperature}`);
  for (const key of ["batch", "seqLen", "k", "batches", "vocabSize"] as const) {
    if (!Number.isInteger(header[key]) || header[key] < 1) throw new FormatError(`${path}: header field ${key} must be a positive integer, got ${header[key]}`);
  }
  if (header.idType !== "u16" && header.idType !== "u32") throw new FormatError(`${path}: unknown id type ${header.idType}`);
  if (header.logitType !== "f16" && header.logitType !== "f32") throw new FormatError(`${path}: unknown logit type ${header.logitType}`);
  return { header, bodyStart: (12 + len + 7) & ~7 };
}

/** The top-k (ids, values) of each row of x (rows, v), sorted by value, descending. */
export function topK(x: Float32Array, rows: number, v: number, k: number, outIds: Int32Array, outVals: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    const o = r * v,
      q = r * k;
    let filled = 0;
    for (let c = 0; c < v; c++) {
      const val = x[o + c]!;
      if (filled === k && !(val > outVals[q + k - 1]!)) continue;
      // insertion into the sorted prefix
      let j = filled < k ? filled++ : k - 1;
      while (j > 0 && outVals[q + j - 1]! < val) {
        outVals[q + j] = outVals[q + j - 1]!;
        outIds[q + j] = outIds[q + j - 1]!;
        j--;
      }
      outVals[q + j] = val;
      outIds[q + j] = c;
    }
  }
}

function expectedHeader(o: BuildCacheOptions): CacheHeader {
  const v = o.teacher.config.vocabSize;
  const s = o.spec;
  for (const key of ["batch", "seqLen", "batches", "k"] as const) {
    if (!Number.isInteger(s[key]) || s[key] < 1) throw new ConfigError(`teacher cache: ${key} must be a positive integer, got ${s[key]}`);
  }
  if (s.k > v) throw new ConfigError(`teacher cache: top-k ${s.k} is larger than the vocabulary (${v})`);
  if (s.logitType !== "f16" && s.logitType !== "f32") throw new ConfigError(`teacher cache: logit type must be f16 or f32, got ${s.logitType}`);
  if (!(s.temperature > 0 && Number.isFinite(s.temperature))) throw new ConfigError(`teacher cache: temperature must be > 0, got ${s.temperature}`);
  const params = o.teacher.namedParameters().reduce((a, [, p]) => a + p.size, 0);
  const hash = createHash("sha256");
  for (const [name, p] of o.teacher.namedParameters()) hash.update(name).update(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength));
  return {
    batch: s.batch,
    seqLen: s.seqLen,
    seed: s.seed,
    batches: s.batches,
    k: s.k,
    logitType: s.logitType,
    temperature: s.temperature,
    idType: v <= 65536 ? "u16" : "u32",
    vocabSize: v,
    sampler: "window-v1",
    dataset: { fingerprint: o.datasetFingerprint, trainTokens: o.train.count },
    teacher: { name: o.teacherName, params, vocabSize: v, fingerprint: hash.digest("hex") },
  };
}

/**
 * Scores the sampler's batches with the teacher and writes the cache at o.path, unless a
 * complete cache with the same header is already there. Resumes a `.partial` file.
 */
export async function buildTeacherCache(o: BuildCacheOptions): Promise<BuildCacheResult> {
  const header = expectedHeader(o);
  const now = o.now ?? (() => performance.now());
  const headerBytes = encodeHeader(header);
  const lay = recordLayout(header);
  const same = (h: CacheHeader) => JSON.stringify(h) === JSON.stringify(header);

  if (existsSync(o.path)) {
    const fd = openSync(o.path, "r");
    try {
      const { header: h } = readHeader(fd, o.path);
      if (same(h)) return { path: o.path, header, reused: header.batches, scored: 0, tokensPerSec: 0, elapsedMs: 0 };
    } catch {
      // unreadable or another version: rebuilt below
    } finally {
      closeSync(fd);
    }
    rmSync(o.path);
  }

  const partial = `${o.path}.partial`;
  let done = 0;
  let fd: number;
  if (existsSync(partial)) {
    fd = openSync(partial, "r+");
    let ok = false;
    try {
      const { header: h, bodyStart } = readHeader(fd, partial);
      if (same(h) && bodyStart === headerBytes.length) {
        done = Math.min(header.batches, Math.floor((fstatSync(fd).size - bodyStart) / lay.bytes));
        ftruncateSync(fd, bodyStart + done * lay.bytes);
        ok = true;
      }
    } catch {
      ok = false;
    }
    if (!ok) {
      closeSync(fd);
      rmSync(partial);
    }
  }
  if (!existsSync(partial)) {
    fd = openSync(partial, "w+");
    writeSync(fd, headerBytes, 0, headerBytes.length, 0);
    done = 0;
  }
  fd = fd!;

  const reused = done;
  const sampler = new WindowSampler(o.train, header.batch, header.seqLen, header.seed);
  const tape = new Tape({ grad: false });
  const ids = new Int32Array(lay.cells),
    vals = new Float32Array(lay.cells);
  const lse1 = new Float32Array(lay.rows),
    lseT = new Float32Array(lay.rows);
  const rec = Buffer.alloc(lay.bytes);
  const t0 = now();
  let scored = 0;
  try {
    for (let b = 0; b < header.batches; b++) {
      const batch = sampler.next();
      if (b < done) continue; // already scored (replayed so the sampler's order stays exact)
      if (o.signal?.aborted)
        throw new ConfigError(`teacher cache: stopped after ${b} of ${header.batches} batches`, { hint: "run again to resume from the .partial file" });
      tape.reset();
      const logits = o.teacher.forward(tape, batch.inputs, batch.batch, batch.seqLen); // (B·T, V)
      topK(logits.data, lay.rows, header.vocabSize, header.k, ids, vals);
      softmaxLsePair(lse1, lseT, logits.data, lay.rows, header.vocabSize, 1 / header.temperature);
      rec.fill(0);
      rec.writeUInt32LE(batchChecksum(batch.inputs), 0);
      let off = 8;
      for (let i = 0; i < lay.rows; i++) rec.writeFloatLE(lseT[i]!, off + 4 * i);
      off += 4 * lay.rows;
      if (header.idType === "u16") for (let i = 0; i < lay.cells; i++) rec.writeUInt16LE(ids[i]!, off + 2 * i);
      else for (let i = 0; i < lay.cells; i++) rec.writeUInt32LE(ids[i]!, off + 4 * i);
      off += lay.idBytes;
      if (header.logitType === "f16") for (let i = 0; i < lay.cells; i++) rec.writeUInt16LE(f32ToF16Bits(vals[i]!), off + 2 * i);
      else for (let i = 0; i < lay.cells; i++) rec.writeFloatLE(vals[i]!, off + 4 * i);
      writeSync(fd, rec, 0, lay.bytes, headerBytes.length + b * lay.bytes);
      scored++;
      const el = now() - t0;
      o.onProgress?.({ done: b + 1, total: header.batches, tokensPerSec: el > 0 ? (scored * lay.rows) / (el / 1000) : 0, elapsedMs: el });
      await new Promise((r) => setImmediate(r));
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(partial, o.path);
  const elapsedMs = now() - t0;
  return { path: o.path, header, reused, scored, tokensPerSec: elapsedMs > 0 ? (scored * lay.rows) / (elapsedMs / 1000) : 0, elapsedMs };
}

/** A complete cache opened for reading, one batch at a time. */
export class TeacherCache {
  readonly header: CacheHeader;
  private readonly fd: number;
  private readonly bodyStart: number;
  private readonly lay: ReturnType<typeof recordLayout>;
  private readonly buf: Buffer;
  /** The batch's teacher top-k: ids (B·T, K), logits (B·T, K). Reused by every read. */
  readonly current: TeacherTopK;

  private constructor(
    readonly path: string,
    fd: number,
    header: CacheHeader,
    bodyStart: number,
  ) {
    this.fd = fd;
    this.header = header;
    this.bodyStart = bodyStart;
    this.lay = recordLayout(header);
    this.buf = Buffer.alloc(this.lay.bytes);
    this.current = { ids: new Int32Array(this.lay.cells), logits: new Float32Array(this.lay.cells), lse: new Float32Array(this.lay.rows), k: header.k };
  }

  static open(path: string): TeacherCache {
    if (!existsSync(path)) {
      if (existsSync(`${path}.partial`))
        throw new ConfigError(`teacher cache ${path}: its build was interrupted (${path}.partial)`, { hint: "run the same command again to resume it" });
      throw new ConfigError(`teacher cache not found: ${path}`);
    }
    const fd = openSync(path, "r");
    try {
      const { header, bodyStart } = readHeader(fd, path);
      const want = bodyStart + header.batches * recordLayout(header).bytes;
      const size = statSync(path).size;
      if (size !== want) throw new FormatError(`${path}: ${size} bytes, a cache of ${header.batches} batches has ${want}`);
      return new TeacherCache(path, fd, header, bodyStart);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /**
   * Reads batch `index` (draw order) into `current`, checking that `inputs` (B·T) are the ids
   * the teacher scored there.
   */
  read(index: number, inputs: Int32Array): TeacherTopK {
    const h = this.header;
    if (!Number.isInteger(index) || index < 0 || index >= h.batches) {
      throw new ConfigError(`teacher cache ${this.path} holds ${h.batches} batches, batch ${index + 1} was asked for`, {
        hint: "rebuild the cache for the number of steps you train (steps × grad-accum)",
      });
    }
    const lay = this.lay;
    const got = readSync(this.fd, this.buf, 0, lay.bytes, this.bodyStart + index * lay.bytes);
    if (got !== lay.bytes) throw new FormatError(`${this.path}: short read at batch ${index}`);
    const sum = this.buf.readUInt32LE(0);
    if (sum !== batchChecksum(inputs)) {
      throw new ConfigError(`teacher cache ${this.path}: batch ${index} was scored on other token positions than the student is reading`, {
        hint: "the dataset, batch, context or seed changed since the cache was built: delete it to rebuild",
      });
    }
    const { ids, logits, lse } = this.current;
    let off = 8;
    for (let i = 0; i < lay.rows; i++) lse[i] = this.buf.readFloatLE(off + 4 * i);
    off += 4 * lay.rows;
    if (h.idType === "u16") for (let i = 0; i < lay.cells; i++) ids[i] = this.buf.readUInt16LE(off + 2 * i);
    else for (let i = 0; i < lay.cells; i++) ids[i] = this.buf.readUInt32LE(off + 4 * i);
    off += lay.idBytes;
    if (h.logitType === "f16") for (let i = 0; i < lay.cells; i++) logits[i] = f16BitsToF32(this.buf.readUInt16LE(off + 2 * i));
    else for (let i = 0; i < lay.cells; i++) logits[i] = this.buf.readFloatLE(off + 4 * i);
    return this.current;
  }

  close(): void {
    closeSync(this.fd);
  }
}
