// safetensors read and write (https://huggingface.co/docs/safetensors: an
// 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, then the raw little-endian data). Reading is
// tensor by tensor with positioned reads, so a checkpoint never sits in memory
// twice; every header field is checked against the file size before anything
// is allocated. Writing streams tensors into a temp file renamed at the end.
// Also reads sharded checkpoints (model.safetensors.index.json).
// Knows nothing about models: names, dtypes, shapes and bytes only.
import { closeSync, existsSync, fstatSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

import { FormatError } from "../errors.ts";
import { writeAll, writeFileAtomic } from "../util/atomic.ts";
import { decodeHalf, encodeHalf } from "./half.ts";
import { openForRead, readExactly } from "./file-io.ts";

export type SafetensorsDtype = "F32" | "F16" | "BF16" | "I8" | "U8" | "I32" | "I64" | "F64" | "I16" | "U16" | "BOOL";

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F64: 8, I64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1 };
/** Dtypes we convert to float32 on load. */
const FLOAT_DTYPES = new Set(["F32", "F16", "BF16", "F64"]);

/** Headers larger than this are refused (the format's reference implementation uses the same order of limit). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Where the data section starts (8 + header length). */
  dataStart: number;
}

function fail(path: string, msg: string, hint?: string): never {
  throw new FormatError(`${path}: ${msg}`, hint ? { hint } : undefined);
}

/** Parses and validates a header against the file size. */
function parseHeader(path: string, headerBytes: Uint8Array, fileSize: number): SafetensorsHeader {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (e) {
    fail(path, `header is not valid UTF-8 JSON (${(e as Error).message})`, "the file is not safetensors or is corrupt");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) fail(path, "header is not a JSON object");
  const dataStart = 8 + headerBytes.length;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail(path, "__metadata__ must be an object of strings");
      for (const [k, v] of Object.entries(raw)) if (typeof v !== "string") fail(path, `__metadata__.${k} must be a string`);
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== "object" || e === null) fail(path, `tensor "${name}": entry is not an object`);
    if (typeof e.dtype !== "string" || !(e.dtype in DTYPE_BYTES)) {
      fail(path, `tensor "${name}": dtype ${JSON.stringify(e.dtype)} is not supported`, `supported: ${Object.keys(DTYPE_BYTES).join(", ")}`);
    }
    const dtype = e.dtype as SafetensorsDtype;
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0))
      fail(path, `tensor "${name}": shape must be an array of non-negative integers`);
    const shape = e.shape as number[];
    if (!Array.isArray(e.data_offsets) || e.data_offsets.length !== 2 || e.data_offsets.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail(path, `tensor "${name}": data_offsets must be [begin, end] non-negative integers`);
    }
    const [b, en] = e.data_offsets as [number, number];
    if (en < b) fail(path, `tensor "${name}": data_offsets end ${en} < begin ${b}`);
    if (en > dataSize)
      fail(path, `tensor "${name}": data ends at byte ${en} of the data section, but the file has only ${dataSize} bytes of data`, "the file is truncated");
    let numel = 1;
    for (const d of shape) {
      numel *= d;
      if (!Number.isSafeInteger(numel)) fail(path, `tensor "${name}": shape ${JSON.stringify(shape)} is too large`);
    }
    if (en - b !== numel * DTYPE_BYTES[dtype])
      fail(path, `tensor "${name}": ${en - b} bytes of data for shape ${JSON.stringify(shape)} ${dtype} (needs ${numel * DTYPE_BYTES[dtype]})`);
    tensors.set(name, { name, dtype, shape, begin: dataStart + b, end: dataStart + en });
  }
  // Tensors must not overlap.
  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.begin < sorted[i - 1]!.end) fail(path, `tensors "${sorted[i - 1]!.name}" and "${sorted[i]!.name}" overlap`);
  }
  return { tensors, metadata, dataStart };
}

/** An open safetensors file; read tensors one at a time, then close(). */
export class SafetensorsFile {
  readonly header: SafetensorsHeader;
  private fd: number;

  private constructor(
    readonly path: string,
    fd: number,
    header: SafetensorsHeader,
  ) {
    this.fd = fd;
    this.header = header;
  }

  static open(path: string): SafetensorsFile {
    const fd = openForRead(path);
    try {
      const size = fstatSync(fd).size;
      if (size < 8) fail(path, `file is ${size} bytes, too short for a safetensors header`);
      const lenBuf = Buffer.alloc(8);
      readExactly(fd, lenBuf, 0, path);
      const len = lenBuf.readBigUInt64LE(0);
      if (len > BigInt(size - 8)) fail(path, `header length ${len} exceeds the file size ${size}`, "the file is truncated or not safetensors");
      if (len > BigInt(MAX_HEADER_BYTES)) fail(path, `header length ${len} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
      const hdr = Buffer.alloc(Number(len));
      readExactly(fd, hdr, 8, path);
      return new SafetensorsFile(path, fd, parseHeader(path, hdr, size));
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  get names(): string[] {
    return [...this.header.tensors.keys()];
  }

  info(name: string): TensorInfo {
    const t = this.header.tensors.get(name);
    if (!t) fail(this.path, `no tensor named "${name}"`);
    return t;
  }

  /** Raw bytes of one tensor. */
  readBytes(name: string): Uint8Array {
    const t = this.info(name);
    const buf = new Uint8Array(t.end - t.begin);
    readExactly(this.fd, buf, t.begin, this.path);
    return buf;
  }

  /** One floating-point tensor converted to float32 (F32, F16, BF16, F64). */
  readFloat32(name: string): { shape: number[]; data: Float32Array } {
    const t = this.info(name);
    if (!FLOAT_DTYPES.has(t.dtype)) fail(this.path, `tensor "${name}" is ${t.dtype}, not a float type`);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.dtype === "F32") {
      const data = new Float32Array(numel);
      readExactly(this.fd, new Uint8Array(data.buffer), t.begin, this.path);
      return { shape: t.shape, data };
    }
    const bytes = this.readBytes(name);
    if (t.dtype === "F64") {
      const f64 = new Float64Array(bytes.buffer, bytes.byteOffset, numel);
      return { shape: t.shape, data: Float32Array.from(f64) };
    }
    return { shape: t.shape, data: decodeHalf(bytes, new Float32Array(numel), t.dtype as "F16" | "BF16") };
  }

  /**
   * Reads a floating-point tensor straight into `out` (numel values), converting
   * to float32: F32 data lands in `out` with no temporary, so loading a model
   * needs no second copy of its largest tensor.
   */
  readFloat32Into(name: string, out: Float32Array): void {
    const t = this.info(name);
    if (!FLOAT_DTYPES.has(t.dtype)) fail(this.path, `tensor "${name}" is ${t.dtype}, not a float type`);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (out.length !== numel) fail(this.path, `tensor "${name}" has ${numel} values, the destination ${out.length}`);
    if (t.dtype === "F32") {
      readExactly(this.fd, new Uint8Array(out.buffer, out.byteOffset, out.byteLength), t.begin, this.path);
      return;
    }
    out.set(this.readFloat32(name).data);
  }

  close(): void {
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}

export interface TensorToWrite {
  name: string;
  shape: number[];
  /** float32 data (converted to `dtype`), or raw bytes already in `dtype`. */
  data: Float32Array | Uint8Array | Int8Array;
  /** Stored dtype; default F32 for Float32Array data, U8/I8 for byte arrays. */
  dtype?: SafetensorsDtype;
}

/**
 * Writes tensors to `path` atomically (temp file + rename), in the order given.
 * Float32 data may be stored as F32, F16 or BF16.
 */
export function writeSafetensors(path: string, tensors: TensorToWrite[], metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const plan: { t: TensorToWrite; dtype: SafetensorsDtype; bytes: number }[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    if (seen.has(t.name)) throw new FormatError(`writeSafetensors: duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    const dtype: SafetensorsDtype = t.dtype ?? (t.data instanceof Float32Array ? "F32" : t.data instanceof Int8Array ? "I8" : "U8");
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.data instanceof Float32Array) {
      if (!FLOAT_DTYPES.has(dtype) || dtype === "F64") throw new FormatError(`writeSafetensors: cannot store float32 tensor "${t.name}" as ${dtype}`);
      if (t.data.length !== numel)
        throw new FormatError(`writeSafetensors: tensor "${t.name}" has ${t.data.length} values, shape ${JSON.stringify(t.shape)} needs ${numel}`);
    } else if (t.data.byteLength !== numel * DTYPE_BYTES[dtype]) {
      throw new FormatError(
        `writeSafetensors: tensor "${t.name}" has ${t.data.byteLength} bytes, shape ${JSON.stringify(t.shape)} ${dtype} needs ${numel * DTYPE_BYTES[dtype]}`,
      );
    }
    const bytes = numel * DTYPE_BYTES[dtype];
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    plan.push({ t, dtype, bytes });
    offset += bytes;
  }
  let hjson = JSON.stringify(header);
  // Pad the header with spaces so the data section starts 8-byte aligned.
  hjson += " ".repeat((8 - ((8 + Buffer.byteLength(hjson)) % 8)) % 8);
  const hbytes = Buffer.from(hjson, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hbytes.length));
  writeFileAtomic(path, (fd) => {
    writeAll(fd, len);
    writeAll(fd, hbytes);
    for (const { t, dtype } of plan) {
      if (t.data instanceof Float32Array) {
        if (dtype === "F32") writeAll(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        else writeAll(fd, encodeHalf(t.data, dtype as "F16" | "BF16"));
      } else {
        writeAll(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      }
    }
  });
}

/**
 * A checkpoint that may be one file or several shards listed in
 * model.safetensors.index.json ({"weight_map": {tensor: file}}). Opens shards
 * lazily; close() closes them all.
 */
export class SafetensorsCheckpoint {
  private readonly files = new Map<string, SafetensorsFile>();
  private constructor(
    private readonly dir: string,
    private readonly weightMap: Map<string, string>,
  ) {}

  /** `path`: a .safetensors file, a .index.json file, or a directory holding either. */
  static open(path: string): SafetensorsCheckpoint {
    let p = path;
    if (!p.endsWith(".safetensors") && !p.endsWith(".json")) {
      const index = join(p, "model.safetensors.index.json");
      const single = join(p, "model.safetensors");
      if (existsSync(single)) p = single;
      else if (existsSync(index)) p = index;
      else throw new FormatError(`${path}: no model.safetensors or model.safetensors.index.json`);
    }
    if (p.endsWith(".safetensors")) {
      const f = SafetensorsFile.open(p);
      const ck = new SafetensorsCheckpoint(dirname(p), new Map(f.names.map((n) => [n, p])));
      ck.files.set(p, f);
      return ck;
    }
    let idx: { weight_map?: Record<string, unknown> };
    try {
      idx = JSON.parse(readFileSync(p, "utf8"));
    } catch (e) {
      throw new FormatError(`${p}: not valid JSON (${(e as Error).message})`);
    }
    if (!idx || typeof idx.weight_map !== "object" || idx.weight_map === null) throw new FormatError(`${p}: missing "weight_map"`);
    const map = new Map<string, string>();
    for (const [name, file] of Object.entries(idx.weight_map)) {
      if (typeof file !== "string" || file.includes("/") || file.includes("\\") || file.startsWith(".")) {
        throw new FormatError(`${p}: weight_map["${name}"] must be a file name in the same directory, got ${JSON.stringify(file)}`);
      }
      map.set(name, join(dirname(p), file));
    }
    return new SafetensorsCheckpoint(dirname(p), map);
  }

  get names(): string[] {
    return [...this.weightMap.keys()];
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  private file(name: string): SafetensorsFile {
    const p = this.weightMap.get(name);
    if (!p) throw new FormatError(`${this.dir}: no tensor named "${name}"`);
    let f = this.files.get(p);
    if (!f) {
      f = SafetensorsFile.open(p);
      this.files.set(p, f);
    }
    if (!f.header.tensors.has(name)) throw new FormatError(`${p}: the index lists "${name}" here but the file does not contain it`);
    return f;
  }

  info(name: string): TensorInfo {
    return this.file(name).info(name);
  }

  readFloat32(name: string): { shape: number[]; data: Float32Array } {
    return this.file(name).readFloat32(name);
  }

  readBytes(name: string): Uint8Array {
    return this.file(name).readBytes(name);
  }

  readFloat32Into(name: string, out: Float32Array): void {
    this.file(name).readFloat32Into(name, out);
  }

  metadata(): Record<string, string> {
    const first = this.weightMap.keys().next().value;
    return first === undefined ? {} : this.file(first).header.metadata;
  }

  close(): void {
    for (const f of this.files.values()) f.close();
    this.files.clear();
  }
}
