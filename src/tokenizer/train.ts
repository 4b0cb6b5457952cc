// Byte-level BPE training. Text streams in (file paths, or any iterable /
// async iterable of strings); it is cut on special tokens, pre-tokenized with
// a named regex, and only the chunk -> frequency table is kept, so memory is
// bounded by the number of distinct chunks (capped, see maxChunks), never by
// the corpus size. Then the classic merge loop runs with incremental pair
// counts: pair -> count, pair -> the words that contain it, and a lazy
// max-heap to find the most frequent pair.
// Determinism: ties between equally frequent pairs go to the smaller
// (left id, right id), so the same input and options give the same merges.
// Knows nothing about models or the CLI; prints nothing (progress goes to a callback).
import { createReadStream, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

import { ConfigError, UsageError } from "../errors.ts";
import { BYTE_TO_CHAR, utf8Encoder } from "./bytes.ts";
import { isPatternName, PATTERNS, type PatternName } from "./pretokenize.ts";
import { specialToken, Tokenizer, type TokenizerConfig } from "./tokenizer.ts";
import { CHATML_TEMPLATE } from "./chat.ts";

export interface TrainProgress {
  phase: "count" | "merge" | "done";
  /** UTF-16 characters read so far (count phase). */
  chars: number;
  /** Distinct chunks held in the frequency table. */
  chunks: number;
  merges: number;
  targetMerges: number;
}

export interface TrainOptions {
  /** Final vocabulary size, special tokens included (>= 256 + specials). */
  vocabSize: number;
  /** Pre-tokenizer regex: gpt2, cl100k, llama3, o200k, qwen. Default "cl100k". */
  pattern?: PatternName;
  /** Special tokens, appended after the merged tokens. Default: <|endoftext|>, <|pad|>, <|im_start|>, <|im_end|>. */
  specialTokens?: string[];
  /** Pairs seen fewer times than this are never merged. Default 2. */
  minFrequency?: number;
  /**
   * Cap on distinct chunks held while counting (default 1 000 000). Past it,
   * chunks seen fewer than k times are dropped (k = 2, 3, … until the table is
   * at most half the cap). Dropped chunks lose the counts seen so far; frequent
   * chunks are unaffected, so merges differ from exact counting only in the
   * long tail.
   */
  maxChunks?: number;
  onProgress?: (p: TrainProgress) => void;
  /** Extra tokenizer_config.json fields (chat_template defaults to ChatML). */
  config?: TokenizerConfig;
}

export const DEFAULT_SPECIAL_TOKENS = ["<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>"];

/** Files under the given paths (directories recursively, hidden entries skipped), sorted. */
export function listInputFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new UsageError(`input ${p} does not exist`);
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(p).sort()) if (!e.startsWith(".")) walk(join(p, e));
    } else if (st.isFile()) out.push(p);
  };
  for (const p of paths) walk(p);
  return out;
}

async function* readFiles(files: string[]): AsyncGenerator<string> {
  for (const f of files) {
    for await (const piece of createReadStream(f, { encoding: "utf8", highWaterMark: 1 << 20 })) yield piece as string;
    yield "\n";
  }
}

/** Counts pre-tokenized chunks of a text stream, bounded by maxChunks. */
export class ChunkCounter {
  readonly counts = new Map<string, number>();
  chars = 0;
  private carry = "";
  private readonly re: RegExp;
  private readonly specialRe: RegExp | null;

  constructor(
    pattern: string,
    specials: string[],
    private readonly maxChunks: number,
  ) {
    this.re = new RegExp(pattern, "gu");
    this.specialRe = specials.length > 0 ? new RegExp(specials.map((s) => s.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&")).join("|"), "gu") : null;
  }

  /** Adds a piece of a stream; a trailing partial line is held until the next piece or end(). */
  add(piece: string): void {
    this.chars += piece.length;
    let text = this.carry + piece;
    // Cut after the last newline followed by non-space, so chunks rarely straddle pieces.
    let cut = -1;
    for (let i = text.length - 2; i >= 0 && i >= text.length - 65536; i--) {
      if (text.charCodeAt(i) === 10 && !/\s/.test(text[i + 1]!)) {
        cut = i + 1;
        break;
      }
    }
    if (cut < 0 && text.length < 1 << 20) {
      this.carry = text;
      return;
    }
    if (cut < 0) cut = text.length;
    this.carry = text.slice(cut);
    text = text.slice(0, cut);
    this.countText(text);
  }

  /** Counts a whole document (no carry). */
  addDocument(text: string): void {
    this.chars += text.length;
    this.countText(text);
  }

  end(): void {
    if (this.carry) this.countText(this.carry);
    this.carry = "";
  }

  private countText(text: string): void {
    if (this.specialRe) {
      // Special tokens are never merged across: they only separate text.
      for (const part of text.split(this.specialRe)) this.countPart(part);
    } else this.countPart(text);
  }

  private countPart(text: string): void {
    const re = this.re;
    const counts = this.counts;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      const s = m[0];
      if (s.length === 0) {
        re.lastIndex++;
        continue;
      }
      counts.set(s, (counts.get(s) ?? 0) + 1);
    }
    if (counts.size > this.maxChunks) this.prune();
  }

  private prune(): void {
    for (let k = 2; this.counts.size > this.maxChunks / 2; k++) {
      for (const [s, c] of this.counts) if (c < k) this.counts.delete(s);
    }
  }
}

const KEY = 0x200000; // pair key = left * KEY + right (ids < 2^21)

/** Trains a byte-level BPE tokenizer. `source`: an array of file/directory paths, or an (async) iterable of texts. */
export async function trainBpe(source: readonly string[] | AsyncIterable<string> | Iterable<string>, opts: TrainOptions): Promise<Tokenizer> {
  const patternName = opts.pattern ?? "cl100k";
  if (!isPatternName(patternName)) throw new ConfigError(`pattern "${String(patternName)}" is unknown; choose one of ${Object.keys(PATTERNS).join(", ")}`);
  const specials = opts.specialTokens ?? DEFAULT_SPECIAL_TOKENS;
  if (new Set(specials).size !== specials.length || specials.some((s) => s.length === 0))
    throw new ConfigError("specialTokens must be distinct non-empty strings");
  const numMerges = opts.vocabSize - 256 - specials.length;
  if (!Number.isInteger(opts.vocabSize) || numMerges < 0 || opts.vocabSize >= KEY) {
    throw new ConfigError(`vocabSize must be an integer in [${256 + specials.length}, ${KEY}), got ${opts.vocabSize}`, {
      hint: "256 byte tokens and the special tokens are always in the vocabulary",
    });
  }
  const minFrequency = opts.minFrequency ?? 2;
  const counter = new ChunkCounter(PATTERNS[patternName], specials, opts.maxChunks ?? 1_000_000);
  const progress = (phase: TrainProgress["phase"], merges: number) =>
    opts.onProgress?.({ phase, chars: counter.chars, chunks: counter.counts.size, merges, targetMerges: numMerges });

  // 1. Count chunks, streaming. 2. Words: byte ids of each distinct chunk, with its count, and where each pair occurs.
  await countChunks(source, counter, () => progress("count", 0));
  progress("count", 0);
  const { words, wcount, pairCount, where } = pairIndex(counter);

  // Lazy max-heap on (count desc, key asc).
  const hc: number[] = [];
  const hk: number[] = [];
  const better = (i: number, j: number) => hc[i]! > hc[j]! || (hc[i] === hc[j] && hk[i]! < hk[j]!);
  const swap = (i: number, j: number) => {
    [hc[i], hc[j]] = [hc[j]!, hc[i]!];
    [hk[i], hk[j]] = [hk[j]!, hk[i]!];
  };
  const push = (c: number, k: number) => {
    let i = hc.length;
    hc.push(c);
    hk.push(k);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!better(i, p)) break;
      swap(i, p);
      i = p;
    }
  };
  const pop = () => {
    const last = hc.length - 1;
    swap(0, last);
    hc.pop();
    hk.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= hc.length) break;
      const r = l + 1;
      const c = r < hc.length && better(r, l) ? r : l;
      if (!better(c, i)) break;
      swap(c, i);
      i = c;
    }
  };
  for (const [k, c] of pairCount) push(c, k);

  // 3. Merge loop.
  const merges: Array<[number, number]> = [];
  const seen = new Int32Array(words.length).fill(-1);
  while (merges.length < numMerges && hc.length > 0) {
    const c = hc[0]!;
    const k = hk[0]!;
    pop();
    const cur = pairCount.get(k) ?? 0;
    if (cur !== c) {
      if (cur > 0) push(cur, k); // stale entry: requeue with the current count
      continue;
    }
    if (c < minFrequency) break;
    const a = Math.floor(k / KEY);
    const b = k % KEY;
    const id = 256 + merges.length;
    merges.push([a, b]);
    const touched = new Set<number>();
    for (const w of where.get(k) ?? []) {
      if (seen[w] === id) continue;
      seen[w] = id;
      const ws = words[w]!;
      let has = false;
      for (let i = 0; i + 1 < ws.length; i++) if (ws[i] === a && ws[i + 1] === b) has = true;
      if (!has) continue;
      const cnt = wcount[w]!;
      for (let i = 0; i + 1 < ws.length; i++) {
        const pk = ws[i]! * KEY + ws[i + 1]!;
        pairCount.set(pk, pairCount.get(pk)! - cnt);
      }
      const nw: number[] = [];
      for (let i = 0; i < ws.length; i++) {
        if (i + 1 < ws.length && ws[i] === a && ws[i + 1] === b) {
          nw.push(id);
          i++;
        } else nw.push(ws[i]!);
      }
      const next = Int32Array.from(nw);
      words[w] = next;
      for (let i = 0; i + 1 < next.length; i++) {
        const pk = next[i]! * KEY + next[i + 1]!;
        pairCount.set(pk, (pairCount.get(pk) ?? 0) + cnt);
        if (next[i] === id || next[i + 1] === id) {
          touched.add(pk);
          const list = where.get(pk);
          if (list === undefined) where.set(pk, [w]);
          else if (list[list.length - 1] !== w) list.push(w);
        }
      }
    }
    pairCount.delete(k);
    where.delete(k);
    for (const pk of touched) {
      const pc = pairCount.get(pk) ?? 0;
      if (pc > 0) push(pc, pk);
    }
    if (merges.length % 500 === 0) progress("merge", merges.length);
  }
  progress("done", merges.length);
  return buildTokenizer(merges, specials, PATTERNS[patternName], opts.config);
}

/** Step 1 of trainBpe: every chunk of the source counted (files streamed in pieces, or documents); `report` about every 4 MiB. */
async function countChunks(source: readonly string[] | AsyncIterable<string> | Iterable<string>, counter: ChunkCounter, report: () => void): Promise<void> {
  let lastReport = 0;
  const reportNow = () => {
    if (counter.chars - lastReport > 4 << 20) {
      lastReport = counter.chars;
      report();
    }
  };
  if (Array.isArray(source)) {
    const files = listInputFiles(source as string[]);
    if (files.length === 0) throw new UsageError(`no input files under ${(source as string[]).join(", ")}`);
    for await (const piece of readFiles(files)) {
      counter.add(piece);
      reportNow();
    }
    counter.end();
    return;
  }
  for await (const doc of source as AsyncIterable<string>) {
    if (typeof doc !== "string") throw new UsageError(`trainBpe: the source yielded a ${typeof doc}, expected strings`);
    counter.addDocument(doc);
    reportNow();
  }
}

/**
 * Step 2 of trainBpe: the byte ids of each distinct chunk of two bytes or more (words) with its
 * count, every adjacent pair's total count, and the words each pair occurs in (the counter is emptied).
 */
function pairIndex(counter: ChunkCounter): { words: Int32Array[]; wcount: number[]; pairCount: Map<number, number>; where: Map<number, number[]> } {
  const words: Int32Array[] = [];
  const wcount: number[] = [];
  for (const [s, c] of counter.counts) {
    const b = utf8Encoder.encode(s);
    if (b.length < 2) continue;
    words.push(Int32Array.from(b));
    wcount.push(c);
  }
  counter.counts.clear();

  const pairCount = new Map<number, number>();
  const where = new Map<number, number[]>(); // pair -> word indices (may hold stale entries)
  for (let w = 0; w < words.length; w++) {
    const ws = words[w]!;
    const c = wcount[w]!;
    for (let i = 0; i + 1 < ws.length; i++) {
      const k = ws[i]! * KEY + ws[i + 1]!;
      pairCount.set(k, (pairCount.get(k) ?? 0) + c);
      const list = where.get(k);
      if (list === undefined) where.set(k, [w]);
      else if (list[list.length - 1] !== w) list.push(w);
    }
  }
  return { words, wcount, pairCount, where };
}

/** The Tokenizer for a trained merge list: ids 0-255 bytes, then merges, then special tokens. */
function buildTokenizer(merges: Array<[number, number]>, specials: string[], pattern: string, config?: TokenizerConfig): Tokenizer {
  const tokens: string[] = [];
  for (let b = 0; b < 256; b++) tokens.push(BYTE_TO_CHAR[b]!);
  const mergeStrings: Array<[string, string]> = [];
  for (const [a, b] of merges) {
    mergeStrings.push([tokens[a]!, tokens[b]!]);
    tokens.push(tokens[a]! + tokens[b]!);
  }
  const vocab = new Map<string, number>();
  tokens.forEach((t, i) => vocab.set(t, i));
  const has = (s: string) => specials.includes(s);
  const cfg: TokenizerConfig = {
    chat_template: CHATML_TEMPLATE,
    bos_token: has("<|endoftext|>") ? "<|endoftext|>" : null,
    eos_token: has("<|endoftext|>") ? "<|endoftext|>" : null,
    pad_token: has("<|pad|>") ? "<|pad|>" : null,
    ...config,
  };
  return new Tokenizer({
    model: { kind: "bytelevel", vocab, merges: mergeStrings, byteFallback: false, unkToken: null, ignoreMerges: false },
    normalizer: [],
    preTokenizer: { type: "bytelevel", pattern, addPrefixSpace: false },
    decodeStripLeadingSpace: false,
    addedTokens: specials.map((s, i) => specialToken(s, tokens.length + i)),
    postProcessor: { prefix: [], suffix: [] },
    config: cfg,
  });
}
