// Side-by-side comparison of models on one domain: bits per byte on the
// domain's held-out text (tokenized by each model's own tokenizer, so models
// with different vocabularies compare fairly; perplexity per token is given
// too but only compares models sharing a tokenizer), QA figures from runQa,
// parameter count, weight memory, and greedy decode speed. Never prints;
// loading models and writing files is the caller's job.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { ConfigError } from "../errors.ts";
import { readJsonl } from "../util/jsonl.ts";
import { generateWithStats } from "../infer/generate.ts";
import { countParameters, type CausalLM } from "../models/index.ts";
import { Tape, crossEntropy } from "../tensor/index.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { runQa, type QaItem, type QaSummary, type RunQaOptions } from "./qa.ts";

export interface CompareEntry {
  name: string;
  model: CausalLM;
  tokenizer: Tokenizer;
  stopTokenIds?: number[];
}

export interface CompareRow {
  name: string;
  params: number;
  /** Float32 weights in memory, MB. */
  weightsMB: number;
  domain: null | { bitsPerByte: number; perplexity: number; tokens: number };
  qa: QaSummary;
  /** Greedy decode rate, one sequence, tokens per second. */
  tokensPerSecond: number;
}

/** The cleaned text of a dataset's validation documents (manifest.split.val), sections joined per document. */
export function validationTexts(dataset: string): string[] {
  const man = join(dataset, "manifest.json"),
    docs = join(dataset, "documents.jsonl");
  if (!existsSync(man) || !existsSync(docs)) throw new ConfigError(`${dataset}: not a dataset directory (manifest.json and documents.jsonl expected)`);
  const m = JSON.parse(readFileSync(man, "utf8")) as { split?: { val?: string[] } };
  const val = new Set(m.split?.val ?? []);
  if (val.size === 0) throw new ConfigError(`${dataset} has no validation documents`, { hint: "ingest with a --val-fraction above 0" });
  const byDoc = new Map<string, string[]>();
  readJsonl(docs, (v) => {
    const r = v as { doc: string; text: string };
    if (!val.has(r.doc)) return;
    if (!byDoc.has(r.doc)) byDoc.set(r.doc, []);
    byDoc.get(r.doc)!.push(r.text);
  });
  return [...byDoc.values()].map((s) => s.join("\n\n"));
}

/**
 * Mean next-token loss over non-overlapping windows of `seqLen` + 1 tokens (fewer when the text is shorter) of the texts
 * (joined by blank lines), at most maxTokens predictions; bits per byte divide the summed
 * loss by the UTF-8 bytes of the predicted tokens.
 */
export function textBitsPerByte(
  model: CausalLM,
  tokenizer: Tokenizer,
  texts: readonly string[],
  opts: { seqLen?: number; maxTokens?: number } = {},
): { bitsPerByte: number; perplexity: number; tokens: number } {
  const maxTokens = opts.maxTokens ?? 16384;
  const ids = tokenizer.encode(texts.join("\n\n"), { addSpecialTokens: false });
  // A text shorter than one window is scored as one shorter window.
  const seqLen = Math.min(opts.seqLen ?? 256, model.config.maxSeqLen, ids.length - 1);
  if (seqLen < 8) throw new ConfigError(`the validation text is too short to score (${ids.length} tokens)`);
  const tape = new Tape({ grad: false });
  let nats = 0,
    n = 0,
    bytes = 0;
  for (let s = 0; s + seqLen + 1 <= ids.length && n < maxTokens; s += seqLen) {
    // inputs (T), targets (T) of one window
    const inputs = Int32Array.from(ids.slice(s, s + seqLen));
    const targets = Int32Array.from(ids.slice(s + 1, s + seqLen + 1));
    tape.reset();
    const loss = crossEntropy(tape, model.forward(tape, inputs, 1, seqLen), targets);
    nats += loss.data[0]! * seqLen;
    n += seqLen;
    bytes += Buffer.byteLength(tokenizer.decode([...targets]), "utf8");
  }
  tape.reset();
  return { bitsPerByte: nats / Math.LN2 / bytes, perplexity: Math.exp(nats / n), tokens: n };
}

/** Greedy decode speed: `tokens` new tokens after a short prompt, one sequence. */
async function decodeRate(model: CausalLM, tokenizer: Tokenizer, tokens = 64): Promise<number> {
  let prompt = tokenizer.encode("The handbook says", { addSpecialTokens: false });
  if (prompt.length === 0) prompt = [0];
  const n = Math.max(1, Math.min(tokens, model.config.maxSeqLen - prompt.length - 1));
  const { stats } = await generateWithStats(model, [prompt], { maxTokens: n, sampling: { temperature: 0 } });
  const secs = stats.prefillSeconds + stats.decodeSeconds;
  return secs > 0 ? (stats.decodeTokens + 1) / secs : 0;
}

export async function compareModels(
  entries: readonly CompareEntry[],
  qa: { items: QaItem[]; unanswerable: QaItem[]; options: Omit<RunQaOptions, "model" | "tokenizer" | "stopTokenIds"> },
  opts: { valTexts?: string[]; seqLen?: number; maxTokens?: number; onModel?: (name: string) => void } = {},
): Promise<CompareRow[]> {
  const rows: CompareRow[] = [];
  for (const e of entries) {
    opts.onModel?.(e.name);
    const params = countParameters(e.model.config).total;
    const domain = opts.valTexts
      ? textBitsPerByte(e.model, e.tokenizer, opts.valTexts, {
          ...(opts.seqLen ? { seqLen: opts.seqLen } : {}),
          ...(opts.maxTokens ? { maxTokens: opts.maxTokens } : {}),
        })
      : null;
    const res = await runQa(qa.items, qa.unanswerable, { ...qa.options, model: e.model, tokenizer: e.tokenizer, stopTokenIds: e.stopTokenIds ?? [] });
    rows.push({ name: e.name, params, weightsMB: (params * 4) / 1e6, domain, qa: res.summary, tokensPerSecond: await decodeRate(e.model, e.tokenizer) });
  }
  return rows;
}
