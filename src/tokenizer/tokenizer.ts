// The Tokenizer: byte-level BPE (GPT-2, tiktoken, Llama 3, Qwen style) and
// SentencePiece-style BPE with byte fallback (Llama 2, Mistral), with added
// and special tokens, a chunk -> ids cache, batch encoding, byte-exact
// decoding and a streaming decoder. It is built from a validated spec
// (see hf.ts for tokenizer.json, train.ts for training, fromRanks for
// tiktoken-style rank tables). Knows nothing about models, tensors or the CLI.
import { FormatError, UsageError } from "../errors.ts";
import { Merger, PairTable } from "./bpe.ts";
import { ByteTable } from "./byte-table.ts";
import { BYTE_TO_CHAR, bytesToByteLevel, concatBytes, strictUtf8, utf8Decoder, utf8Encoder, utf8Runs } from "./bytes.ts";
import { compilePattern, PATTERNS } from "./pretokenize.ts";
import { applyChatTemplate, type ChatEncoding, type ChatMessage, type ChatTemplateOptions } from "./chat.ts";
import { parseTokenizerJson, readTokenizerFiles, toConfigJson, toTokenizerJson, writeTokenizerFiles } from "./hf.ts";

/** A token matched in the raw text before normalization and BPE. */
export interface AddedToken {
  id: number;
  content: string;
  /** Special tokens can be skipped when decoding and refused as text (allowedSpecial). */
  special: boolean;
  /** Absorb whitespace on the left / right of the token. */
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  singleWord: boolean;
}

export type NormalizerStep =
  | { type: "NFC" | "NFD" | "NFKC" | "NFKD" | "Lowercase" }
  | { type: "Prepend"; prepend: string }
  | { type: "Replace"; from: string; to: string };

export type PreTokenizerSpec =
  /** Split with `pattern` (JS regex source, HF "Isolated"), then map bytes through the GPT-2 table. */
  | { type: "bytelevel"; pattern: string; addPrefixSpace: boolean }
  /** Replace spaces with `replacement`, optionally prepend it, optionally split before each one. */
  | { type: "metaspace"; replacement: string; prependScheme: "always" | "first" | "never"; split: boolean }
  /** The whole (normalized) segment is one word. */
  | { type: "none" };

export interface ModelSpec {
  /** bytelevel: vocab strings are GPT-2 byte characters; sentencepiece: Unicode pieces with <0xXX> byte fallback. */
  kind: "bytelevel" | "sentencepiece";
  /** Model vocabulary: token string -> id. */
  vocab: Map<string, number>;
  /**
   * Merge list in priority order, or "ranks": every split (a, b) of a token t
   * with a, b in the vocab is a merge ranked by t's id (tiktoken semantics).
   */
  merges: Array<[string, string]> | "ranks";
  byteFallback: boolean;
  unkToken: string | null;
  /** Look a whole pre-tokenized chunk up in the vocab before merging (tiktoken, Llama 3). */
  ignoreMerges: boolean;
}

export interface TokenizerSpec {
  model: ModelSpec;
  normalizer: NormalizerStep[];
  preTokenizer: PreTokenizerSpec;
  /** Remove one leading space from decoded text (SentencePiece decoders). */
  decodeStripLeadingSpace: boolean;
  addedTokens: AddedToken[];
  /** Ids added around each sequence when addSpecialTokens is true. */
  postProcessor: { prefix: number[]; suffix: number[] };
  /** tokenizer_config.json values we keep (chat_template, bos/eos/pad token names…). */
  config: TokenizerConfig;
}

export interface TokenizerConfig {
  chat_template?: string;
  bos_token?: string | null;
  eos_token?: string | null;
  pad_token?: string | null;
  unk_token?: string | null;
  [k: string]: unknown;
}

export interface EncodeOptions {
  /** Add the post-processor's ids (e.g. BOS). Default false. */
  addSpecialTokens?: boolean;
  /**
   * Which special tokens written in the text become their ids: "all" (default,
   * as Hugging Face does), "none" (all text, as tiktoken's encode(s, [], [])),
   * or a list of token strings. Non-special added tokens are always matched.
   */
  allowedSpecial?: "all" | "none" | readonly string[];
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
}

/** Entries above this are dropped by clearing the cache (simple, bounded, no LRU bookkeeping). */
export const CHUNK_CACHE_CAP = 65536;
/** Chunks longer than this (in UTF-16 units) are never cached. */
const CACHE_MAX_CHUNK = 128;

/** Streaming decoder: push ids, get text; never emits half a UTF-8 character. */
export interface StreamDecoder {
  /** Text completed by this id ("" while a character is still incomplete). */
  push(id: number): string;
  /** The rest, with U+FFFD for an incomplete final character. */
  flush(): string;
}

export class Tokenizer {
  readonly spec: TokenizerSpec;
  /** id -> token string (model vocab and added tokens). */
  private readonly idToTok: (string | undefined)[];
  private readonly tokToId = new Map<string, number>();
  /** id -> bytes it decodes to. */
  private readonly idBytes: ByteTable;
  private readonly specialIds = new Set<number>();
  private readonly table: PairTable;
  private readonly merger: Merger;
  private readonly byteIds = new Int32Array(256).fill(-1); // byte -> initial symbol id (byte-level) or <0xXX> id
  private readonly unkId: number;
  private readonly direct = new Map<string, number>(); // ignoreMerges: chunk text -> id
  private readonly re: RegExp | null;
  private readonly addedRe: RegExp | null;
  private readonly addedByContent = new Map<string, AddedToken>();
  private readonly normalizeFn: ((s: string) => string) | null;
  private readonly normalizeNoPrepend: ((s: string) => string) | null;
  private cache = new Map<string, number | Int32Array>();
  private buf = new Uint8Array(1024);
  private syms = new Int32Array(1024);
  /** Merge list as id pairs in rank order (for toJSON), when the spec has one. */
  private readonly mergeIds: Int32Array | null;

  constructor(spec: TokenizerSpec) {
    this.spec = spec;
    const m = spec.model;
    let maxId = -1;
    for (const id of m.vocab.values()) if (id > maxId) maxId = id;
    for (const t of spec.addedTokens) if (t.id > maxId) maxId = t.id;
    this.idToTok = new Array(maxId + 1);
    this.idBytes = new ByteTable(maxId + 1);
    for (const [tok, id] of m.vocab) {
      if (!Number.isInteger(id) || id < 0) throw new FormatError(`model.vocab: id of ${JSON.stringify(tok)} must be a non-negative integer, got ${id}`);
      this.idToTok[id] = tok;
      this.tokToId.set(tok, id);
      this.setTokenBytes(id, tok);
    }
    for (const t of spec.addedTokens) {
      this.idToTok[t.id] = t.content;
      this.tokToId.set(t.content, t.id);
      if (!m.vocab.has(t.content) || t.special) this.idBytes.setUtf8(t.id, t.content);
      if (t.special) this.specialIds.add(t.id);
      this.addedByContent.set(t.content, t);
    }
    // Initial symbols.
    if (m.kind === "bytelevel") {
      for (let b = 0; b < 256; b++) {
        const id = m.vocab.get(BYTE_TO_CHAR[b]!);
        if (id === undefined) {
          throw new FormatError(
            `model.vocab: a byte-level vocabulary needs all 256 byte tokens; ${JSON.stringify(BYTE_TO_CHAR[b])} (byte 0x${b.toString(16).padStart(2, "0")}) is missing`,
          );
        }
        this.byteIds[b] = id;
      }
    } else if (m.byteFallback) {
      for (let b = 0; b < 256; b++) {
        const name = `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
        const id = m.vocab.get(name);
        if (id === undefined) throw new FormatError(`model.vocab: byte_fallback needs the 256 tokens <0x00>…<0xFF>; ${name} is missing`);
        this.byteIds[b] = id;
      }
    }
    this.unkId = m.unkToken !== null ? (m.vocab.get(m.unkToken) ?? -1) : -1;
    if (m.unkToken !== null && this.unkId < 0) throw new FormatError(`model.unk_token: ${JSON.stringify(m.unkToken)} is not in model.vocab`);
    // Merges.
    if (m.merges === "ranks") {
      // Tiktoken ranks imply one merge per token: encode the token's bytes with
      // the merges of all lower ranks; when that ends in exactly two parts
      // (a, b), then (a, b) -> token is its merge, ranked by the token's id.
      // (The same derivation Hugging Face uses to convert tiktoken files.)
      this.table = new PairTable(m.vocab.size);
      const merger = new Merger(this.table);
      const byId = [...m.vocab.values()].sort((a, b) => a - b);
      const pairs: number[] = [];
      let syms = new Int32Array(64);
      for (const id of byId) {
        const bytes = this.idBytes.get(id)!;
        if (bytes.length < 2 || this.byteIds[0]! < 0) continue;
        if (syms.length < bytes.length) syms = new Int32Array(bytes.length * 2);
        for (let i = 0; i < bytes.length; i++) syms[i] = this.byteIds[bytes[i]!]!;
        if (merger.merge(syms, bytes.length) === 2) {
          this.table.set(syms[0]!, syms[1]!, id, id);
          pairs.push(syms[0]!, syms[1]!);
        }
      }
      this.mergeIds = Int32Array.from(pairs);
    } else {
      const merges = m.merges;
      this.table = new PairTable(merges.length);
      this.mergeIds = new Int32Array(merges.length * 2);
      for (let i = 0; i < merges.length; i++) {
        const [l, r] = merges[i]!;
        const a = m.vocab.get(l);
        const b = m.vocab.get(r);
        const c = m.vocab.get(l + r);
        if (a === undefined || b === undefined || c === undefined) {
          const missing = a === undefined ? l : b === undefined ? r : l + r;
          throw new FormatError(`model.merges[${i}]: ${JSON.stringify(`${l} ${r}`)} uses ${JSON.stringify(missing)}, which is not in model.vocab`);
        }
        this.table.set(a, b, i, c);
        this.mergeIds[i * 2] = a;
        this.mergeIds[i * 2 + 1] = b;
      }
    }
    this.merger = new Merger(this.table);
    if (m.ignoreMerges) {
      for (const [tok, id] of m.vocab) {
        const s = strictUtf8(this.idBytes.get(id)!);
        if (s !== null && s.length > 0) this.direct.set(m.kind === "bytelevel" ? s : tok, id);
      }
    }
    const pt = spec.preTokenizer;
    this.re = pt.type === "bytelevel" ? compilePattern(pt.pattern, "pre_tokenizer.pattern") : null;
    const added = [...spec.addedTokens].sort((x, y) => y.content.length - x.content.length);
    this.addedRe = added.length > 0 ? new RegExp(added.map((t) => escapeRegex(t.content)).join("|"), "gu") : null;
    this.normalizeFn = makeNormalizer(spec.normalizer);
    this.normalizeNoPrepend = makeNormalizer(spec.normalizer.filter((x) => x.type !== "Prepend")) ?? ((x: string) => x);
  }

  /** Records the bytes a model token decodes to. */
  private setTokenBytes(id: number, tok: string): void {
    if (this.spec.model.kind === "bytelevel") {
      if (!this.idBytes.setByteLevel(id, tok)) this.idBytes.setUtf8(id, tok);
      return;
    }
    if (this.spec.model.byteFallback && /^<0x[0-9A-Fa-f]{2}>$/.test(tok)) return this.idBytes.set(id, Uint8Array.of(parseInt(tok.slice(3, 5), 16)));
    const pt = this.spec.preTokenizer;
    const repl = pt.type === "metaspace" ? pt.replacement : "\u2581";
    this.idBytes.setUtf8(id, tok.split(repl).join(" "));
  }

  // ---------------------------------------------------------------- factories

  /**
   * A byte-level tokenizer from tiktoken-style ranks: ranks[i] is the byte string
   * of token id i. Merges are implied: (a, b) merges when a, b and a+b are all
   * tokens, ranked by the id of a+b, which reproduces tiktoken's "merge the
   * adjacent pair whose concatenation has the lowest rank" exactly.
   */
  static fromRanks(opts: { ranks: readonly Uint8Array[]; pattern: string; specialTokens?: Record<string, number>; config?: TokenizerConfig }): Tokenizer {
    const vocab = new Map<string, number>();
    opts.ranks.forEach((bytes, id) => vocab.set(bytesToByteLevel(bytes), id));
    const pattern = (PATTERNS as Record<string, string>)[opts.pattern] ?? opts.pattern;
    return new Tokenizer({
      model: { kind: "bytelevel", vocab, merges: "ranks", byteFallback: false, unkToken: null, ignoreMerges: true },
      normalizer: [],
      preTokenizer: { type: "bytelevel", pattern, addPrefixSpace: false },
      decodeStripLeadingSpace: false,
      addedTokens: Object.entries(opts.specialTokens ?? {}).map(([content, id]) => specialToken(content, id)),
      postProcessor: { prefix: [], suffix: [] },
      config: opts.config ?? {},
    });
  }

  /** From a parsed tokenizer.json object (and tokenizer_config.json object). */
  static fromJSON(json: unknown, config?: unknown): Tokenizer {
    return new Tokenizer(parseTokenizerJson(json, config));
  }

  /** From a model directory (tokenizer.json + tokenizer_config.json) or a tokenizer.json path. */
  static fromFile(path: string): Tokenizer {
    const { json, config } = readTokenizerFiles(path);
    return Tokenizer.fromJSON(json, config);
  }

  /** The tokenizer.json object. */
  toJSON(): Record<string, unknown> {
    return toTokenizerJson(this);
  }

  /** The tokenizer_config.json object. */
  configJSON(): Record<string, unknown> {
    return toConfigJson(this);
  }

  /** Writes tokenizer.json and tokenizer_config.json into dir (each atomically). */
  save(dir: string): void {
    writeTokenizerFiles(dir, this);
  }

  // ---------------------------------------------------------------- vocabulary

  /** One more than the largest id. */
  get vocabSize(): number {
    return this.idToTok.length;
  }

  tokenToId(token: string): number | undefined {
    return this.tokToId.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.idToTok[id];
  }

  /** The exact bytes an id decodes to (undefined outside the vocabulary); what constrained decoding walks. */
  idToBytes(id: number): Uint8Array | undefined {
    return Number.isInteger(id) ? this.idBytes.get(id) : undefined;
  }

  /** Special tokens: content -> id. */
  get specialTokens(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const t of this.spec.addedTokens) if (t.special) out[t.content] = t.id;
    return out;
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** The merge list as id pairs in priority order (merges-list models only). */
  get mergePairs(): Int32Array | null {
    return this.mergeIds;
  }

  /** Every merge (a, b) -> rank, result; used by toJSON for rank-based models. */
  forEachMerge(fn: (a: number, b: number, rank: number, result: number) => void): void {
    this.table.forEach(fn);
  }

  // ---------------------------------------------------------------- encoding

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== "string") throw new UsageError(`encode: expected a string, got ${typeof text}`);
    const out: number[] = [];
    if (opts.addSpecialTokens) for (const id of this.spec.postProcessor.prefix) out.push(id);
    this.encodeText(text, opts.allowedSpecial ?? "all", out, null);
    if (opts.addSpecialTokens) for (const id of this.spec.postProcessor.suffix) out.push(id);
    return out;
  }

  encodeBatch(texts: readonly string[], opts: EncodeOptions = {}): number[][] {
    return texts.map((t) => this.encode(t, opts));
  }

  /**
   * Encodes raw bytes; invalid UTF-8 is allowed and round-trips exactly through
   * decodeBytes. Valid runs are encoded as text (special tokens are not
   * recognised); each invalid run becomes one chunk of byte symbols
   * (byte-level) or <0xXX> tokens (byte fallback).
   */
  encodeBytes(bytes: Uint8Array): number[] {
    const out: number[] = [];
    for (const run of utf8Runs(bytes)) {
      if (run.valid) {
        // Only the first run is the start of the text (SentencePiece prefix space).
        this.encodeText(utf8Decoder.decode(bytes.subarray(run.start, run.end)), "none", out, null, run.start === 0);
        continue;
      }
      const n = run.end - run.start;
      if (this.byteIds[0]! < 0) {
        if (this.unkId < 0)
          throw new UsageError("encodeBytes: invalid UTF-8 needs byte-level BPE or byte_fallback, and this tokenizer has neither (nor an unk token)");
        for (let i = 0; i < n; i++) out.push(this.unkId);
        continue;
      }
      const syms = this.symBuf(n);
      for (let i = 0; i < n; i++) syms[i] = this.byteIds[bytes[run.start + i]!]!;
      const k = this.spec.model.kind === "bytelevel" ? this.merger.merge(syms, n) : n;
      for (let i = 0; i < k; i++) out.push(syms[i]!);
    }
    return out;
  }

  /** Ids and, for each, the UTF-16 offset in `text` where its text starts (for chat masks). */
  encodeWithOffsets(text: string, opts: EncodeOptions = {}): { ids: number[]; starts: number[] } {
    const ids: number[] = [];
    const starts: number[] = [];
    this.encodeText(text, opts.allowedSpecial ?? "all", ids, starts);
    return { ids, starts };
  }

  /** Splits on added tokens, then encodes each text segment. offs (optional) receives start offsets. */
  private encodeText(text: string, allowed: "all" | "none" | readonly string[], out: number[], offs: number[] | null, atStart = true): void {
    const re = this.addedRe;
    if (re === null) {
      this.encodeSegment(text, 0, text.length, atStart, out, offs);
      return;
    }
    const allowSet = allowed === "all" || allowed === "none" ? null : new Set(allowed);
    re.lastIndex = 0;
    let pos = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      const tok = this.addedByContent.get(m[0])!;
      if (tok.special && (allowed === "none" || (allowSet !== null && !allowSet.has(tok.content)))) {
        re.lastIndex = m.index + 1;
        continue;
      }
      let segEnd = m.index;
      if (tok.lstrip) while (segEnd > pos && /\s/.test(text[segEnd - 1]!)) segEnd--;
      if (segEnd > pos) this.encodeSegment(text, pos, segEnd, atStart && pos === 0, out, offs);
      out.push(tok.id);
      if (offs) offs.push(m.index);
      pos = m.index + m[0].length;
      if (tok.rstrip) while (pos < text.length && /\s/.test(text[pos]!)) pos++;
      re.lastIndex = pos;
    }
    if (pos < text.length) this.encodeSegment(text, pos, text.length, atStart && pos === 0, out, offs);
  }

  private encodeSegment(full: string, start: number, end: number, first: boolean, out: number[], offs: number[] | null): void {
    let text = start === 0 && end === full.length ? full : full.slice(start, end);
    let shift = start; // original offset of normalized index 0
    if (this.normalizeFn) {
      // encodeBytes continues a text after an invalid run: no Prepend there.
      const fn = first || start > 0 ? this.normalizeFn : this.normalizeNoPrepend!;
      if (text.length > 0 && fn === this.normalizeFn) shift -= this.prependLen;
      text = fn(text);
    }
    const pt = this.spec.preTokenizer;
    if (pt.type === "bytelevel") {
      if (pt.addPrefixSpace && !text.startsWith(" ")) {
        text = ` ${text}`;
        shift -= 1;
      }
      const re = this.re!;
      re.lastIndex = 0;
      let pos = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(text)) !== null) {
        const piece = m[0];
        const s = m.index;
        if (piece.length === 0) {
          re.lastIndex++;
          continue;
        }
        if (s > pos) this.chunk(text.slice(pos, s), pos + shift, out, offs);
        this.chunk(piece, s + shift, out, offs);
        pos = s + piece.length;
      }
      if (pos < text.length) this.chunk(text.slice(pos), pos + shift, out, offs);
      return;
    }
    if (pt.type === "metaspace") {
      text = text.split(" ").join(pt.replacement);
      if ((pt.prependScheme === "always" && (first || start > 0)) || (pt.prependScheme === "first" && first && start === 0)) {
        if (!text.startsWith(pt.replacement)) {
          text = pt.replacement + text;
          shift -= pt.replacement.length;
        }
      }
      if (pt.split) {
        let pos = 0;
        for (let i = 1; i <= text.length; i++) {
          if (i === text.length || text.startsWith(pt.replacement, i)) {
            this.chunk(text.slice(pos, i), pos + shift, out, offs);
            pos = i;
          }
        }
        return;
      }
    }
    if (text.length > 0) this.chunk(text, shift, out, offs);
  }

  private get prependLen(): number {
    let n = 0;
    for (const s of this.spec.normalizer) if (s.type === "Prepend") n += s.prepend.length;
    return n;
  }

  /** One pre-tokenized chunk -> ids, through the cache. */
  private chunk(piece: string, at: number, out: number[], offs: number[] | null): void {
    const first = out.length;
    const c = this.cache.get(piece);
    if (c !== undefined) {
      if (typeof c === "number") out.push(c);
      else for (let i = 0; i < c.length; i++) out.push(c[i]!);
    } else {
      this.chunkMiss(piece, out);
    }
    if (offs !== null) this.chunkOffsets(piece, at, out, first, offs);
  }

  private chunkMiss(piece: string, out: number[]): void {
    const d = this.direct.size > 0 ? this.direct.get(piece) : undefined;
    let result: number | Int32Array;
    if (d !== undefined) {
      result = d;
    } else {
      const syms = this.spec.model.kind === "bytelevel" ? this.byteSymbols(piece) : this.pieceSymbols(piece);
      const n = this.merger.merge(syms.buf, syms.length);
      result = n === 1 ? syms.buf[0]! : syms.buf.slice(0, n);
    }
    if (typeof result === "number") out.push(result);
    else for (let i = 0; i < result.length; i++) out.push(result[i]!);
    if (piece.length <= CACHE_MAX_CHUNK) {
      if (this.cache.size >= CHUNK_CACHE_CAP) this.cache.clear();
      this.cache.set(piece, result);
    }
  }

  private symBuf(n: number): Int32Array {
    if (this.syms.length < n) this.syms = new Int32Array(Math.max(n, this.syms.length * 2));
    return this.syms;
  }

  /** UTF-8 bytes of piece -> byte symbol ids in this.syms. */
  private byteSymbols(piece: string): { buf: Int32Array; length: number } {
    if (this.buf.length < piece.length * 3) this.buf = new Uint8Array(piece.length * 3 + 16);
    const n = utf8Encoder.encodeInto(piece, this.buf).written;
    const syms = this.symBuf(n);
    const buf = this.buf;
    const ids = this.byteIds;
    for (let i = 0; i < n; i++) syms[i] = ids[buf[i]!]!;
    return { buf: syms, length: n };
  }

  /** Characters of a SentencePiece word -> symbol ids (byte fallback / unk for unknown characters). */
  private pieceSymbols(piece: string): { buf: Int32Array; length: number } {
    let syms = this.symBuf(piece.length * 4);
    let n = 0;
    for (const ch of piece) {
      const id = this.spec.model.vocab.get(ch);
      if (id !== undefined) syms[n++] = id;
      else if (this.spec.model.byteFallback) {
        const bytes = utf8Encoder.encode(ch);
        for (let i = 0; i < bytes.length; i++) syms[n++] = this.byteIds[bytes[i]!]!;
      } else if (this.unkId >= 0) {
        syms[n++] = this.unkId;
      }
    }
    syms = this.syms;
    return { buf: syms, length: n };
  }

  /** Start offsets for the ids out[first..] produced from `piece` (which starts at `at`). */
  private chunkOffsets(piece: string, at: number, out: number[], first: number, offs: number[]): void {
    // Map a byte offset in piece's UTF-8 to a UTF-16 offset.
    const bytes = utf8Encoder.encode(piece);
    const byteToChar = new Int32Array(bytes.length + 1);
    let b = 0;
    for (let i = 0; i < piece.length; i++) {
      const cp = piece.codePointAt(i)!;
      const len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      for (let k = 0; k < len; k++) byteToChar[b + k] = i;
      b += len;
      if (cp >= 0x10000) i++;
    }
    byteToChar[bytes.length] = piece.length;
    let pos = 0;
    for (let j = first; j < out.length; j++) {
      offs.push(Math.max(0, at + byteToChar[Math.min(pos, bytes.length)]!));
      pos += this.idBytes.length(out[j]!);
    }
  }

  // ---------------------------------------------------------------- decoding

  /** Exact bytes of the ids (invalid UTF-8 included). */
  decodeBytes(ids: readonly number[], opts: DecodeOptions = {}): Uint8Array {
    const parts: Uint8Array[] = [];
    for (const id of ids) {
      const b = Number.isInteger(id) ? this.idBytes.get(id) : undefined;
      if (b === undefined) throw new UsageError(`decode: id ${id} is outside the vocabulary (size ${this.vocabSize})`);
      if (opts.skipSpecialTokens && this.specialIds.has(id)) continue;
      parts.push(b);
    }
    let out = concatBytes(parts);
    if (this.spec.decodeStripLeadingSpace && out[0] === 0x20) out = out.subarray(1);
    return out;
  }

  /** Text of the ids; invalid UTF-8 becomes U+FFFD. */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    return utf8Decoder.decode(this.decodeBytes(ids, opts));
  }

  /** Renders messages with the chat template; ids plus an assistant-only loss mask (see chat.ts for the method). */
  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): ChatEncoding {
    return applyChatTemplate(this, messages, opts);
  }

  createStreamDecoder(opts: DecodeOptions = {}): StreamDecoder {
    const dec = new TextDecoder("utf-8", { ignoreBOM: true });
    let started = false;
    return {
      push: (id: number) => {
        let b = Number.isInteger(id) ? this.idBytes.get(id) : undefined;
        if (b === undefined) throw new UsageError(`decode: id ${id} is outside the vocabulary (size ${this.vocabSize})`);
        if (opts.skipSpecialTokens && this.specialIds.has(id)) return "";
        if (!started && b.length > 0) {
          started = true;
          if (this.spec.decodeStripLeadingSpace && b[0] === 0x20) b = b.subarray(1);
        }
        return dec.decode(b, { stream: true });
      },
      flush: () => dec.decode(),
    };
  }
}

export function specialToken(content: string, id: number): AddedToken {
  return { id, content, special: true, lstrip: false, rstrip: false, normalized: false, singleWord: false };
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
}

function makeNormalizer(steps: NormalizerStep[]): ((s: string) => string) | null {
  if (steps.length === 0) return null;
  return (s: string) => {
    for (const st of steps) {
      switch (st.type) {
        case "NFC":
        case "NFD":
        case "NFKC":
        case "NFKD":
          s = s.normalize(st.type);
          break;
        case "Lowercase":
          s = s.toLowerCase();
          break;
        case "Prepend":
          if (s.length > 0) s = st.prepend + s;
          break;
        case "Replace":
          s = s.split(st.from).join(st.to);
          break;
      }
    }
    return s;
  };
}
