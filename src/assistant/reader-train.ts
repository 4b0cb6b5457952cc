// Training the extractive reader (src/models/reader.ts). Data: question seeds
// (synthetic ones from the documents, the user's pairs; synth.ts) go through
// the real retrieval and source fitting that answer() uses, and the shown
// sentences become the candidates; the one holding the seed's answer is the
// positive. A step takes G questions, each with its positive and N-1 other
// candidates of the same shown sources (hard negatives: same topic, same
// words), and minimises the cross-entropy of the positive among the group's
// scores. Validation: held-out questions, accuracy@1 over all their
// candidates, the measure answering uses. Reports progress through a
// callback; never prints. Knows nothing about the CLI.
import { ConfigError } from "../errors.ts";
import type { ReaderModel } from "../models/reader.ts";
import { AdamW, Tape, clipGradNorm, crossEntropy, lrAt, reshape, type LrSchedule } from "../tensor/index.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { Rng } from "../util/rng.ts";
import { questionKinds } from "./answer-type.ts";
import type { Embedder } from "./embed.ts";
import type { SectionIndex } from "./index-db.ts";
import { fitSources } from "./prompt.ts";
import { encodePair, readerCandidates, readerIdf, scorePairs, type EncodedPair, type ReaderCandidate } from "./reader.ts";
import { DEFAULT_RETRIEVAL_MODE, retrieve, type RetrievalMode } from "./retrieve.ts";
import type { QaSeed } from "./synth.ts";
import { words } from "./terms.ts";

/** One question with its candidates (as answer() would show them) and the index of the right one. */
export interface ReaderExample {
  question: string;
  candidates: ReaderCandidate[];
  positive: number;
  /** Every candidate encoded (features included), built once. */
  pairs: EncodedPair[];
}

export interface ReaderDataOptions {
  index: SectionIndex;
  tokenizer: Tokenizer;
  embedder?: Embedder;
  mode?: RetrievalMode;
  /** Sections shown (answer()'s k, default 3). */
  k?: number;
  /** Source characters (answer()'s default 2400). */
  maxSourceChars?: number;
}

function norm(s: string): string {
  return ` ${words(s).join(" ")} `;
}

/** Reader examples for seeds; seeds whose answer is in no shown sentence, or with a single candidate, are dropped (counted). */
export function buildReaderExamples(seeds: readonly QaSeed[], o: ReaderDataOptions): { examples: ReaderExample[]; missed: number; single: number } {
  const k = o.k ?? 3;
  const mode = o.mode ?? DEFAULT_RETRIEVAL_MODE;
  const idf = readerIdf(o.index);
  const examples: ReaderExample[] = [];
  let missed = 0,
    single = 0;
  for (const seed of seeds) {
    const r = retrieve(o.index, seed.question, { mode, k: Math.max(k, 5), ...(o.embedder ? { embedder: o.embedder } : {}) });
    const top = r.hits.slice(0, k).map((h) => h.section);
    const sources = fitSources(seed.question, top, { maxChars: o.maxSourceChars ?? 2400 });
    const candidates = readerCandidates(sources);
    const a = norm(seed.answer);
    const positive = a.trim() === "" ? -1 : candidates.findIndex((c) => norm(c.text).includes(a));
    if (positive < 0) {
      missed++;
      continue;
    }
    if (candidates.length < 2) {
      single++;
      continue;
    }
    const kinds = questionKinds(seed.question);
    examples.push({ question: seed.question, candidates, positive, pairs: candidates.map((c) => encodePair(o.tokenizer, seed.question, c, idf, kinds)) });
  }
  return { examples, missed, single };
}

/**
 * Longest sentence synthetic reader questions are made from (words). Grounded-QA generation keeps
 * to 40 (a model writes the answer out); a reader only points at it, and with 40 it learned that
 * long sentences are never answers: on the Northwind handbook, whose answers are often long
 * sentences, it then chose short ones that merely shared a word.
 */
export const READER_ANSWER_WORDS = 80;

export interface ReaderTrainConfig {
  /** Questions per step (default 16). */
  groups: number;
  /** Candidates per question in a step: the positive and group-1 others (default 8). */
  groupSize: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  clip: number;
  /** Stop after this many steps… */
  maxSteps: number;
  /** …or this much wall time (ms), whichever comes first (0 = no limit). */
  timeBudgetMs: number;
  evalEvery: number;
  seed: number;
  /**
   * Share of token ids replaced by id 0 in each training pair (features kept). On a small corpus
   * the reader otherwise memorises which sentences were answers instead of reading the question;
   * hiding words makes it lean on the match features and the question's kind.
   */
  tokenDropout: number;
}

export const READER_TRAIN_DEFAULTS: ReaderTrainConfig = {
  groups: 16,
  groupSize: 8,
  lr: 2e-3,
  warmupSteps: 30,
  weightDecay: 0.01,
  clip: 1,
  maxSteps: 2000,
  timeBudgetMs: 0,
  evalEvery: 100,
  seed: 0,
  tokenDropout: 0.2,
};

export type ReaderTrainEvent =
  | { type: "step"; step: number; totalSteps: number; loss: number; lr: number; pairsPerSec: number; elapsedMs: number }
  | { type: "eval"; step: number; accuracy: number; questions: number; elapsedMs: number };

export interface ReaderTrainResult {
  steps: number;
  elapsedMs: number;
  finalLoss: number;
  /** Validation accuracy@1 at the end (null without validation examples). */
  valAccuracy: number | null;
  history: ReaderTrainEvent[];
}

/** Share of examples whose positive gets the highest score among all their candidates. */
export function readerAccuracy(model: ReaderModel, examples: readonly ReaderExample[]): number {
  if (examples.length === 0) return Number.NaN;
  let right = 0;
  const tape = new Tape({ grad: false });
  for (const ex of examples) {
    tape.reset();
    const s = scorePairs(tape, model, ex.pairs).data;
    let best = 0;
    for (let i = 1; i < s.length; i++) if (s[i]! > s[best]!) best = i;
    if (best === ex.positive) right++;
  }
  return right / examples.length;
}

/** The pair with a share p of its token ids replaced by 0 (a copy; the pair itself is untouched). */
function withDropout(p: EncodedPair, share: number, rng: Rng): EncodedPair {
  if (share <= 0) return p;
  return { ...p, ids: p.ids.map((id) => (rng.uniform() < share ? 0 : id)) };
}

/** Trains `model` in place on `train`, validating on `val`. */
export function trainReader(
  model: ReaderModel,
  train: readonly ReaderExample[],
  val: readonly ReaderExample[],
  cfg: ReaderTrainConfig,
  onEvent: (e: ReaderTrainEvent) => void = () => {},
): ReaderTrainResult {
  if (train.length === 0) throw new ConfigError("no reader training examples (retrieval never showed an answer sentence)");
  if (!(cfg.tokenDropout >= 0 && cfg.tokenDropout < 1)) throw new ConfigError(`token dropout must be in [0, 1), got ${cfg.tokenDropout}`);
  if (!(cfg.groupSize >= 2)) throw new ConfigError(`--group-size must be at least 2, got ${cfg.groupSize}`);
  const rng = new Rng(cfg.seed + 101);
  const opt = new AdamW(model.namedParameters(), { lr: cfg.lr, weightDecay: cfg.weightDecay });
  const tape = new Tape();
  const t0 = performance.now();
  const history: ReaderTrainEvent[] = [];
  const emit = (e: ReaderTrainEvent) => (history.push(e), onEvent(e));
  let order: number[] = [],
    cursor = 0;
  const next = (): ReaderExample => {
    if (cursor >= order.length) (order = rng.shuffle(train.map((_, i) => i))), (cursor = 0);
    return train[order[cursor++]!]!;
  };
  let totalSteps = cfg.maxSteps,
    step = 0,
    loss = Number.NaN,
    pairs = 0;
  const schedule = (): LrSchedule => ({
    kind: "cosine",
    lr: cfg.lr,
    warmupSteps: Math.min(cfg.warmupSteps, Math.max(0, totalSteps - 1)),
    totalSteps,
    minRatio: 0.1,
  });
  model.train();
  while (step < totalSteps) {
    const batch: EncodedPair[] = [];
    const targets = new Int32Array(cfg.groups);
    for (let g = 0; g < cfg.groups; g++) {
      const ex = next();
      const others = rng.shuffle(ex.pairs.map((_, i) => i).filter((i) => i !== ex.positive));
      const slot = rng.int(cfg.groupSize);
      targets[g] = slot;
      for (let j = 0, o = 0; j < cfg.groupSize; j++)
        batch.push(withDropout(j === slot ? ex.pairs[ex.positive]! : ex.pairs[others[o++ % others.length]!]!, cfg.tokenDropout, rng));
    }
    tape.reset();
    model.zeroGrad();
    const scores = scorePairs(tape, model, batch); // (G·N, 1)
    const l = crossEntropy(tape, reshape(tape, scores, [cfg.groups, cfg.groupSize]), targets);
    tape.backward(l);
    clipGradNorm(model.parameters(), cfg.clip);
    const lr = lrAt(schedule(), step);
    opt.step(lr);
    loss = l.data[0]!;
    step++;
    pairs += batch.length;
    const elapsed = performance.now() - t0;
    // With a time budget, the step count follows the measured speed (so the schedule ends on time).
    if (cfg.timeBudgetMs > 0 && step >= 5) totalSteps = Math.max(step, Math.min(cfg.maxSteps, Math.floor(cfg.timeBudgetMs / (elapsed / step))));
    emit({ type: "step", step, totalSteps, loss, lr, pairsPerSec: pairs / (elapsed / 1000), elapsedMs: elapsed });
    if (val.length > 0 && (step % cfg.evalEvery === 0 || step === totalSteps)) {
      model.eval();
      emit({ type: "eval", step, accuracy: readerAccuracy(model, val), questions: val.length, elapsedMs: performance.now() - t0 });
      model.train();
    }
  }
  model.eval();
  const lastEval = [...history].reverse().find((e) => e.type === "eval");
  return {
    steps: step,
    elapsedMs: performance.now() - t0,
    finalLoss: loss,
    valAccuracy: lastEval && lastEval.type === "eval" ? lastEval.accuracy : null,
    history,
  };
}
