// Preference data for DPO / ORPO: TRL's preference format, one JSON object per
// line with "prompt", "chosen" and "rejected", either strings (the prompt
// becomes one user turn, each completion one assistant turn) or message lists
// (the prompt a conversation, each completion its assistant turns); without
// "prompt", chosen and rejected are whole conversations and their common
// leading messages are the prompt (TRL's implicit prompt). Read with
// file:line errors. Each pair is rendered with the model's chat template, as
// SFT renders (sft.ts chatTemplateFor), and tokenized twice (prompt + chosen,
// prompt + rejected); targets are the completion's assistant tokens only
// (content and end-of-turn marker), so a sequence's log-probability is the sum
// over its completion. PreferenceSource hands the trainer batches of 2·n rows:
// the n chosen sequences, then the n rejected ones, padded to the longest.
// Knows nothing about models or losses.
import { readFileSync } from "node:fs";

import { ConfigError, FormatError } from "../errors.ts";
import type { ChatMessage, Tokenizer } from "../tokenizer/index.ts";
import { parseJsonl } from "../util/jsonl.ts";
import { Rng } from "../util/rng.ts";
import type { Batch, BatchSource, SamplerState } from "./batches.ts";
import { IGNORE_INDEX, chatTemplateFor, type SftExample } from "./sft.ts";

const ROLES = new Set(["system", "user", "assistant"]);

export interface PreferenceExample {
  /** The conversation so far (ends before the completions). */
  prompt: ChatMessage[];
  /** Preferred and dispreferred completions: assistant turns. */
  chosen: ChatMessage[];
  rejected: ChatMessage[];
  /** 1-based line in the file it came from. */
  line: number;
}

const HINT =
  'each line is {"prompt": "…", "chosen": "…", "rejected": "…"}, or with message lists: {"prompt": [{"role": "user", "content": "…"}], "chosen": [{"role": "assistant", "content": "…"}], "rejected": […]}';

function messages(v: unknown, at: string, field: string): ChatMessage[] {
  if (!Array.isArray(v))
    throw new FormatError(`${at}: "${field}" must be a string or a list of messages, got ${v === null ? "null" : typeof v}`, { hint: HINT });
  return v.map((m, j) => {
    const role = (m as { role?: unknown } | null)?.role,
      content = (m as { content?: unknown } | null)?.content;
    if (typeof role !== "string" || !ROLES.has(role))
      throw new FormatError(`${at}: ${field}[${j}].role must be "system", "user" or "assistant", got ${JSON.stringify(role)}`);
    if (typeof content !== "string") throw new FormatError(`${at}: ${field}[${j}].content must be a string, got ${content === null ? "null" : typeof content}`);
    return { role, content };
  });
}

function completion(v: unknown, at: string, field: string): ChatMessage[] {
  if (typeof v === "string") return [{ role: "assistant", content: v }];
  const ms = messages(v, at, field);
  if (ms.length === 0) throw new FormatError(`${at}: "${field}" is empty`);
  ms.forEach((m, j) => {
    if (m.role !== "assistant")
      throw new FormatError(`${at}: ${field}[${j}] is a ${m.role} message; a completion holds assistant messages only`, {
        hint: 'put the conversation so far in "prompt"',
      });
  });
  return ms;
}

function sameMessage(a: ChatMessage, b: ChatMessage): boolean {
  return a.role === b.role && a.content === b.content;
}

/** Parses preference JSONL text (see the file comment). `name` labels errors. */
export function parsePreferenceJsonl(text: string, name = "input"): PreferenceExample[] {
  return parseJsonl(
    text,
    name,
    (obj, { at, line }): PreferenceExample => {
      if (typeof obj !== "object" || obj === null || Array.isArray(obj))
        throw new FormatError(`${at}: expected an object with "prompt", "chosen" and "rejected"`, { hint: HINT });
      const o = obj as { prompt?: unknown; chosen?: unknown; rejected?: unknown };
      for (const k of ["chosen", "rejected"] as const) if (o[k] === undefined) throw new FormatError(`${at}: missing "${k}"`, { hint: HINT });
      let prompt: ChatMessage[], chosen: ChatMessage[], rejected: ChatMessage[];
      if (o.prompt === undefined) {
        // Implicit prompt: two whole conversations; the prompt is what they share at the start.
        if (typeof o.chosen === "string" || typeof o.rejected === "string")
          throw new FormatError(`${at}: missing "prompt" (strings need one; only message lists can share an implicit prompt)`, { hint: HINT });
        const c = messages(o.chosen, at, "chosen"),
          r = messages(o.rejected, at, "rejected");
        let k = 0;
        while (k < c.length && k < r.length && sameMessage(c[k]!, r[k]!)) k++;
        while (k > 0 && c[k - 1]!.role === "assistant") k--; // a shared assistant turn at the end belongs to the completions
        prompt = c.slice(0, k);
        chosen = completion(c.slice(k), at, "chosen");
        rejected = completion(r.slice(k), at, "rejected");
        if (prompt.length === 0) throw new FormatError(`${at}: no "prompt", and chosen and rejected share no leading messages`, { hint: HINT });
      } else {
        prompt = typeof o.prompt === "string" ? [{ role: "user", content: o.prompt }] : messages(o.prompt, at, "prompt");
        if (prompt.length === 0) throw new FormatError(`${at}: "prompt" is empty`);
        chosen = completion(o.chosen, at, "chosen");
        rejected = completion(o.rejected, at, "rejected");
      }
      for (const [k, c] of [
        ["chosen", chosen],
        ["rejected", rejected],
      ] as const) {
        if (!c.some((m) => m.content.trim() !== "")) throw new FormatError(`${at}: "${k}" has no content`);
      }
      if (chosen.length === rejected.length && chosen.every((m, j) => sameMessage(m, rejected[j]!)))
        throw new FormatError(`${at}: "chosen" and "rejected" are the same (nothing to prefer)`);
      return { prompt, chosen, rejected, line };
    },
    { hint: HINT },
  );
}

/** Reads a preference JSONL file (see parsePreferenceJsonl). */
export function readPreferenceJsonl(path: string): PreferenceExample[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const ex = parsePreferenceJsonl(text, path);
  if (ex.length === 0) throw new FormatError(`${path}: no preference pairs (the file is empty)`);
  return ex;
}

/** One pair ready for training: prompt + chosen and prompt + rejected, targets on the completions only. */
export interface PreferencePair {
  chosen: SftExample;
  rejected: SftExample;
  /** Completion tokens (targets) of each side. */
  chosenTokens: number;
  rejectedTokens: number;
  line: number;
}

export interface PreferenceEncodeStats {
  pairs: number;
  /** Pairs with a side cut to the context (its tail dropped). */
  truncated: number;
  /** Pairs dropped because a side had no completion token left after truncation. */
  dropped: number;
  /** Completion tokens in total (both sides). */
  targetTokens: number;
}

/** The prompt's token count as the model sees it before answering (with the template's generation prompt). */
function promptLength(tok: Tokenizer, prompt: readonly ChatMessage[], template: string): number {
  return tok.applyChatTemplate(prompt, { template, addGenerationPrompt: true }).ids.length;
}

function encodeSide(
  tok: Tokenizer,
  prompt: readonly ChatMessage[],
  side: readonly ChatMessage[],
  promptLen: number,
  maxLen: number,
  template: string,
): { ex: SftExample; count: number; cut: boolean } | null {
  const enc = tok.applyChatTemplate([...prompt, ...side], { template });
  let n = enc.ids.length,
    cut = false;
  if (n > maxLen + 1) {
    n = maxLen + 1;
    cut = true;
  }
  if (n < 2) return null;
  const inputs = new Int32Array(n - 1),
    targets = new Int32Array(n - 1);
  let count = 0;
  for (let t = 0; t < n - 1; t++) {
    inputs[t] = enc.ids[t]!;
    // A target is a completion token: an assistant token past the prompt (and its generation prompt).
    const trained = t + 1 >= promptLen && enc.assistantMask[t + 1] === 1;
    targets[t] = trained ? enc.ids[t + 1]! : IGNORE_INDEX;
    if (trained) count++;
  }
  return count === 0 ? null : { ex: { inputs, targets, line: 0 }, count, cut };
}

/**
 * Renders and tokenizes pairs with the model's chat template (or `template`). Sequences longer
 * than maxLen + 1 tokens are cut at the end; a pair with a side left without completion tokens
 * is dropped (counted in the stats).
 */
export function encodePreferences(
  tok: Tokenizer,
  examples: readonly PreferenceExample[],
  maxLen: number,
  template?: string,
): { pairs: PreferencePair[]; stats: PreferenceEncodeStats } {
  const tpl = chatTemplateFor(tok, template);
  const pairs: PreferencePair[] = [];
  const stats: PreferenceEncodeStats = { pairs: 0, truncated: 0, dropped: 0, targetTokens: 0 };
  for (const ex of examples) {
    let c, r;
    try {
      const p = promptLength(tok, ex.prompt, tpl);
      c = encodeSide(tok, ex.prompt, ex.chosen, p, maxLen, tpl);
      r = encodeSide(tok, ex.prompt, ex.rejected, p, maxLen, tpl);
    } catch (e) {
      throw new FormatError(`line ${ex.line}: ${(e as Error).message}`, { cause: e });
    }
    if (c === null || r === null) {
      stats.dropped++;
      continue;
    }
    if (c.cut || r.cut) stats.truncated++;
    c.ex.line = r.ex.line = ex.line;
    stats.targetTokens += c.count + r.count;
    pairs.push({ chosen: c.ex, rejected: r.ex, chosenTokens: c.count, rejectedTokens: r.count, line: ex.line });
  }
  stats.pairs = pairs.length;
  return { pairs, stats };
}

/** A batch of n pairs: rows 0..n-1 the chosen sequences, rows n..2n-1 the rejected ones. */
export interface PreferenceBatch extends Batch {
  /** Index of each pair in the source's pair list (n). */
  pairIds: Int32Array;
}

/** Fills 2·n rows (chosen, then rejected), padded to the longest. */
export function fillPreferenceBatch(
  pairs: readonly PreferencePair[],
  ids: readonly number[],
  padId: number,
  inputs?: Int32Array,
  targets?: Int32Array,
): PreferenceBatch {
  const n = ids.length;
  let T = 1;
  for (const i of ids) T = Math.max(T, pairs[i]!.chosen.inputs.length, pairs[i]!.rejected.inputs.length);
  const inp = inputs ? inputs.subarray(0, 2 * n * T) : new Int32Array(2 * n * T);
  const tgt = targets ? targets.subarray(0, 2 * n * T) : new Int32Array(2 * n * T);
  inp.fill(padId);
  tgt.fill(IGNORE_INDEX);
  let tokens = 0;
  ids.forEach((i, b) => {
    const p = pairs[i]!;
    inp.set(p.chosen.inputs, b * T);
    tgt.set(p.chosen.targets, b * T);
    inp.set(p.rejected.inputs, (n + b) * T);
    tgt.set(p.rejected.targets, (n + b) * T);
    tokens += p.chosen.inputs.length + p.rejected.inputs.length;
  });
  return { inputs: inp, targets: tgt, batch: 2 * n, seqLen: T, tokens, pairIds: Int32Array.from(ids) };
}

/** Training batches of pairs: epochs over a seeded shuffle (epoch e's order depends only on seed and e), `pairs` pairs per batch. */
export class PreferenceSource implements BatchSource {
  private drawn = 0;
  private epoch = -1;
  private order: number[] = [];
  private readonly inputs: Int32Array;
  private readonly targets: Int32Array;

  constructor(
    private readonly pairs: readonly PreferencePair[],
    readonly pairsPerBatch: number,
    private readonly seed: number,
    private readonly padId = 0,
  ) {
    if (pairs.length === 0) throw new ConfigError("no preference pairs to train on");
    if (!Number.isInteger(pairsPerBatch) || pairsPerBatch < 1) throw new ConfigError(`batch must be an integer >= 1, got ${pairsPerBatch}`);
    let maxT = 1;
    for (const p of pairs) maxT = Math.max(maxT, p.chosen.inputs.length, p.rejected.inputs.length);
    this.inputs = new Int32Array(2 * pairsPerBatch * maxT);
    this.targets = new Int32Array(2 * pairsPerBatch * maxT);
  }

  private at(k: number): number {
    const n = this.pairs.length,
      e = Math.floor(k / n);
    if (e !== this.epoch) {
      this.order = new Rng(this.seed * 1_000_003 + e).shuffle([...this.pairs.keys()]);
      this.epoch = e;
    }
    return this.order[k % n]!;
  }

  next(): PreferenceBatch {
    const ids: number[] = [];
    for (let i = 0; i < this.pairsPerBatch; i++) ids.push(this.at(this.drawn * this.pairsPerBatch + i));
    this.drawn++;
    return fillPreferenceBatch(this.pairs, ids, this.padId, this.inputs, this.targets);
  }

  get batchesDrawn(): number {
    return this.drawn;
  }

  state(): SamplerState {
    return { rng: new Rng(this.seed).getState(), drawn: this.drawn };
  }

  restore(s: SamplerState): void {
    if (!Number.isInteger(s?.drawn) || s.drawn < 0) throw new FormatError("preference sampler state: expected {drawn: integer >= 0}");
    this.drawn = s.drawn;
  }
}
