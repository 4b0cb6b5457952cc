// Supervised fine-tuning data: OpenAI-style chat JSONL ({"messages": [{role,
// content}, …]} per line) read with line-numbered errors, rendered with the
// model's chat template (ChatML for tokenizers we trained), and turned into
// (inputs, targets) where only tokens of assistant turns (their content and
// end-of-turn marker) are targets; every other target is the cross-entropy
// ignore index. Unpacked, each row of a batch holds one example, padded at
// the end to the longest in the batch (padding, coming after the content,
// never influences it). Packed (SftSourceOptions.pack), a row holds several
// examples one after another, each a segment of its own (Batch.segments:
// positions restart and attention stays inside it), the loss mask kept.
// SftSource is a BatchSource for the trainer (epochs of a seeded shuffle,
// exact resume from the count of batches drawn).
// Knows nothing about models or files other than the JSONL it reads.
import { readFileSync } from "node:fs";

import { ConfigError, FormatError } from "../errors.ts";
import { chatTemplateOf, type ChatMessage, type Tokenizer } from "../tokenizer/index.ts";
import { parseJsonl } from "../util/jsonl.ts";
import { Rng } from "../util/rng.ts";
import type { Batch, BatchSource, SamplerState } from "./batches.ts";

/** The cross-entropy ignore index: targets equal to it give no loss and no gradient. */
export const IGNORE_INDEX = -100;

const ROLES = new Set(["system", "user", "assistant"]);

export interface ChatExample {
  messages: ChatMessage[];
  /** 1-based line in the file it came from (for messages). */
  line: number;
}

/** Parses chat JSONL text: one {"messages": [...]} object per non-blank line. `name` labels errors. */
export function parseChatJsonl(text: string, name = "input"): ChatExample[] {
  return parseJsonl(
    text,
    name,
    (obj, { at, line }): ChatExample => {
      const msgs = (obj as { messages?: unknown } | null)?.messages;
      if (typeof obj !== "object" || obj === null || !Array.isArray(msgs)) throw new FormatError(`${at}: expected an object with a "messages" array`);
      if (msgs.length === 0) throw new FormatError(`${at}: "messages" is empty`);
      const messages: ChatMessage[] = msgs.map((m, j) => {
        const role = (m as { role?: unknown } | null)?.role,
          content = (m as { content?: unknown } | null)?.content;
        if (typeof role !== "string" || !ROLES.has(role))
          throw new FormatError(`${at}: messages[${j}].role must be "system", "user" or "assistant", got ${JSON.stringify(role)}`);
        if (typeof content !== "string")
          throw new FormatError(`${at}: messages[${j}].content must be a string, got ${content === null ? "null" : typeof content}`);
        return { role, content };
      });
      if (!messages.some((m) => m.role === "assistant" && m.content.trim() !== ""))
        throw new FormatError(`${at}: no assistant message with content (nothing to learn from)`);
      return { messages, line };
    },
    { hint: 'each line is one object: {"messages": [{"role": "user", "content": "…"}, …]}' },
  );
}

/** Reads a chat JSONL file (see parseChatJsonl). */
export function readChatJsonl(path: string): ChatExample[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const ex = parseChatJsonl(text, path);
  if (ex.length === 0) throw new FormatError(`${path}: no examples (the file is empty)`);
  return ex;
}

/** The chat template to train with (tokenizer/chat.ts chatTemplateOf); a tokenizer with none is a ConfigError. */
export function chatTemplateFor(tok: Tokenizer, override?: string): string {
  const t = chatTemplateOf(tok, override);
  if (t === null) {
    // An empty chat_template is an explicit "no template" (chatTemplateOf), even beside ChatML tokens.
    const why =
      tok.spec.config.chat_template === ""
        ? "the model's tokenizer sets an empty chat_template (no template)"
        : "the model's tokenizer has no chat_template and no ChatML tokens (<|im_start|>, <|im_end|>)";
    throw new ConfigError(why, { hint: "pass a Jinja template with --template FILE" });
  }
  return t;
}

/** One example ready for training: inputs (T) and targets (T), targets[t] the token after t or IGNORE_INDEX. */
export interface SftExample {
  inputs: Int32Array;
  targets: Int32Array;
  /** Source line. */
  line: number;
}

export interface EncodeStats {
  examples: number;
  /** Examples cut to the context (their tail dropped). */
  truncated: number;
  /** Examples dropped because no assistant token was left after truncation. */
  dropped: number;
  /** Assistant (target) tokens in total. */
  targetTokens: number;
}

/**
 * Renders and tokenizes examples: the model reads ids[0..n-2] and predicts ids[1..n-1]; a
 * prediction is trained only when the predicted token belongs to an assistant turn.
 * Examples longer than maxLen + 1 tokens are truncated at the end.
 */
export function encodeExamples(
  tok: Tokenizer,
  examples: readonly ChatExample[],
  maxLen: number,
  template?: string,
): { examples: SftExample[]; stats: EncodeStats } {
  const tpl = chatTemplateFor(tok, template);
  const out: SftExample[] = [];
  const stats: EncodeStats = { examples: 0, truncated: 0, dropped: 0, targetTokens: 0 };
  for (const ex of examples) {
    let enc;
    try {
      enc = tok.applyChatTemplate(ex.messages, { template: tpl });
    } catch (e) {
      throw new FormatError(`line ${ex.line}: ${(e as Error).message}`, { cause: e });
    }
    let n = enc.ids.length;
    if (n > maxLen + 1) {
      n = maxLen + 1;
      stats.truncated++;
    }
    if (n < 2) {
      stats.dropped++;
      continue;
    }
    const inputs = new Int32Array(n - 1),
      targets = new Int32Array(n - 1);
    let count = 0;
    for (let t = 0; t < n - 1; t++) {
      inputs[t] = enc.ids[t]!;
      const trained = enc.assistantMask[t + 1] === 1;
      targets[t] = trained ? enc.ids[t + 1]! : IGNORE_INDEX;
      if (trained) count++;
    }
    if (count === 0) {
      stats.dropped++;
      continue;
    }
    stats.targetTokens += count;
    out.push({ inputs, targets, line: ex.line });
  }
  stats.examples = out.length;
  return { examples: out, stats };
}

/** Splits examples into train and validation: a seeded shuffle, then `valFraction` of them (at least 1 when there are 2+) held out. */
export function splitExamples<T>(examples: readonly T[], valFraction: number, seed: number): { train: T[]; val: T[] } {
  if (!(valFraction >= 0 && valFraction < 1)) throw new ConfigError(`validation fraction must be in [0, 1), got ${valFraction}`);
  const order = new Rng(seed).shuffle([...examples.keys()]);
  const nVal = valFraction === 0 || examples.length < 2 ? 0 : Math.max(1, Math.round(examples.length * valFraction));
  return {
    val: order
      .slice(0, nVal)
      .sort((a, b) => a - b)
      .map((i) => examples[i]!),
    train: order.slice(nVal).map((i) => examples[i]!),
  };
}

/** Fills rows of `out` with examples, padded to the longest (inputs with `padId`, targets with the ignore index). */
function fill(rows: readonly SftExample[], inputs: Int32Array, targets: Int32Array, padId: number): Batch {
  let T = 1;
  for (const r of rows) T = Math.max(T, r.inputs.length);
  const inp = inputs.subarray(0, rows.length * T),
    tgt = targets.subarray(0, rows.length * T);
  inp.fill(padId);
  tgt.fill(IGNORE_INDEX);
  let tokens = 0;
  rows.forEach((r, b) => {
    inp.set(r.inputs, b * T);
    tgt.set(r.targets, b * T);
    tokens += r.inputs.length;
  });
  return { inputs: inp, targets: tgt, batch: rows.length, seqLen: T, tokens };
}

/**
 * Fills rows of `out` with packed examples: each row holds its examples one after another, then
 * padding to the longest row (merged into the row's last segment: under causal attention a real
 * token never sees a later pad). segments: each example's length, in row order.
 */
function fillPacked(rows: readonly SftExample[][], inputs: Int32Array, targets: Int32Array, padId: number): Batch {
  let T = 1;
  for (const r of rows)
    T = Math.max(
      T,
      r.reduce((n, e) => n + e.inputs.length, 0),
    );
  const inp = inputs.subarray(0, rows.length * T),
    tgt = targets.subarray(0, rows.length * T);
  inp.fill(padId);
  tgt.fill(IGNORE_INDEX);
  const segments: number[] = [];
  let tokens = 0;
  rows.forEach((row, b) => {
    let at = b * T;
    for (const e of row) {
      inp.set(e.inputs, at);
      tgt.set(e.targets, at);
      at += e.inputs.length;
      segments.push(e.inputs.length);
    }
    tokens += at - b * T;
    segments[segments.length - 1]! += (b + 1) * T - at;
  });
  return { inputs: inp, targets: tgt, batch: rows.length, seqLen: T, segments: Int32Array.from(segments), tokens };
}

/** Rows of `rowLen` tokens that greedy packing fills with `lengths` in this order (for step counts). */
export function packedRows(lengths: Iterable<number>, rowLen: number): number {
  let rows = 0,
    used = rowLen;
  for (const n of lengths) {
    if (used + n > rowLen) {
      rows++;
      used = 0;
    }
    used += n;
  }
  return rows;
}

/**
 * Training batches of SFT examples: epochs over a seeded shuffle (epoch e's order depends only
 * on seed and e), `batch` examples per batch, each batch padded to its longest example.
 */
export interface SftSourceOptions {
  /**
   * Pack several examples per row (greedily, in draw order) up to `rowLen` tokens, each example
   * its own segment (Batch.segments). `batch` is then rows per batch, not examples. Default false.
   */
  pack?: boolean;
  /** Tokens per packed row. Default: the longest example. */
  rowLen?: number;
}

export class SftSource implements BatchSource {
  private drawn = 0;
  /** Examples taken so far (packing takes a varying number per batch). */
  private consumed = 0;
  private epoch = -1;
  private order: number[] = [];
  private readonly inputs: Int32Array;
  private readonly targets: Int32Array;
  private readonly pack: boolean;
  private readonly rowLen: number;

  constructor(
    private readonly examples: readonly SftExample[],
    readonly batch: number,
    private readonly seed: number,
    private readonly padId = 0,
    opts: SftSourceOptions = {},
  ) {
    if (examples.length === 0) throw new ConfigError("no training examples");
    if (!Number.isInteger(batch) || batch < 1) throw new ConfigError(`batch must be an integer >= 1, got ${batch}`);
    let maxT = 1;
    for (const e of examples) maxT = Math.max(maxT, e.inputs.length);
    this.pack = opts.pack ?? false;
    this.rowLen = opts.rowLen ?? maxT;
    if (this.pack && !(Number.isInteger(this.rowLen) && this.rowLen >= maxT))
      throw new ConfigError(`packed rows of ${this.rowLen} tokens cannot hold the longest example (${maxT} tokens)`);
    if (this.pack) maxT = this.rowLen;
    this.inputs = new Int32Array(batch * maxT);
    this.targets = new Int32Array(batch * maxT);
  }

  /** The next batch's rows of examples under packing (advances the draw). */
  private packRows(): SftExample[][] {
    const rows: SftExample[][] = [];
    for (let i = 0; i < this.batch; i++) {
      const row: SftExample[] = [];
      let used = 0;
      for (;;) {
        const e = this.at(this.consumed);
        if (row.length > 0 && used + e.inputs.length > this.rowLen) break;
        row.push(e);
        used += e.inputs.length;
        this.consumed++;
      }
      rows.push(row);
    }
    this.drawn++;
    return rows;
  }

  private at(k: number): SftExample {
    const n = this.examples.length;
    const e = Math.floor(k / n);
    if (e !== this.epoch) {
      this.order = new Rng(this.seed * 1_000_003 + e).shuffle([...this.examples.keys()]);
      this.epoch = e;
    }
    return this.examples[this.order[k % n]!]!;
  }

  next(): Batch {
    if (this.pack) return fillPacked(this.packRows(), this.inputs, this.targets, this.padId);
    const rows: SftExample[] = [];
    for (let i = 0; i < this.batch; i++) rows.push(this.at(this.drawn * this.batch + i));
    this.drawn++;
    return fill(rows, this.inputs, this.targets, this.padId);
  }

  get batchesDrawn(): number {
    return this.drawn;
  }

  /** Passes over the training examples so far. */
  get epochs(): number {
    return (this.pack ? this.consumed : this.drawn * this.batch) / this.examples.length;
  }

  /** The order is a function of (seed, batches drawn); rng records the seed's generator state for the record. */
  state(): SamplerState {
    return { rng: new Rng(this.seed).getState(), drawn: this.drawn };
  }

  restore(s: SamplerState): void {
    if (!Number.isInteger(s?.drawn) || s.drawn < 0) throw new FormatError("SFT sampler state: expected {drawn: integer >= 0}");
    if (!this.pack) {
      this.drawn = s.drawn;
      return;
    }
    // Packing takes a varying number of examples per batch: replay the draws (lengths only).
    this.drawn = 0;
    this.consumed = 0;
    while (this.drawn < s.drawn) this.packRows();
  }
}

/** The validation batches: every held-out example in order, `batch` per batch (at most maxBatches). */
export function sftValidation(examples: readonly SftExample[], batch: number, maxBatches = Infinity, padId = 0): () => Iterable<Batch> {
  let maxT = 1;
  for (const e of examples) maxT = Math.max(maxT, e.inputs.length);
  const inputs = new Int32Array(batch * maxT),
    targets = new Int32Array(batch * maxT);
  return function* () {
    for (let i = 0, nb = 0; i < examples.length && nb < maxBatches; i += batch, nb++) yield fill(examples.slice(i, i + batch), inputs, targets, padId);
  };
}
