// The extractive reader: a Llama decoder read as an encoder of one
// (question, candidate sentence) pair per sequence, scoring how well the
// candidate answers the question. Each token's embedding gets two learned
// feature vectors added (a table of READER_FEATURE_ROWS rows): which segment it
// is in and whether (and how rarely) its word also occurs in the other segment
// (the "exact match" feature of reading-comprehension models such as DrQA),
// for candidate tokens, the retrieval rank of the source and the sentence's
// place in its section, and whether the question asks for a kind of answer
// (a duration, an address, a person…) and the token is inside a span of that
// kind (the answer-type feature). The score is a linear head on the final
// hidden state of the pair's last token (causal attention: it has read the
// question and the whole candidate), plus a learned multiple of the pair's lexical
// overlap (the IDF-weighted shared words the extractive baseline ranks by), so
// that a new reader starts out ranking like the baseline and training learns
// what to add to it. Trained with cross-entropy over the scores
// of one question's candidates (src/assistant/reader-train.ts).
// Knows nothing about tokenizers, text or files (features come in as ids).
import { ShapeError } from "../errors.ts";
import { Embedding, Linear, Module, Parameter, Tensor, add, linear, poolRows, type Tape } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import type { ModelConfig } from "./config.ts";
import { LlamaModel } from "./llama.ts";

/** Match feature values: 0 no match, 1..MATCH_LEVELS the IDF bucket of a matched word (rarer = higher). */
const MATCH_LEVELS = 4;
/** Source ranks and in-section positions told apart (larger values are clamped). */
const READER_RANKS = 8;
const READER_POSITIONS = 4;
/**
 * Rows of the feature table:
 *   [0, 2·(MATCH_LEVELS+1))            segment (0 question, 1 candidate) × match level
 *   then READER_RANKS·READER_POSITIONS   candidate rank × position in section
 *   then one row                         "question token" for the second lookup
 *   then READER_KIND_ROWS                answer type, for the third lookup (see kindFeature)
 */
const READER_KIND_ROWS = 5;
export const READER_FEATURE_ROWS = 2 * (MATCH_LEVELS + 1) + READER_RANKS * READER_POSITIONS + 1 + READER_KIND_ROWS;

/** Feature row of a token for the first lookup. */
export function matchFeature(segment: 0 | 1, level: number): number {
  return segment * (MATCH_LEVELS + 1) + Math.max(0, Math.min(MATCH_LEVELS, level));
}

/** Feature row of a token for the second lookup: the candidate's rank and position, or the question row. */
export function placeFeature(segment: 0 | 1, rank: number, position: number): number {
  const base = 2 * (MATCH_LEVELS + 1);
  if (segment === 0) return base + READER_RANKS * READER_POSITIONS;
  const r = Math.max(0, Math.min(READER_RANKS - 1, rank)),
    p = Math.max(0, Math.min(READER_POSITIONS - 1, position));
  return base + r * READER_POSITIONS + p;
}

/**
 * Feature row of a token for the third lookup: a question token of a question that asks for a kind
 * of answer (typed) or not; a candidate token when the question is untyped; a candidate token
 * outside / inside a span of a kind the question asks for.
 */
export function kindFeature(segment: 0 | 1, typedQuestion: boolean, inSpan: boolean): number {
  const base = 2 * (MATCH_LEVELS + 1) + READER_RANKS * READER_POSITIONS + 1;
  if (segment === 0) return base + (typedQuestion ? 1 : 0);
  return base + (!typedQuestion ? 2 : inSpan ? 4 : 3);
}

/** Initial weight of the lexical-overlap score (so a new reader ranks like the extractive baseline). */
const READER_LEXICAL_INIT = 1;

// Pooling: the last token's state, as reward models and decoder rankers read a sequence. Two
// earlier choices each built in a bias over sentence length: a mean over the candidate's tokens let
// one matching word in a short sentence outweigh several in a long one, and a (scaled) sum added a
// learned per-token drift, so that on real questions the reader ruled out long sentences and those
// with many unmatched tokens: the numbers, times and names that answer the question.

/** B padded sequences of T tokens: ids, the three feature rows per token, the pooling weights and each pair's lexical overlap. */
export interface ReaderBatch {
  batch: number;
  seqLen: number;
  ids: Int32Array;
  match: Int32Array;
  place: Int32Array;
  kind: Int32Array;
  /** (B) the pair's lexical overlap: the sum of the relative IDF of the stems question and candidate share. */
  lex: Float32Array;
  /** Pooling weight per token: 1 on the sequence's last real token, 0 elsewhere (packReaderBatch). */
  pool: Float32Array;
}

export class ReaderModel extends Module {
  readonly backbone: LlamaModel;
  readonly features: Embedding;
  readonly score: Linear;
  /** (1, 1) weight of the lexical overlap in the score. */
  readonly lexical: Parameter;

  /** A new reader (random weights), or one around an existing decoder (`backbone`, e.g. a pretrained one). */
  constructor(config: ModelConfig, rng: Rng = new Rng(0), backbone?: LlamaModel) {
    super();
    this.backbone = this.addModule("backbone", backbone ?? new LlamaModel(config, rng));
    this.features = this.addModule("features", new Embedding(READER_FEATURE_ROWS, config.dModel, rng, { std: 0.02 }));
    this.score = this.addModule("score", new Linear(config.dModel, 1, rng, { bias: true, std: 0.02 }));
    this.lexical = this.addParameter("lexical", Parameter.zeros([1, 1], { decay: false }));
    this.lexical.data[0] = READER_LEXICAL_INIT;
  }

  /** Names of the reader's own parameters (the rest are the backbone's, "backbone.*"). */
  headParameterNames(): string[] {
    return this.namedParameters()
      .map(([n]) => n)
      .filter((n) => !n.startsWith("backbone."));
  }

  get config(): ModelConfig {
    return this.backbone.config;
  }

  /** Scores (B) of the batch's sequences (higher = a better answer to its question). */
  scores(g: Tape, b: ReaderBatch): Tensor {
    const n = b.batch * b.seqLen;
    if (b.ids.length !== n || b.match.length !== n || b.place.length !== n || b.kind.length !== n || b.pool.length !== n)
      throw new ShapeError(`reader batch: ids, features and pool weights must each hold ${b.batch}×${b.seqLen} values`);
    if (b.lex.length !== b.batch) throw new ShapeError(`reader batch: ${b.lex.length} lexical scores for ${b.batch} pairs`);
    const feats = add(g, add(g, this.features.forward(g, b.match), this.features.forward(g, b.place)), this.features.forward(g, b.kind)); // (B·T, d)
    const h = this.backbone.hidden(g, b.ids, b.batch, b.seqLen, feats); // (B·T, d)
    const pooled = poolRows(g, h, b.pool, b.batch); // (B, d)
    const lex = linear(g, Tensor.fromArray(b.lex, [b.batch, 1]), this.lexical, null); // (B, 1)
    return add(g, this.score.forward(g, pooled), lex); // (B, 1)
  }
}
