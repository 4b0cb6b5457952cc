// The bytes each token id decodes to, in one flat buffer with per-id offsets.
// A vocabulary of 150 000 tokens as one small Uint8Array per id costs ~85 MB of
// RSS (each typed array is a heap object plus a separately allocated backing
// store); flat, it costs about the bytes themselves (~1 MB). Ids are appended
// in any order; appending an id again replaces its bytes (the old ones stay,
// unused). get() returns a view into the buffer: read it, do not keep writing.
import { CHAR_TO_BYTE, utf8Encoder } from "./bytes.ts";

const EMPTY = new Uint8Array(0);

export class ByteTable {
  private buf: Uint8Array;
  private used = 0;
  private readonly start: Int32Array;
  private readonly len: Int32Array; // -1: no bytes set (get returns an empty array)

  constructor(size: number, expectedBytes = size * 8) {
    this.start = new Int32Array(size);
    this.len = new Int32Array(size).fill(-1);
    this.buf = new Uint8Array(Math.max(64, expectedBytes));
  }

  get size(): number {
    return this.start.length;
  }

  /** Bytes of `id` (a view), or undefined outside 0..size-1. */
  get(id: number): Uint8Array | undefined {
    if (!(id >= 0 && id < this.start.length)) return undefined;
    const n = this.len[id]!;
    return n <= 0 ? EMPTY : this.buf.subarray(this.start[id]!, this.start[id]! + n);
  }

  /** Byte length of `id` (0 when unset). */
  length(id: number): number {
    return Math.max(0, this.len[id]!);
  }

  private reserve(n: number): number {
    if (this.used + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.used + n));
      next.set(this.buf.subarray(0, this.used));
      this.buf = next;
    }
    return this.used;
  }

  set(id: number, bytes: Uint8Array): void {
    const at = this.reserve(bytes.length);
    this.buf.set(bytes, at);
    this.commit(id, at, bytes.length);
  }

  /** The UTF-8 encoding of `s`. */
  setUtf8(id: number, s: string): void {
    const at = this.reserve(s.length * 3);
    const { written } = utf8Encoder.encodeInto(s, this.buf.subarray(at));
    this.commit(id, at, written);
  }

  /**
   * A byte-level token (GPT-2's printable stand-ins, one character per byte). Returns false,
   * writing nothing, when a character is not a byte stand-in.
   */
  setByteLevel(id: number, tok: string): boolean {
    const at = this.reserve(tok.length);
    for (let i = 0; i < tok.length; i++) {
      const c = tok.charCodeAt(i);
      const b = c < 512 ? CHAR_TO_BYTE[c]! : -1;
      if (b < 0) return false;
      this.buf[at + i] = b;
    }
    this.commit(id, at, tok.length);
    return true;
  }

  private commit(id: number, at: number, n: number): void {
    this.start[id] = at;
    this.len[id] = n;
    this.used = at + n;
  }
}
