// Dense vectors for sections and questions, L2-normalised so cosine distance
// ranks them. Two embedders:
//   - "hash": feature-hashed stems and character trigrams of content words
//     (sublinear term frequency, signed hashing). No model needed; a fuzzy
//     lexical vector that complements BM25 on word-form variants.
//   - "model": mean-pooled final hidden states of a causal LM (its `hidden`
//     on an inference tape), over windows of at most the model's context.
// Knows nothing about SQLite or retrieval; the index records which embedder
// built it (`spec`) so questions are embedded the same way.
// TODO(dedupe): src/infer/embed.ts (another helper) will offer model
// embeddings; switch ModelEmbedder to it once it lands on main.
import { ConfigError } from "../errors.ts";
import type { CausalLM } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { STOP_WORDS, stem, words } from "./terms.ts";

export interface EmbedderSpec {
  kind: "hash" | "model";
  dim: number;
  /** The model directory (kind "model"), as given when the index was built. */
  model?: string;
}

export interface Embedder {
  readonly spec: EmbedderSpec;
  /** One unit-length vector (dim) per text. */
  embed(texts: readonly string[]): Float32Array[];
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Scales v to unit length in place (a zero vector stays zero). */
function normalizeVec(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  if (s > 0) {
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < v.length; i++) v[i]! *= inv;
  }
  return v;
}

export class HashEmbedder implements Embedder {
  readonly spec: EmbedderSpec;
  constructor(dim = 512) {
    if (!Number.isInteger(dim) || dim < 8 || dim > 8192) throw new ConfigError(`hash embedder dimension must be an integer in [8, 8192], got ${dim}`);
    this.spec = { kind: "hash", dim };
  }

  embed(texts: readonly string[]): Float32Array[] {
    return texts.map((t) => this.one(t));
  }

  private one(text: string): Float32Array {
    const dim = this.spec.dim;
    const tf = new Map<string, number>();
    const addFeature = (f: string, w: number) => tf.set(f, (tf.get(f) ?? 0) + w);
    for (const w of words(text)) {
      if (STOP_WORDS.has(w)) continue;
      const s = stem(w);
      addFeature(`w:${s}`, 1);
      const padded = `^${s}$`;
      for (let i = 0; i + 3 <= padded.length; i++) addFeature(`c:${padded.slice(i, i + 3)}`, 0.25);
    }
    const v = new Float32Array(dim);
    for (const [f, n] of tf) {
      const h = fnv1a(f);
      v[h % dim]! += ((h >>> 31) & 1 ? -1 : 1) * (1 + Math.log(1 + n));
    }
    return normalizeVec(v);
  }
}

/** Mean-pooled final hidden states of a causal LM. */
export class ModelEmbedder implements Embedder {
  readonly spec: EmbedderSpec;
  private readonly tape = new Tape({ grad: false });
  private readonly window: number;

  constructor(
    private readonly model: CausalLM,
    private readonly tokenizer: Tokenizer,
    modelPath: string,
    window = 256,
  ) {
    this.window = Math.max(8, Math.min(window, model.config.maxSeqLen));
    this.spec = { kind: "model", dim: model.config.dModel, model: modelPath };
  }

  embed(texts: readonly string[]): Float32Array[] {
    return texts.map((t) => this.one(t));
  }

  private one(text: string): Float32Array {
    const d = this.model.config.dModel;
    const ids = this.tokenizer.encode(text, { addSpecialTokens: false });
    const sum = new Float32Array(d);
    let count = 0;
    for (let s = 0; s < Math.max(ids.length, 1); s += this.window) {
      const win = ids.slice(s, s + this.window);
      if (win.length === 0) break;
      this.tape.reset();
      // h (T, d) for one sequence of T tokens
      const h = this.model.hidden(this.tape, Int32Array.from(win), 1, win.length);
      for (let t = 0; t < win.length; t++) for (let j = 0; j < d; j++) sum[j]! += h.data[t * d + j]!;
      count += win.length;
    }
    this.tape.reset();
    if (count > 0) for (let j = 0; j < d; j++) sum[j]! /= count;
    return normalizeVec(sum);
  }
}
