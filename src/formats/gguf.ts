// GGUF container read and write (llama.cpp's file format, little-endian):
//   magic "GGUF", u32 version (we read 2 and 3, write 3), u64 tensor count,
//   u64 key/value count, the key/value pairs (u64-length strings; scalars,
//   strings and typed arrays, arrays may nest), the tensor infos (name, u32
//   n_dims, u64 ne[n_dims] with ne[0] the fastest-varying dimension, u32 ggml
//   type, u64 offset into the data section), padding to general.alignment
//   (default 32), then the tensor data, each tensor aligned the same way.
// Reading walks the header through a bounded cursor: every count, length and
// offset is checked against the bytes left in the file before anything is
// allocated, so a hostile file costs at most its own size and always ends in
// a FormatError naming the field or tensor. Tensors are then read one at a
// time with positioned reads. Writing streams tensors into a temp file that
// is renamed at the end.
// Knows nothing about models or tokenizers: keys, values, names, shapes, bytes.
import { closeSync, fstatSync, readSync } from "node:fs";

import { FormatError } from "../errors.ts";
import { writeAll, writeFileAtomic } from "../util/atomic.ts";
import { byteSize, ggmlTypeLabel, traits, traitsById, TYPE_TRAITS, type GgmlTypeName, type TypeTraits } from "./quant.ts";
import { openForRead, readExactly } from "./file-io.ts";

const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const GGUF_VERSION = 3;
const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS. */
const GGUF_MAX_DIMS = 4;
/** ggml's GGML_MAX_NAME minus the terminating NUL. */
const GGUF_MAX_NAME_BYTES = 63;
/** Arrays nested deeper than this are refused (real files nest at most once). */
const MAX_ARRAY_DEPTH = 8;

export type GgufNumberType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64";
export type GgufBigType = "u64" | "i64";
export type GgufScalarType = GgufNumberType | GgufBigType | "bool" | "string";
export type GgufValueType = GgufScalarType | "array";

export type GgufArrayData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GgufValue[];

export type GgufValue =
  | { type: GgufNumberType; value: number }
  | { type: GgufBigType; value: bigint }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  /** itemType "array": value is GgufValue[] of arrays; otherwise the typed array / list for itemType. */
  | { type: "array"; itemType: GgufValueType; value: GgufArrayData };

/** Wire ids of the value types (gguf_type); never reused. */
const TYPE_IDS: Record<GgufValueType, number> = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
};
const TYPE_BY_ID: GgufValueType[] = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"];
/** Bytes of one value on the wire (strings: the minimum, an empty string). */
const WIRE_BYTES: Record<GgufValueType, number> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  string: 8,
  array: 12,
  u64: 8,
  i64: 8,
  f64: 8,
};

/** Value constructors, so callers write `gv.u32(5)` rather than object literals. */
export const gv = {
  u8: (value: number): GgufValue => ({ type: "u8", value }),
  i8: (value: number): GgufValue => ({ type: "i8", value }),
  u16: (value: number): GgufValue => ({ type: "u16", value }),
  i16: (value: number): GgufValue => ({ type: "i16", value }),
  u32: (value: number): GgufValue => ({ type: "u32", value }),
  i32: (value: number): GgufValue => ({ type: "i32", value }),
  f32: (value: number): GgufValue => ({ type: "f32", value }),
  f64: (value: number): GgufValue => ({ type: "f64", value }),
  u64: (value: bigint | number): GgufValue => ({ type: "u64", value: BigInt(value) }),
  i64: (value: bigint | number): GgufValue => ({ type: "i64", value: BigInt(value) }),
  bool: (value: boolean): GgufValue => ({ type: "bool", value }),
  str: (value: string): GgufValue => ({ type: "string", value }),
  strings: (value: string[]): GgufValue => ({ type: "array", itemType: "string", value }),
  i32s: (value: ArrayLike<number>): GgufValue => ({ type: "array", itemType: "i32", value: Int32Array.from(value) }),
  f32s: (value: ArrayLike<number>): GgufValue => ({ type: "array", itemType: "f32", value: Float32Array.from(value) }),
};

export interface GgufTensorInfo {
  name: string;
  /** Row-major shape (outermost first): the reverse of GGUF's ne[]. */
  shape: number[];
  type: TypeTraits;
  /** Offset inside the data section, as stored. */
  offset: number;
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

export interface GgufHeader {
  version: number;
  kv: Map<string, GgufValue>;
  tensors: Map<string, GgufTensorInfo>;
  alignment: number;
  /** Absolute offset of the data section. */
  dataStart: number;
}

function fail(path: string, msg: string, hint?: string): never {
  throw new FormatError(`${path}: ${msg}`, hint ? { hint } : undefined);
}

/** Buffered forward reader over a file descriptor that never reads or allocates past the file's end. */
class Cursor {
  pos = 0;
  private buf = Buffer.alloc(0);
  private bufStart = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
    private readonly path: string,
  ) {}

  get left(): number {
    return this.size - this.pos;
  }

  /** n bytes at the cursor (a view valid until the next call). */
  take(n: number, what: string): Buffer {
    if (n > this.left)
      fail(this.path, `truncated: ${what} needs ${n} bytes at offset ${this.pos}, the file has ${this.left} left`, "the file is truncated or corrupt");
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
      const len = Math.min(Math.max(n, 1 << 20), this.left);
      if (this.buf.length < len) this.buf = Buffer.alloc(len);
      let off = 0;
      while (off < len) {
        const r = readSync(this.fd, this.buf, off, len - off, this.pos + off);
        if (r === 0) fail(this.path, `unexpected end of file at byte ${this.pos + off}`, "the file changed or is truncated");
        off += r;
      }
      this.bufStart = this.pos;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }

  u32(what: string): number {
    return this.take(4, what).readUInt32LE(0);
  }

  /** A u64 that must fit a safe integer (counts, lengths, dims, offsets). */
  u64(what: string): number {
    const v = this.take(8, what).readBigUInt64LE(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(this.path, `${what} is ${v}, beyond any file size`);
    return Number(v);
  }

  string(what: string): string {
    const n = this.u64(`${what} length`);
    if (n > this.left) fail(this.path, `${what}: string length ${n} exceeds the ${this.left} bytes left in the file`, "the file is truncated or corrupt");
    const b = this.take(n, what);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(b);
    } catch {
      fail(this.path, `${what} is not valid UTF-8`);
    }
  }
}

function readValue(c: Cursor, type: GgufValueType, what: string, depth: number): GgufValue {
  switch (type) {
    case "u8":
      return { type, value: c.take(1, what).readUInt8(0) };
    case "i8":
      return { type, value: c.take(1, what).readInt8(0) };
    case "u16":
      return { type, value: c.take(2, what).readUInt16LE(0) };
    case "i16":
      return { type, value: c.take(2, what).readInt16LE(0) };
    case "u32":
      return { type, value: c.take(4, what).readUInt32LE(0) };
    case "i32":
      return { type, value: c.take(4, what).readInt32LE(0) };
    case "f32":
      return { type, value: c.take(4, what).readFloatLE(0) };
    case "f64":
      return { type, value: c.take(8, what).readDoubleLE(0) };
    case "u64":
      return { type, value: c.take(8, what).readBigUInt64LE(0) };
    case "i64":
      return { type, value: c.take(8, what).readBigInt64LE(0) };
    case "bool": {
      const b = c.take(1, what)[0]!;
      if (b > 1) fail(cPath(c), `${what}: bool byte is ${b}, expected 0 or 1`);
      return { type, value: b === 1 };
    }
    case "string":
      return { type, value: c.string(what) };
    case "array": {
      if (depth >= MAX_ARRAY_DEPTH) fail(cPath(c), `${what}: arrays nested deeper than ${MAX_ARRAY_DEPTH}`);
      const itemType = readType(c, `${what} item type`);
      const n = c.u64(`${what} array length`);
      const min = WIRE_BYTES[itemType];
      if (n > Math.floor(c.left / min))
        fail(cPath(c), `${what}: array of ${n} ${itemType} needs at least ${n * min} bytes, the file has ${c.left} left`, "the file is truncated or corrupt");
      return { type, itemType, value: readArray(c, itemType, n, what, depth) };
    }
  }
}

const cPaths = new WeakMap<Cursor, string>();
function cPath(c: Cursor): string {
  return cPaths.get(c) ?? "GGUF";
}

function readType(c: Cursor, what: string): GgufValueType {
  const id = c.u32(what);
  const t = TYPE_BY_ID[id];
  if (t === undefined) fail(cPath(c), `${what}: unknown value type ${id}`, "value types are 0..12 (GGUF v3)");
  return t;
}

function readArray(c: Cursor, t: GgufValueType, n: number, what: string, depth: number): GgufArrayData {
  const typed = (bytes: number, make: (b: ArrayBuffer) => GgufArrayData): GgufArrayData => {
    const src = c.take(n * bytes, what);
    const copy = new ArrayBuffer(n * bytes);
    new Uint8Array(copy).set(src);
    return make(copy);
  };
  switch (t) {
    case "u8":
      return typed(1, (b) => new Uint8Array(b));
    case "i8":
      return typed(1, (b) => new Int8Array(b));
    case "u16":
      return typed(2, (b) => new Uint16Array(b));
    case "i16":
      return typed(2, (b) => new Int16Array(b));
    case "u32":
      return typed(4, (b) => new Uint32Array(b));
    case "i32":
      return typed(4, (b) => new Int32Array(b));
    case "f32":
      return typed(4, (b) => new Float32Array(b));
    case "f64":
      return typed(8, (b) => new Float64Array(b));
    case "u64":
      return typed(8, (b) => new BigUint64Array(b));
    case "i64":
      return typed(8, (b) => new BigInt64Array(b));
    case "bool": {
      const src = c.take(n, what);
      const out: boolean[] = new Array(n);
      for (let i = 0; i < n; i++) {
        if (src[i]! > 1) fail(cPath(c), `${what}[${i}]: bool byte is ${src[i]}, expected 0 or 1`);
        out[i] = src[i] === 1;
      }
      return out;
    }
    case "string": {
      const out: string[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = c.string(`${what}[${i}]`);
      return out;
    }
    case "array": {
      const out: GgufValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue(c, "array", `${what}[${i}]`, depth + 1);
      return out;
    }
  }
}

/** Magic, version, counts and the key/value pairs: the part of the header before the tensor infos. */
function readKvSection(c: Cursor, path: string, size: number): { version: number; nTensors: number; kv: Map<string, GgufValue> } {
  if (size < 24) fail(path, `file is ${size} bytes, too short for a GGUF header (24 bytes)`, "is this a GGUF file?");
  const magic = c.u32("magic");
  if (magic !== GGUF_MAGIC) fail(path, `bad magic 0x${magic.toString(16).padStart(8, "0")} (expected "GGUF")`, "is this a GGUF file?");
  const version = c.u32("version");
  if (version !== 2 && version !== 3) {
    const hint =
      version === 1
        ? "GGUF v1 (32-bit lengths) is not supported; re-convert the model"
        : (version & 0xffff) === 0
          ? "the file looks big-endian, which is not supported"
          : "supported versions: 2, 3";
    fail(path, `GGUF version ${version} is not supported`, hint);
  }
  const nTensors = c.u64("tensor count");
  const nKv = c.u64("key/value count");
  // Each KV needs at least a key length (8), a type (4) and one value byte; each tensor info at least 8 + 4 + 4 + 8.
  if (nKv > Math.floor(c.left / 13)) fail(path, `key/value count ${nKv} cannot fit in the ${c.left} bytes left`, "the file is truncated or corrupt");
  if (nTensors > Math.floor(c.left / 24)) fail(path, `tensor count ${nTensors} cannot fit in the ${c.left} bytes left`, "the file is truncated or corrupt");
  const kv = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = c.string(`key ${i}`);
    if (kv.has(key)) fail(path, `duplicate key "${key}"`);
    const type = readType(c, `value type of "${key}"`);
    kv.set(key, readValue(c, type, `"${key}"`, 0));
  }
  return { version, nTensors, kv };
}

/** Reads and validates the header (everything before the data section) against the file size. */
function readHeader(path: string, fd: number, size: number): GgufHeader {
  const c = new Cursor(fd, size, path);
  cPaths.set(c, path);
  const { version, nTensors, kv } = readKvSection(c, path, size);
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = kv.get("general.alignment");
  if (al !== undefined) {
    if (al.type !== "u32" || al.value === 0 || (al.value & (al.value - 1)) !== 0) {
      fail(path, `general.alignment must be a non-zero power of two u32, got ${al.type} ${String(al.value)}`);
    }
    alignment = al.value;
  }
  const infos: { name: string; ne: number[]; type: TypeTraits; offset: number; bytes: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.string(`tensor ${i} name`);
    if (Buffer.byteLength(name) > GGUF_MAX_NAME_BYTES) fail(path, `tensor ${i} name "${name.slice(0, 80)}" is longer than ${GGUF_MAX_NAME_BYTES} bytes`);
    if (names.has(name)) fail(path, `duplicate tensor name "${name}"`);
    names.add(name);
    const nDims = c.u32(`tensor "${name}" n_dims`);
    if (nDims < 1 || nDims > GGUF_MAX_DIMS) fail(path, `tensor "${name}": n_dims ${nDims} is outside 1..${GGUF_MAX_DIMS}`);
    const ne: number[] = [];
    let numel = 1;
    for (let d = 0; d < nDims; d++) {
      const v = c.u64(`tensor "${name}" ne[${d}]`);
      ne.push(v);
      numel *= v;
      if (!Number.isSafeInteger(numel)) fail(path, `tensor "${name}": dims ${ne.join("×")}… overflow`);
    }
    const typeId = c.u32(`tensor "${name}" type`);
    const t = traitsById(typeId);
    if (!t)
      fail(
        path,
        `tensor "${name}" has ggml type ${ggmlTypeLabel(typeId)} (id ${typeId}), which we cannot read`,
        `supported: ${TYPE_TRAITS.map((x) => x.name).join(", ")} (requantize with llama-quantize)`,
      );
    if (ne[0]! % t.blockSize !== 0) fail(path, `tensor "${name}": ne[0] = ${ne[0]} is not a multiple of the ${t.name} block size ${t.blockSize}`);
    const offset = c.u64(`tensor "${name}" offset`);
    if (offset % alignment !== 0) fail(path, `tensor "${name}": offset ${offset} is not a multiple of the alignment ${alignment}`);
    infos.push({ name, ne, type: t, offset, bytes: byteSize(t, numel) });
  }
  const dataStart = Math.ceil(c.pos / alignment) * alignment;
  if (dataStart > size) fail(path, `data section would start at byte ${dataStart}, past the end of the ${size}-byte file`, "the file is truncated");
  const dataSize = size - dataStart;
  const tensors = new Map<string, GgufTensorInfo>();
  for (const x of infos) {
    if (x.offset > dataSize || x.bytes > dataSize - x.offset) {
      fail(
        path,
        `tensor "${x.name}": data at ${x.offset}..${x.offset + x.bytes} of the data section, but the file has ${dataSize} bytes of data`,
        "the file is truncated",
      );
    }
    tensors.set(x.name, {
      name: x.name,
      shape: [...x.ne].reverse(),
      type: x.type,
      offset: x.offset,
      begin: dataStart + x.offset,
      end: dataStart + x.offset + x.bytes,
    });
  }
  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.begin < sorted[i - 1]!.end) fail(path, `tensors "${sorted[i - 1]!.name}" and "${sorted[i]!.name}" overlap`);
  }
  return { version, kv, tensors, alignment, dataStart };
}

/** An open GGUF file: the validated header, then tensors read one at a time; close() when done. */
export class GgufFile {
  readonly header: GgufHeader;
  private fd: number;

  private constructor(
    readonly path: string,
    fd: number,
    header: GgufHeader,
  ) {
    this.fd = fd;
    this.header = header;
  }

  static open(path: string): GgufFile {
    const fd = openForRead(path);
    try {
      return new GgufFile(path, fd, readHeader(path, fd, fstatSync(fd).size));
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  get kv(): Map<string, GgufValue> {
    return this.header.kv;
  }

  get tensorNames(): string[] {
    return [...this.header.tensors.keys()];
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  info(name: string): GgufTensorInfo {
    const t = this.header.tensors.get(name);
    if (!t) fail(this.path, `no tensor named "${name}"`);
    return t;
  }

  /** The tensor's stored bytes. */
  readBytes(name: string): Uint8Array {
    const t = this.info(name);
    return this.readInto(name, new Uint8Array(t.end - t.begin));
  }

  /** Reads the tensor's stored bytes into dst (exactly their length) and returns dst. */
  readInto(name: string, dst: Uint8Array): Uint8Array {
    const t = this.info(name);
    if (this.fd < 0) fail(this.path, "file is closed");
    if (dst.length !== t.end - t.begin) fail(this.path, `tensor "${name}" has ${t.end - t.begin} bytes, the buffer ${dst.length}`);
    readExactly(this.fd, dst, t.begin, this.path);
    return dst;
  }

  /** The tensor as float32 (dequantized), with its row-major shape. */
  readFloat32(name: string): { shape: number[]; data: Float32Array } {
    const t = this.info(name);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(numel);
    t.type.decode(this.readBytes(name), out);
    return { shape: t.shape, data: out };
  }

  close(): void {
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}

/**
 * The key/value metadata of a GGUF file alone (general.architecture,
 * general.file_type…): the tensor infos are not read, so a file whose tensor
 * types we cannot decode (K-quants) still answers.
 */
export function readGgufMetadata(path: string): { version: number; tensorCount: number; kv: Map<string, GgufValue> } {
  const fd = openForRead(path);
  try {
    const size = fstatSync(fd).size;
    const c = new Cursor(fd, size, path);
    cPaths.set(c, path);
    const { version, nTensors, kv } = readKvSection(c, path, size);
    return { version, tensorCount: nTensors, kv };
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------
// Writing

export interface GgufTensorToWrite {
  name: string;
  /** Row-major shape (outermost first); written reversed as ne[]. */
  shape: number[];
  /** Stored type. */
  type: GgmlTypeName;
  /** float32 values (encoded to `type` while writing) or bytes already in `type`. */
  data: Float32Array | Uint8Array;
}

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  string(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.push(b);
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function wrongValue(key: string, v: GgufValue, why: string): never {
  throw new FormatError(`writeGguf: key "${key}": ${why} (type ${v.type})`);
}

function writeScalar(s: ByteSink, key: string, type: GgufValueType, value: unknown, v: GgufValue): void {
  const b = Buffer.alloc(WIRE_BYTES[type] === 12 ? 0 : WIRE_BYTES[type]);
  const num = () => {
    if (typeof value !== "number" || (type !== "f32" && type !== "f64" && !Number.isInteger(value)))
      wrongValue(key, v, `expected ${type === "f32" || type === "f64" ? "a number" : "an integer"}, got ${String(value)}`);
    return value;
  };
  try {
    switch (type) {
      case "u8":
        b.writeUInt8(num());
        break;
      case "i8":
        b.writeInt8(num());
        break;
      case "u16":
        b.writeUInt16LE(num());
        break;
      case "i16":
        b.writeInt16LE(num());
        break;
      case "u32":
        b.writeUInt32LE(num());
        break;
      case "i32":
        b.writeInt32LE(num());
        break;
      case "f32":
        b.writeFloatLE(num());
        break;
      case "f64":
        b.writeDoubleLE(num());
        break;
      case "u64":
        b.writeBigUInt64LE(typeof value === "bigint" ? value : wrongValue(key, v, "expected a bigint"));
        break;
      case "i64":
        b.writeBigInt64LE(typeof value === "bigint" ? value : wrongValue(key, v, "expected a bigint"));
        break;
      case "bool":
        b.writeUInt8(typeof value === "boolean" ? (value ? 1 : 0) : wrongValue(key, v, "expected a boolean"));
        break;
      case "string":
        s.string(typeof value === "string" ? value : wrongValue(key, v, "expected a string"));
        return;
      case "array":
        writeValue(s, key, value as GgufValue);
        return;
    }
  } catch (e) {
    if (e instanceof FormatError) throw e;
    wrongValue(key, v, `value ${String(value)} does not fit (${(e as Error).message})`);
  }
  s.push(b);
}

/** The typed array each numeric array item type must come as (`name` is used in the error). */
const ARRAY_CTORS: Partial<Record<GgufValueType, abstract new (...args: never[]) => ArrayBufferView>> = {
  u8: Uint8Array,
  i8: Int8Array,
  u16: Uint16Array,
  i16: Int16Array,
  u32: Uint32Array,
  i32: Int32Array,
  f32: Float32Array,
  f64: Float64Array,
  u64: BigUint64Array,
  i64: BigInt64Array,
};

function writeValue(s: ByteSink, key: string, v: GgufValue): void {
  if (v.type !== "array") {
    writeScalar(s, key, v.type, v.value, v);
    return;
  }
  const ctor = ARRAY_CTORS[v.itemType];
  if (ctor) {
    if (!(v.value instanceof ctor)) wrongValue(key, v, `an array of ${v.itemType} must be a ${ctor.name}`);
    const arr = v.value as Uint8Array;
    s.u32(TYPE_IDS[v.itemType]);
    s.u64(arr.length);
    s.push(Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength)); // little-endian hosts only (x64, arm64)
    return;
  }
  if (!Array.isArray(v.value) || !(v.itemType in TYPE_IDS)) wrongValue(key, v, `an array of ${v.itemType} must be a plain array`);
  s.u32(TYPE_IDS[v.itemType]);
  s.u64(v.value.length);
  for (const item of v.value as unknown[]) {
    if (v.itemType === "array") {
      const inner = item as GgufValue;
      if (typeof inner !== "object" || inner === null || inner.type !== "array") wrongValue(key, v, "items of an array of arrays must be array values");
      writeValue(s, key, inner);
    } else writeScalar(s, key, v.itemType, item, v);
  }
}

/**
 * Writes a GGUF v3 file atomically. `kv` keeps its insertion order;
 * general.alignment (u32 power of two) is honoured when present.
 */
export function writeGguf(path: string, kv: Map<string, GgufValue> | Iterable<[string, GgufValue]>, tensors: GgufTensorToWrite[]): void {
  const kvs = kv instanceof Map ? kv : new Map(kv);
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = kvs.get("general.alignment");
  if (al !== undefined) {
    if (al.type !== "u32" || al.value === 0 || (al.value & (al.value - 1)) !== 0)
      throw new FormatError("writeGguf: general.alignment must be a u32 power of two");
    alignment = al.value;
  }
  const h = new ByteSink();
  h.u32(GGUF_MAGIC);
  h.u32(GGUF_VERSION);
  h.u64(tensors.length);
  h.u64(kvs.size);
  for (const [k, v] of kvs) {
    h.string(k);
    h.u32(TYPE_IDS[v.type]);
    writeValue(h, k, v);
  }
  const plan: { t: GgufTensorToWrite; tr: TypeTraits; bytes: number; offset: number }[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    if (seen.has(t.name)) throw new FormatError(`writeGguf: duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    if (Buffer.byteLength(t.name) > GGUF_MAX_NAME_BYTES)
      throw new FormatError(`writeGguf: tensor name "${t.name}" is longer than ${GGUF_MAX_NAME_BYTES} bytes`);
    if (t.shape.length < 1 || t.shape.length > GGUF_MAX_DIMS || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new FormatError(`writeGguf: tensor "${t.name}" shape ${JSON.stringify(t.shape)} must have 1..${GGUF_MAX_DIMS} non-negative integer dims`);
    }
    const tr = traits(t.type);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const inner = t.shape[t.shape.length - 1]!;
    if (inner % tr.blockSize !== 0)
      throw new FormatError(`writeGguf: tensor "${t.name}" rows of ${inner} values cannot be stored as ${t.type} (blocks of ${tr.blockSize})`);
    const bytes = byteSize(tr, numel);
    if (t.data instanceof Float32Array ? t.data.length !== numel : t.data.length !== bytes) {
      throw new FormatError(
        `writeGguf: tensor "${t.name}" has ${t.data.length} ${t.data instanceof Float32Array ? "values" : "bytes"}, shape ${JSON.stringify(t.shape)} ${t.type} needs ${t.data instanceof Float32Array ? numel : bytes}`,
      );
    }
    h.string(t.name);
    h.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) h.u64(t.shape[d]!);
    h.u32(tr.id);
    h.u64(offset);
    plan.push({ t, tr, bytes, offset });
    offset += Math.ceil(bytes / alignment) * alignment;
  }
  const header = h.bytes();
  const pad = (n: number) => Buffer.alloc((alignment - (n % alignment)) % alignment);
  writeFileAtomic(path, (fd) => {
    writeAll(fd, header);
    writeAll(fd, pad(header.length));
    for (const { t, tr, bytes } of plan) {
      let out: Uint8Array;
      if (t.data instanceof Float32Array) {
        out = new Uint8Array(bytes);
        tr.encode(t.data, out);
      } else out = t.data;
      writeAll(fd, out);
      writeAll(fd, pad(bytes));
    }
  });
}

// ---------------------------------------------------------------------------
// Typed access to metadata

export function kvString(kv: Map<string, GgufValue>, key: string): string | undefined {
  const v = kv.get(key);
  if (v === undefined) return undefined;
  if (v.type !== "string") throw new FormatError(`GGUF key "${key}" must be a string, got ${v.type}`);
  return v.value;
}

/** Any integer or float scalar as a number (u64/i64 must be safe integers). */
export function kvNumber(kv: Map<string, GgufValue>, key: string): number | undefined {
  const v = kv.get(key);
  if (v === undefined) return undefined;
  if (v.type === "u64" || v.type === "i64") {
    if (v.value > BigInt(Number.MAX_SAFE_INTEGER) || v.value < -BigInt(Number.MAX_SAFE_INTEGER))
      throw new FormatError(`GGUF key "${key}" = ${v.value} is out of range`);
    return Number(v.value);
  }
  if (v.type === "string" || v.type === "array" || v.type === "bool") throw new FormatError(`GGUF key "${key}" must be a number, got ${v.type}`);
  return v.value as number;
}

export function kvBool(kv: Map<string, GgufValue>, key: string): boolean | undefined {
  const v = kv.get(key);
  if (v === undefined) return undefined;
  if (v.type !== "bool") throw new FormatError(`GGUF key "${key}" must be a bool, got ${v.type}`);
  return v.value;
}

/** An array value's items (typed arrays as-is), checking the item type against `accept`. */
export function kvArray(kv: Map<string, GgufValue>, key: string, accept: readonly GgufValueType[]): GgufArrayData | undefined {
  const v = kv.get(key);
  if (v === undefined) return undefined;
  if (v.type !== "array") throw new FormatError(`GGUF key "${key}" must be an array, got ${v.type}`);
  if (!accept.includes(v.itemType)) throw new FormatError(`GGUF key "${key}" must be an array of ${accept.join(" or ")}, got an array of ${v.itemType}`);
  return v.value;
}
