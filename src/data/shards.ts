// Token shard files: a 32-byte header then a flat array of token ids.
//
//   offset  size  field
//   0       4     magic "SLMT" (ASCII)
//   4       4     u32 version = 1
//   8       4     u32 dtype: 1 = uint16 ids, 2 = uint32 ids
//   12      4     zero padding
//   16      8     u64 count (number of token ids that follow)
//   24      8     zero padding
//   32      ...   count ids, little-endian, of the dtype's width
//
// The writer streams through a fixed-size buffer, rolls over to a new shard at
// a size cap, and writes each shard to a temporary name that it renames when
// the shard is complete. The reader never loads a whole shard: it validates
// the header against the file size and serves windows with positioned reads,
// which is what training needs (random windows of T+1 tokens).
// Knows nothing about text, tokenizers or documents: ids in, ids out.
import { closeSync, fstatSync, openSync, readdirSync, readSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";

import { FormatError, UsageError } from "../errors.ts";

const SHARD_MAGIC = "SLMT";
const SHARD_VERSION = 1;
const SHARD_HEADER_BYTES = 32;
/** dtype codes; never reuse a value. */
export const DTYPE_U16 = 1;
export const DTYPE_U32 = 2;
export type ShardDtype = typeof DTYPE_U16 | typeof DTYPE_U32;

/** The narrowest dtype that holds every id below vocabSize. */
export function dtypeForVocab(vocabSize: number): ShardDtype {
  if (!Number.isInteger(vocabSize) || vocabSize < 1) throw new UsageError(`vocabSize must be a positive integer, got ${vocabSize}`);
  return vocabSize <= 65536 ? DTYPE_U16 : DTYPE_U32;
}

function bytesPerToken(dtype: ShardDtype): number {
  return dtype === DTYPE_U16 ? 2 : 4;
}

function encodeHeader(dtype: ShardDtype, count: number): Buffer {
  const h = Buffer.alloc(SHARD_HEADER_BYTES);
  h.write(SHARD_MAGIC, 0, "ascii");
  h.writeUInt32LE(SHARD_VERSION, 4);
  h.writeUInt32LE(dtype, 8);
  h.writeBigUInt64LE(BigInt(count), 16);
  return h;
}

/** The shard file name for a split and index: "train-00000.bin". */
function shardName(split: string, index: number): string {
  return `${split}-${String(index).padStart(5, "0")}.bin`;
}

export interface ShardInfo {
  file: string;
  count: number;
  dtype: ShardDtype;
}

export interface ShardWriterOptions {
  /** Directory to write into (must exist). */
  dir: string;
  /** Split name, the file prefix: "train" or "val". */
  split: string;
  vocabSize: number;
  /** Tokens per shard before rolling over to the next file (default 2^28, i.e. 512 MB of uint16). */
  maxTokensPerShard?: number;
  /** Buffer size in tokens for each write (default 2^18). */
  bufferTokens?: number;
}

/** Streams token ids into one or more shards of a split. Call close() to finish. */
export class ShardWriter {
  readonly dtype: ShardDtype;
  readonly shards: ShardInfo[] = [];
  private readonly dir: string;
  private readonly split: string;
  private readonly vocabSize: number;
  private readonly maxTokens: number;
  private readonly buf: Uint16Array | Uint32Array; // (bufferTokens,)
  private fill = 0;
  private fd = -1;
  private tmpPath = "";
  private shardCount = 0; // ids written to the current shard
  private pos = SHARD_HEADER_BYTES; // byte offset of the next write in the current shard
  private closed = false;
  total = 0;

  constructor(o: ShardWriterOptions) {
    this.dir = o.dir;
    this.split = o.split;
    this.vocabSize = o.vocabSize;
    this.dtype = dtypeForVocab(o.vocabSize);
    this.maxTokens = o.maxTokensPerShard ?? 2 ** 28;
    if (!Number.isInteger(this.maxTokens) || this.maxTokens < 1) throw new UsageError(`maxTokensPerShard must be a positive integer, got ${this.maxTokens}`);
    const bt = Math.max(1, Math.min(o.bufferTokens ?? 2 ** 18, this.maxTokens));
    this.buf = this.dtype === DTYPE_U16 ? new Uint16Array(bt) : new Uint32Array(bt);
  }

  /** Appends ids (each must be an integer in [0, vocabSize)). */
  write(ids: ArrayLike<number>): void {
    if (this.closed) throw new UsageError("ShardWriter.write after close()");
    const v = this.vocabSize;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!(id < v) || id >>> 0 !== id) throw new UsageError(`token id ${id} at position ${i} is outside [0, ${v})`);
      if (this.fd < 0) this.openShard();
      this.buf[this.fill++] = id;
      this.shardCount++;
      if (this.fill === this.buf.length) this.flush();
      if (this.shardCount === this.maxTokens) this.finishShard();
    }
  }

  private openShard(): void {
    const name = shardName(this.split, this.shards.length);
    this.tmpPath = join(this.dir, `.${name}.tmp`);
    this.fd = openSync(this.tmpPath, "w");
    writeSync(this.fd, encodeHeader(this.dtype, 0), 0, SHARD_HEADER_BYTES, 0);
    this.pos = SHARD_HEADER_BYTES;
    this.shardCount = 0;
  }

  private flush(): void {
    if (this.fill === 0) return;
    const bytes = new Uint8Array(this.buf.buffer, 0, this.fill * this.buf.BYTES_PER_ELEMENT);
    // Typed arrays are in platform byte order; every platform Node supports here is little-endian.
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off, this.pos + off);
    this.pos += bytes.length;
    this.total += this.fill;
    this.fill = 0;
  }

  private finishShard(): void {
    this.flush();
    writeSync(this.fd, encodeHeader(this.dtype, this.shardCount), 0, SHARD_HEADER_BYTES, 0);
    closeSync(this.fd);
    this.fd = -1;
    const name = shardName(this.split, this.shards.length);
    renameSync(this.tmpPath, join(this.dir, name));
    this.shards.push({ file: name, count: this.shardCount, dtype: this.dtype });
    this.shardCount = 0;
  }

  /** Flushes and renames the last shard. A split with no tokens writes no file. */
  close(): ShardInfo[] {
    if (this.closed) return this.shards;
    if (this.fd >= 0) this.finishShard();
    this.closed = true;
    return this.shards;
  }
}

/** One shard opened for positioned reads. Close it when done. */
export class ShardReader {
  readonly path: string;
  readonly dtype: ShardDtype;
  readonly count: number;
  private fd: number;
  private scratch = Buffer.alloc(0);

  private constructor(path: string, fd: number, dtype: ShardDtype, count: number) {
    this.path = path;
    this.fd = fd;
    this.dtype = dtype;
    this.count = count;
  }

  /** Opens and validates a shard (magic, version, dtype, count against the file size). */
  static open(path: string): ShardReader {
    const fd = openSync(path, "r");
    try {
      const size = fstatSync(fd).size;
      if (size < SHARD_HEADER_BYTES) throw new FormatError(`${path}: ${size} bytes is shorter than the ${SHARD_HEADER_BYTES}-byte shard header`);
      const h = Buffer.alloc(SHARD_HEADER_BYTES);
      readSync(fd, h, 0, SHARD_HEADER_BYTES, 0);
      const magic = h.toString("latin1", 0, 4);
      if (magic !== SHARD_MAGIC)
        throw new FormatError(`${path}: bad magic ${JSON.stringify(magic)}, expected "${SHARD_MAGIC}"`, {
          hint: "is this a token shard written by slm ingest?",
        });
      const version = h.readUInt32LE(4);
      if (version !== SHARD_VERSION) throw new FormatError(`${path}: unsupported shard version ${version}, this build reads version ${SHARD_VERSION}`);
      const dtype = h.readUInt32LE(8);
      if (dtype !== DTYPE_U16 && dtype !== DTYPE_U32) throw new FormatError(`${path}: unknown dtype code ${dtype} (1 = uint16, 2 = uint32)`);
      const count = h.readBigUInt64LE(16);
      const expected = BigInt(SHARD_HEADER_BYTES) + count * BigInt(bytesPerToken(dtype));
      if (expected !== BigInt(size)) {
        throw new FormatError(`${path}: header says ${count} tokens (${expected} bytes) but the file has ${size} bytes`, {
          hint: "the shard is truncated or was not finished",
        });
      }
      return new ShardReader(path, fd, dtype, Number(count));
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Reads ids [start, start+length) into out (or a new Uint32Array). out: (length,) */
  read(start: number, length: number, out?: Uint32Array | Int32Array): Uint32Array | Int32Array {
    if (this.fd < 0) throw new UsageError(`${this.path}: read after close()`);
    if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > this.count) {
      throw new UsageError(`window [${start}, ${start + length}) is outside the shard's ${this.count} tokens`);
    }
    const dst = out ?? new Uint32Array(length);
    if (dst.length < length) throw new UsageError(`output holds ${dst.length} ids, need ${length}`);
    const bpt = bytesPerToken(this.dtype);
    const nbytes = length * bpt;
    if (this.scratch.length < nbytes) this.scratch = Buffer.alloc(Math.max(nbytes, 4096));
    let got = 0;
    while (got < nbytes) {
      const n = readSync(this.fd, this.scratch, got, nbytes - got, SHARD_HEADER_BYTES + start * bpt + got);
      if (n === 0) throw new FormatError(`${this.path}: unexpected end of file at token ${start + got / bpt}`);
      got += n;
    }
    const s = this.scratch;
    if (bpt === 2) for (let i = 0; i < length; i++) dst[i] = s[2 * i] | (s[2 * i + 1] << 8);
    else for (let i = 0; i < length; i++) dst[i] = s.readUInt32LE(4 * i);
    return dst;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * All shards of one split in a dataset directory, read as one token stream:
 * window reads may cross shard boundaries.
 */
export class ShardSet {
  readonly split: string;
  readonly readers: ShardReader[];
  /** starts[i] = global index of readers[i]'s first token; starts[n] = count. */
  private readonly starts: number[];

  private constructor(split: string, readers: ShardReader[]) {
    this.split = split;
    this.readers = readers;
    this.starts = [0];
    for (const r of readers) this.starts.push(this.starts[this.starts.length - 1] + r.count);
  }

  /** Opens `<split>-NNNNN.bin` files of dir in order. No shards gives an empty set. */
  static open(dir: string, split: string): ShardSet {
    const re = new RegExp(`^${split.replace(/[^a-z0-9]/gi, "")}-(\\d{5})\\.bin$`);
    const names = readdirSync(dir)
      .filter((n) => re.test(n))
      .sort();
    names.forEach((n, i) => {
      if (n !== shardName(split, i)) throw new FormatError(`${dir}: ${split} shards are not numbered 0..${names.length - 1} (found ${n} at position ${i})`);
    });
    const readers: ShardReader[] = [];
    try {
      for (const n of names) readers.push(ShardReader.open(join(dir, n)));
    } catch (e) {
      for (const r of readers) r.close();
      throw e;
    }
    return new ShardSet(split, readers);
  }

  get count(): number {
    return this.starts[this.starts.length - 1];
  }

  /** Reads global ids [start, start+length) across shard boundaries. out: (length,) */
  read(start: number, length: number, out?: Uint32Array | Int32Array): Uint32Array | Int32Array {
    if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > this.count) {
      throw new UsageError(`window [${start}, ${start + length}) is outside the ${this.split} split's ${this.count} tokens`);
    }
    const dst = out ?? new Uint32Array(length);
    let done = 0;
    let i = 0;
    while (i < this.readers.length && this.starts[i + 1] <= start) i++;
    while (done < length) {
      const r = this.readers[i];
      const local = start + done - this.starts[i];
      const n = Math.min(length - done, r.count - local);
      r.read(local, n, dst.subarray(done, done + n));
      done += n;
      i++;
    }
    return dst;
  }

  close(): void {
    for (const r of this.readers) r.close();
  }
}
