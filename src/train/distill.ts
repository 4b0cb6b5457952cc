// Knowledge distillation, logit level: check that teacher and student share a
// vocabulary, score the student's training positions once with the teacher
// (teacher-cache.ts), then run the ordinary trainer with the distillation loss
// (distill-loss.ts) as a pluggable TrainLoss, and write a summary (parameters,
// val loss and tokens/s of both models, peak memory) to summary.json and as
// the last line of metrics.jsonl, after the trainer's own summary line.
// Also: a student made from the teacher's layers (every n-th layer, same width).
// Knows nothing about the CLI, text or where the teacher came from
// (sequence-level distillation, which needs text, is in sequence-distill.ts).
import { appendFileSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { ConfigError } from "../errors.ts";
import type { ShardSet } from "../data/shards.ts";
import { createModel, type CausalLM } from "../models/index.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { distillLoss, validateDistillOptions, type DistillLossOptions, type DistillLossParts } from "./distill-loss.ts";
import { TeacherCache, buildTeacherCache, type CacheProgress, type LogitType } from "./teacher-cache.ts";
import { trainRunDir } from "./run.ts";
import { TRAIN_DEFAULTS, evaluate, type StopReason, type TrainConfig, type TrainEvent, type TrainLoss } from "./trainer.ts";

/** Distillation settings beyond the trainer's, with their defaults. */
export interface DistillConfig extends DistillLossOptions {
  /** Teacher logits kept per position in the cache. Default 32. */
  topK: number;
  /** Stored precision of cached logits. Default "f16". */
  logitType: LogitType;
}

export const DISTILL_DEFAULTS: DistillConfig = { alpha: 0.5, temperature: 1, divergence: "forward", topK: 32, logitType: "f16" };

export interface DistillRun {
  teacher: CausalLM;
  /** A label for the teacher (its directory), recorded in the cache and summary. */
  teacherName: string;
  student: CausalLM;
  train: ShardSet;
  val?: ShardSet;
  /** sha256 of the dataset manifest (teacher-cache.ts datasetFingerprint). */
  datasetFingerprint: string;
  runDir: string;
  config: Partial<TrainConfig>;
  distill: Partial<DistillConfig>;
  /** Cache path (default <runDir>/teacher-cache.bin); share one between runs with the same data order. */
  cachePath?: string;
  resume?: boolean;
  onEvent?: (e: TrainEvent) => void;
  onCacheProgress?: (p: CacheProgress) => void;
  signal?: AbortSignal;
  /** Saved with the student in RUN/model. */
  tokenizer?: Tokenizer;
  /** Recorded in RUN/distill-config.json, before the trainer's settings and the distillation ones. */
  settings?: Record<string, unknown>;
}

export interface DistillSummary {
  /** After the trainer's own "summary" line: this one adds the teacher and the distillation settings. */
  type: "distill_summary";
  student: { params: number; valLoss: number | null; tokensPerSec: number; steps: number; tokens: number };
  teacher: { name: string; params: number; valLoss: number | null; tokensPerSec: number | null; cacheBatchesScored: number; cacheBatchesReused: number };
  distill: DistillConfig;
  cache: { path: string; bytes: number };
  /** Peak resident memory of this process, MiB. */
  maxRssMiB: number;
  stopped: StopReason;
}

/** Throws a ConfigError naming both vocabularies when logit distillation cannot pair them. */
export function checkSameVocabulary(
  teacher: { name: string; vocabSize: number; tokenizer?: Tokenizer | null },
  student: { name: string; vocabSize: number; tokenizer?: Tokenizer | null },
): void {
  const hint = "logit distillation needs one tokenizer; with different tokenizers use --mode sequence (the teacher writes text, the student trains on it)";
  const tv = teacher.tokenizer?.vocabSize ?? teacher.vocabSize,
    sv = student.tokenizer?.vocabSize ?? student.vocabSize;
  if (tv !== sv || teacher.vocabSize !== student.vocabSize) {
    throw new ConfigError(
      `tokenizers differ: the teacher ${teacher.name} has a vocabulary of ${tv} tokens (model ${teacher.vocabSize}), the student ${student.name} ${sv} (model ${student.vocabSize})`,
      { hint },
    );
  }
  const a = teacher.tokenizer,
    b = student.tokenizer;
  if (a && b) {
    for (let id = 0; id < a.vocabSize; id++) {
      const x = a.idToToken(id),
        y = b.idToToken(id);
      if (x !== y)
        throw new ConfigError(
          `tokenizers differ: token ${id} is ${JSON.stringify(x)} in the teacher's vocabulary (${teacher.name}) and ${JSON.stringify(y)} in the student's (${student.name})`,
          { hint },
        );
    }
  }
}

/**
 * A student with every n-th layer of the teacher (layers 0, n, 2n, …) and the teacher's width:
 * embeddings, the chosen layers, the final norm and the head are copied.
 */
export function studentFromTeacher(teacher: CausalLM, every: number): CausalLM {
  if (!Number.isInteger(every) || every < 1) throw new ConfigError(`layer stride must be a positive integer, got ${every}`);
  const L = teacher.config.nLayers;
  const n = Math.ceil(L / every);
  const lt = teacher.config.layerTypes; // Gemma 3: each kept layer keeps its attention kind
  const student = createModel({ ...teacher.config, nLayers: n, ...(lt ? { layerTypes: Array.from({ length: n }, (_, i) => lt[i * every]!) } : {}) });
  const src = new Map(teacher.namedParameters());
  for (const [name, p] of student.namedParameters()) {
    const from = name.replace(/(^|\.)(layers|h)\.(\d+)\./, (_m, pre: string, kind: string, i: string) => `${pre}${kind}.${Number(i) * every}.`);
    const t = src.get(from);
    if (!t || t.size !== p.size) throw new ConfigError(`student from teacher: no teacher parameter ${from} of ${p.size} values for ${name}`);
    p.data.set(t.data);
  }
  return student;
}

function paramCount(m: CausalLM): number {
  return m.namedParameters().reduce((a, [, p]) => a + p.size, 0);
}

/** Builds (or reuses) the teacher cache, trains the student with the distillation loss, saves it (RUN/model, RUN/distill-config.json), writes the summary. */
export async function distill(run: DistillRun): Promise<DistillSummary> {
  const dc: DistillConfig = { ...DISTILL_DEFAULTS, ...Object.fromEntries(Object.entries(run.distill).filter(([, v]) => v !== undefined)) };
  validateDistillOptions(dc);
  checkSameVocabulary({ name: run.teacherName, vocabSize: run.teacher.config.vocabSize }, { name: "student", vocabSize: run.student.config.vocabSize });
  const batch = run.config.batch ?? TRAIN_DEFAULTS.batch;
  const seqLen = run.config.seqLen ?? Math.min(run.student.config.maxSeqLen, 256);
  const gradAccum = run.config.gradAccum ?? TRAIN_DEFAULTS.gradAccum;
  const seed = run.config.seed ?? TRAIN_DEFAULTS.seed;
  if (run.config.maxSteps === undefined)
    throw new ConfigError("distillation needs a step count (maxSteps): the teacher cache is built for that many batches", { hint: "pass --max-steps N" });
  if (seqLen > run.teacher.config.maxSeqLen) throw new ConfigError(`context ${seqLen} is longer than the teacher's maximum (${run.teacher.config.maxSeqLen})`);
  mkdirSync(run.runDir, { recursive: true });
  const cachePath = run.cachePath ?? join(run.runDir, "teacher-cache.bin");

  // 1. The teacher scores every position the student will read, once.
  const built = await buildTeacherCache({
    path: cachePath,
    teacher: run.teacher,
    teacherName: run.teacherName,
    train: run.train,
    datasetFingerprint: run.datasetFingerprint,
    spec: { batch, seqLen, seed, batches: run.config.maxSteps * gradAccum, k: dc.topK, logitType: dc.logitType, temperature: dc.temperature },
    onProgress: run.onCacheProgress,
    signal: run.signal,
  });

  // 2. The trainer with the distillation loss over the cached top-k.
  const cache = TeacherCache.open(cachePath);
  const parts: DistillLossParts = { divergence: 0, ce: 0, rows: 0 };
  let sumD = 0,
    sumCe = 0,
    nParts = 0;
  const loss: TrainLoss = {
    compute(tape, logits, b, index) {
      const t = cache.read(index, b.inputs);
      const l = distillLoss(tape, logits, b.targets, t, dc, parts);
      sumD += parts.divergence;
      sumCe += parts.ce;
      nParts++;
      return l;
    },
    stepMetrics() {
      const m: Record<string, number> = nParts === 0 ? {} : { divergence: sumD / nParts, ce: sumCe / nParts };
      sumD = sumCe = nParts = 0;
      return m;
    },
  };
  let result;
  try {
    result = await trainRunDir({
      model: run.student,
      train: run.train,
      val: run.val,
      runDir: run.runDir,
      config: run.config,
      resume: run.resume,
      onEvent: run.onEvent,
      signal: run.signal,
      loss,
      tokenizer: run.tokenizer,
      record: { file: "distill-config.json", settings: { ...run.settings, ...run.config, distill: dc } },
    });
  } finally {
    cache.close();
  }

  // 3. Summary: the teacher's val loss on the same windows, for comparison.
  const evalBatches = run.config.evalBatches ?? TRAIN_DEFAULTS.evalBatches;
  const teacherVal = run.val ? evaluate(run.teacher, run.val, batch, seqLen, evalBatches).loss : null;
  const c = result.counters;
  const summary: DistillSummary = {
    type: "distill_summary",
    student: {
      params: paramCount(run.student),
      valLoss: result.finalValLoss,
      tokensPerSec: c.tokens / Math.max(c.elapsedMs / 1000, 1e-9),
      steps: c.step,
      tokens: c.tokens,
    },
    teacher: {
      name: run.teacherName,
      params: paramCount(run.teacher),
      valLoss: teacherVal,
      tokensPerSec: built.scored > 0 ? built.tokensPerSec : null,
      cacheBatchesScored: built.scored,
      cacheBatchesReused: built.reused,
    },
    distill: dc,
    cache: { path: cachePath, bytes: fileBytes(cachePath) },
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    stopped: result.stopped,
  };
  appendFileSync(join(run.runDir, "metrics.jsonl"), `${JSON.stringify(summary)}\n`);
  writeFileSync(join(run.runDir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

function fileBytes(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}
