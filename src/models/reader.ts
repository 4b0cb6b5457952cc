// The extractive reader: a Llama decoder read as an encoder of one
// (question, candidate sentence) pair per sequence, scoring how well the
// candidate answers the question. Each token's embedding gets two learned
// feature vectors added (a table of READER_FEATURE_ROWS rows): which segment it
// is in and whether (and how rarely) its word also occurs in the other segment
// (the "exact match" feature of reading-comprehension models such as DrQA),
// and, for candidate tokens, the retrieval rank of the source and the
// sentence's place in its section. The score is a linear head on the (scaled)
// sum of the candidate tokens' final hidden states (causal attention: each candidate
// token sees the whole question). Trained with cross-entropy over the scores
// of one question's candidates (src/assistant/reader-train.ts).
// Knows nothing about tokenizers, text or files (features come in as ids).
import { ShapeError } from "../errors.ts";
import { Embedding, Linear, Module, add, poolRows, type Tape, type Tensor } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import type { ModelConfig } from "./config.ts";
import { LlamaModel } from "./llama.ts";

/** Match feature values: 0 no match, 1..MATCH_LEVELS the IDF bucket of a matched word (rarer = higher). */
export const MATCH_LEVELS = 4;
/** Source ranks and in-section positions told apart (larger values are clamped). */
export const READER_RANKS = 8;
export const READER_POSITIONS = 4;
/**
 * Rows of the feature table:
 *   [0, 2·(MATCH_LEVELS+1))            segment (0 question, 1 candidate) × match level
 *   then READER_RANKS·READER_POSITIONS   candidate rank × position in section
 *   then one row                         "question token" for the second lookup
 */
export const READER_FEATURE_ROWS = 2 * (MATCH_LEVELS + 1) + READER_RANKS * READER_POSITIONS + 1;

/** Feature row of a token for the first lookup. */
export function matchFeature(segment: 0 | 1, level: number): number {
  return segment * (MATCH_LEVELS + 1) + Math.max(0, Math.min(MATCH_LEVELS, level));
}

/** Feature row of a token for the second lookup: the candidate's rank and position, or the question row. */
export function placeFeature(segment: 0 | 1, rank: number, position: number): number {
  const base = 2 * (MATCH_LEVELS + 1);
  if (segment === 0) return base + READER_RANKS * READER_POSITIONS;
  const r = Math.max(0, Math.min(READER_RANKS - 1, rank)), p = Math.max(0, Math.min(READER_POSITIONS - 1, position));
  return base + r * READER_POSITIONS + p;
}

/**
 * The candidate's final states are summed, scaled by 1/READER_POOL_SCALE (about a sentence's
 * length in tokens), not averaged: with a mean, one matching word in a short sentence outweighed
 * several in a long one, and the reader preferred short sentences that merely mention a topic.
 */
export const READER_POOL_SCALE = 16;

/** B padded sequences of T tokens: ids, the two feature rows per token, and the pooling weights. */
export interface ReaderBatch {
  batch: number;
  seqLen: number;
  ids: Int32Array;
  match: Int32Array;
  place: Int32Array;
  /** 1/READER_POOL_SCALE on the sequence's candidate tokens, 0 elsewhere (question, padding). */
  pool: Float32Array;
}

export class ReaderModel extends Module {
  readonly backbone: LlamaModel;
  readonly features: Embedding;
  readonly score: Linear;

  /** A new reader (random weights), or one around an existing decoder (`backbone`, e.g. a pretrained one). */
  constructor(config: ModelConfig, rng: Rng = new Rng(0), backbone?: LlamaModel) {
    super();
    this.backbone = this.addModule("backbone", backbone ?? new LlamaModel(config, rng));
    this.features = this.addModule("features", new Embedding(READER_FEATURE_ROWS, config.dModel, rng, { std: 0.02 }));
    this.score = this.addModule("score", new Linear(config.dModel, 1, rng, { bias: true, std: 0.02 }));
  }

  get config(): ModelConfig {
    return this.backbone.config;
  }

  /** Scores (B) of the batch's sequences (higher = a better answer to its question). */
  scores(g: Tape, b: ReaderBatch): Tensor {
    const n = b.batch * b.seqLen;
    if (b.ids.length !== n || b.match.length !== n || b.place.length !== n || b.pool.length !== n)
      throw new ShapeError(`reader batch: ids, features and pool weights must each hold ${b.batch}×${b.seqLen} values`);
    const feats = add(g, this.features.forward(g, b.match), this.features.forward(g, b.place)); // (B·T, d)
    const h = this.backbone.hidden(g, b.ids, b.batch, b.seqLen, feats); // (B·T, d)
    const pooled = poolRows(g, h, b.pool, b.batch); // (B, d)
    return this.score.forward(g, pooled); // (B, 1)
  }
}
