// `slm distill`: train a small student from a larger teacher.
//   --mode logit (default): the teacher's top-k logits on every training
//     position, cached once on disk, then α·T²·D + (1−α)·CE (src/train/distill.ts).
//   --mode sequence: the teacher (a local model or an OpenAI-compatible URL)
//     writes completions of prompts; they are ingested with the student's
//     tokenizer and the student trains on them (works across tokenizers).
// Thin: parses flags, loads models, adapts src/infer/generate.ts as a local
// teacher, prints progress, writes the model directory and the summary.
import { existsSync, appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

import { ConfigError, UsageError } from "../errors.ts";
import { ingest } from "../data/ingest.ts";
import { loadTextTokenizer, trainTextTokenizer } from "../data/tokenizer.ts";
import { loadModel, stopTokenIds, type LoadedModel } from "../formats/hf-dir.ts";
import { parseRepoRef, resolveCachedModel } from "../formats/hub/cache.ts";
import { generate } from "../infer/generate.ts";
import { PRESETS, createModel, presetConfig, type CausalLM } from "../models/index.ts";
import { Tokenizer } from "../tokenizer/index.ts";
import { openDataset } from "../train/dataset.ts";
import { DISTILL_DEFAULTS, checkSameVocabulary, distill, studentFromTeacher, type DistillSummary } from "../train/distill.ts";
import { DIVERGENCES, type Divergence } from "../train/distill-loss.ts";
import { endpointTeacher, readPrompts, writeTeacherTexts, type TeacherTextSource } from "../train/sequence-distill.ts";
import { datasetFingerprint } from "../train/teacher-cache.ts";
import { trainRunDir } from "../train/run.ts";
import type { TrainConfig } from "../train/trainer.ts";
import { intFlag, numFlag, parse, type Command, type CommandContext } from "./command.ts";
import { formatCount, formatDuration } from "./format.ts";
import { trainPrinter } from "./progress.ts";
import { withStopSignals } from "./stop-signals.ts";

const HELP = `Usage: slm distill --teacher MODEL_DIR --student PRESET|MODEL_DIR|teacher --data DATASET --out RUN --max-steps N [options]
       slm distill --mode sequence (--teacher MODEL_DIR | --teacher-url URL --teacher-model NAME) --prompts FILE --student … --out RUN --max-steps N

Trains a small student model from a larger teacher. Logit mode (default) needs
teacher, student and dataset to share one tokenizer: the teacher scores every
training position once (top-k logits cached in RUN/teacher-cache.bin), then the
student minimises α·T²·D(teacher‖student at T) + (1−α)·cross-entropy.
Sequence mode has the teacher write completions of prompts (JSONL lines with
"prompt"), ingests them with the student's tokenizer and trains on them.
RUN gets metrics.jsonl, checkpoints/, model/ and summary.json (parameters, val
loss and tokens/s of student and teacher, peak memory). See docs/distill.md.

Models:
  --teacher MODEL_DIR     the teacher (a model directory with tokenizer.json)
  --student S             a preset (${Object.keys(PRESETS).join(" | ")}), a model directory,
                          or "teacher": every n-th teacher layer, same width
  --layer-stride N        with --student teacher: keep layers 0, N, 2N, … (default 2)
Logit distillation:
  --data DATASET          a dataset from \`slm ingest\` made with the teacher's tokenizer
  --alpha A               weight of the distillation term (default ${DISTILL_DEFAULTS.alpha})
  --temperature T         softening temperature (default ${DISTILL_DEFAULTS.temperature})
  --divergence D          ${DIVERGENCES.join(" | ")} (default ${DISTILL_DEFAULTS.divergence})
  --top-k K               teacher logits cached per position (default ${DISTILL_DEFAULTS.topK})
  --logit-dtype D         f16 | f32 (default ${DISTILL_DEFAULTS.logitType})
  --cache PATH            teacher cache file (default RUN/teacher-cache.bin); reused
                          when it matches the data, batch, context, seed and steps
Sequence distillation:
  --mode sequence
  --prompts FILE          JSONL: {"prompt": "…"} (or "text", or chat "messages") a line
  --teacher-url URL       an OpenAI-compatible server (POST URL/v1/chat/completions)
  --teacher-model NAME    the "model" field sent to it (default "default")
  --api-key-env VAR       send the key in environment variable VAR as a Bearer token
  --samples N             completions per prompt (default 1)
  --gen-max-tokens N      tokens per completion (default 256)
  --gen-temperature T     teacher sampling temperature (default 0.8)
  --tokenizer DIR         the student's tokenizer when --student is a preset (default:
                          the local teacher's); or --vocab-size N to train one
Training (as \`slm train\`):
  --max-steps N (required), --batch N (8), --context N, --grad-accum N (1), --lr X (1e-3;
  3e-4 for a model-directory student), --warmup N, --weight-decay X, --clip X, --seed N (0),
  --eval-every N (100), --eval-batches N (20), --checkpoint-every N (200), --log-every N (10),
  --resume, --json

Examples:
  slm distill --teacher runs/mini/model --student micro --data data/hb --max-steps 500 --out runs/micro-kd
  slm distill --teacher runs/mini/model --student teacher --layer-stride 2 --data data/hb --max-steps 500 --divergence js --out runs/half
  slm distill --mode sequence --teacher-url http://localhost:8080/v1 --teacher-model qwen --prompts prompts.jsonl --student micro --vocab-size 4096 --max-steps 300 --out runs/seq`;

const OPTIONS = {
  mode: { type: "string" },
  teacher: { type: "string" },
  "teacher-url": { type: "string" },
  "teacher-model": { type: "string" },
  "api-key-env": { type: "string" },
  student: { type: "string" },
  "layer-stride": { type: "string" },
  data: { type: "string" },
  prompts: { type: "string" },
  samples: { type: "string" },
  "gen-max-tokens": { type: "string" },
  "gen-temperature": { type: "string" },
  tokenizer: { type: "string" },
  "vocab-size": { type: "string" },
  out: { type: "string" },
  alpha: { type: "string" },
  temperature: { type: "string" },
  divergence: { type: "string" },
  "top-k": { type: "string" },
  "logit-dtype": { type: "string" },
  cache: { type: "string" },
  "max-steps": { type: "string" },
  batch: { type: "string" },
  context: { type: "string" },
  "grad-accum": { type: "string" },
  lr: { type: "string" },
  warmup: { type: "string" },
  "weight-decay": { type: "string" },
  clip: { type: "string" },
  seed: { type: "string" },
  "eval-every": { type: "string" },
  "eval-batches": { type: "string" },
  "checkpoint-every": { type: "string" },
  "log-every": { type: "string" },
  resume: { type: "boolean" },
  json: { type: "boolean" },
} as const;

type Values = ReturnType<typeof parse<typeof OPTIONS>>["values"];

function trainConfig(v: Values, fineTune: boolean): Partial<TrainConfig> {
  if (v["max-steps"] === undefined) throw new UsageError("--max-steps N is required (the teacher cache is built for that many steps)");
  return {
    batch: intFlag("batch", v.batch, 8),
    seqLen: v.context === undefined ? undefined : intFlag("context", v.context, 256),
    gradAccum: intFlag("grad-accum", v["grad-accum"], 1),
    maxSteps: intFlag("max-steps", v["max-steps"], 1),
    lr: numFlag("lr", v.lr, 0) ?? (fineTune ? 3e-4 : 1e-3),
    warmupSteps: v.warmup === undefined ? undefined : intFlag("warmup", v.warmup, 0, 0),
    weightDecay: numFlag("weight-decay", v["weight-decay"], 0),
    clip: numFlag("clip", v.clip, 0),
    seed: intFlag("seed", v.seed, 0, 0),
    evalEvery: intFlag("eval-every", v["eval-every"], 100, 0),
    evalBatches: intFlag("eval-batches", v["eval-batches"], 20),
    checkpointEvery: intFlag("checkpoint-every", v["checkpoint-every"], 200, 0),
    logEvery: intFlag("log-every", v["log-every"], 10),
  };
}

function loadTeacher(dir: string): LoadedModel & { tokenizer: Tokenizer } {
  const t = loadModel(dir);
  if (!t.tokenizer) throw new ConfigError(`--teacher ${dir}: no tokenizer.json beside the weights`, { hint: "distillation needs the teacher's tokenizer" });
  return t as LoadedModel & { tokenizer: Tokenizer };
}

/** The student: a preset, a model directory, or every n-th layer of the teacher. */
function makeStudent(
  spec: string,
  v: Values,
  vocabSize: number,
  seed: number,
  teacher: CausalLM | null,
): { model: CausalLM; tokenizer?: Tokenizer; fromDir: boolean } {
  if (spec === "teacher") {
    if (!teacher) throw new UsageError("--student teacher needs a local --teacher model directory");
    return { model: studentFromTeacher(teacher, intFlag("layer-stride", v["layer-stride"], 2)), fromDir: false };
  }
  if (spec in PRESETS) return { model: createModel(presetConfig(spec, vocabSize), seed), fromDir: false };
  if (!existsSync(spec))
    throw new ConfigError(`--student ${spec}: not a preset (${Object.keys(PRESETS).join(", ")}), "teacher", or an existing model directory`);
  const s = loadModel(spec);
  return { model: s.model, tokenizer: s.tokenizer, fromDir: true };
}

function printSummary(ctx: CommandContext, json: boolean, s: DistillSummary | Record<string, unknown>, lines: string[]): void {
  if (json) ctx.out(JSON.stringify(s));
  else for (const l of lines) ctx.err(l);
}

function summaryLines(s: DistillSummary, modelDir: string): string[] {
  const f = (x: number | null) => (x === null ? "n/a" : x.toFixed(4));
  return [
    `slm distill: ${s.stopped === "requested" ? "stopped" : "done"} after ${s.student.steps} steps, ${formatCount(s.student.tokens)} tokens`,
    `  student ${formatCount(s.student.params)} parameters: val loss ${f(s.student.valLoss)}, ${formatCount(s.student.tokensPerSec)} tok/s training`,
    `  teacher ${formatCount(s.teacher.params)} parameters: val loss ${f(s.teacher.valLoss)}${s.teacher.tokensPerSec === null ? "" : `, ${formatCount(s.teacher.tokensPerSec)} tok/s scoring`}`,
    `  peak memory ${s.maxRssMiB.toFixed(0)} MiB; model: ${modelDir}`,
  ];
}

export const distillCommand: Command = {
  name: "distill",
  summary: "train a small student from a teacher model (logit or sequence distillation)",
  help: HELP,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(argv, OPTIONS, false);
    // org/name[:rev] models become their Hugging Face cache snapshot paths (the run reads and records paths).
    for (const k of ["teacher", "student"] as const) if (v[k] && !existsSync(v[k]) && parseRepoRef(v[k])) v[k] = resolveCachedModel(v[k])!.path;
    const mode = v.mode ?? "logit";
    if (mode !== "logit" && mode !== "sequence") throw new UsageError(`--mode must be logit or sequence, got "${mode}"`);
    if (!v.out) throw new UsageError("--out RUN is required (the run directory)");
    if (!v.student) throw new UsageError(`--student is required: a preset (${Object.keys(PRESETS).join(", ")}), a model directory, or "teacher"`);
    if (v["max-steps"] === undefined) throw new UsageError("--max-steps N is required (the teacher cache is built for that many steps)");
    const runDir = resolve(v.out);
    const json = Boolean(v.json);
    const say = (s: string) => (json ? undefined : ctx.err(s));
    const seed = intFlag("seed", v.seed, 0, 0);
    const printer = trainPrinter(ctx, json);
    try {
      return await withStopSignals(
        (signal) =>
          mode === "logit" ? logitMode(v, ctx, runDir, json, say, seed, signal, printer) : sequenceMode(v, ctx, runDir, json, say, seed, signal, printer),
        () => say("\nslm distill: stopping after this step…"),
      );
    } finally {
      printer.clear();
    }
  },
};

type Say = (s: string) => void;

async function logitMode(
  v: Values,
  ctx: CommandContext,
  runDir: string,
  json: boolean,
  say: Say,
  seed: number,
  signal: AbortSignal,
  printer: ReturnType<typeof trainPrinter>,
): Promise<number> {
  if (!v.teacher)
    throw new UsageError(
      v["teacher-url"]
        ? "--teacher-url needs --mode sequence: logit distillation needs the teacher's logits, a local model directory"
        : "--teacher MODEL_DIR is required",
    );
  if (!v.data) throw new UsageError("--data DATASET is required in logit mode (made by `slm ingest` with the teacher's tokenizer)");
  if (v.prompts) throw new UsageError("--prompts is for --mode sequence");
  const divergence = (v.divergence ?? DISTILL_DEFAULTS.divergence) as Divergence;
  if (!DIVERGENCES.includes(divergence)) throw new UsageError(`--divergence must be one of ${DIVERGENCES.join(", ")}, got "${v.divergence}"`);
  const logitType = v["logit-dtype"] ?? DISTILL_DEFAULTS.logitType;
  if (logitType !== "f16" && logitType !== "f32") throw new UsageError(`--logit-dtype must be f16 or f32, got "${logitType}"`);
  const alpha = numFlag("alpha", v.alpha, 0);
  if (alpha !== undefined && alpha > 1) throw new UsageError(`--alpha must be in [0, 1], got ${alpha}`);

  const teacherDir = resolve(v.teacher);
  const teacher = loadTeacher(teacherDir);
  const ds = openDataset(resolve(v.data));
  try {
    const dsTok = ds.tokenizerDir ? Tokenizer.fromFile(ds.tokenizerDir) : null;
    checkSameVocabulary(
      { name: teacherDir, vocabSize: teacher.config.vocabSize, tokenizer: teacher.tokenizer },
      { name: `dataset ${ds.dir}`, vocabSize: ds.vocabSize, tokenizer: dsTok },
    );
    const student = makeStudent(v.student!, v, teacher.config.vocabSize, seed, teacher.model);
    checkSameVocabulary(
      { name: teacherDir, vocabSize: teacher.config.vocabSize, tokenizer: teacher.tokenizer },
      { name: `student ${v.student}`, vocabSize: student.model.config.vocabSize, tokenizer: student.tokenizer ?? null },
    );
    const config = trainConfig(v, student.fromDir);
    config.bytesPerToken = ds.bytesPerToken ?? undefined;
    say(
      `slm distill: teacher ${teacherDir}, student ${v.student} (d ${student.model.config.dModel}, ${student.model.config.nLayers} layers), ${formatCount(ds.train.count)} train tokens, run ${runDir}`,
    );
    let lastPct = -1;
    const summary = await distill({
      teacher: teacher.model,
      teacherName: teacherDir,
      student: student.model,
      train: ds.train,
      val: ds.val ?? undefined,
      datasetFingerprint: datasetFingerprint(ds.dir),
      runDir,
      config,
      resume: Boolean(v.resume),
      signal,
      tokenizer: teacher.tokenizer,
      settings: { mode: "logit", teacher: teacherDir, student: v.student, data: ds.dir },
      cachePath: v.cache ? resolve(v.cache) : undefined,
      distill: {
        alpha,
        temperature: numFlag("temperature", v.temperature, 0),
        divergence,
        topK: v["top-k"] === undefined ? undefined : intFlag("top-k", v["top-k"], 32),
        logitType,
      },
      onEvent: printer.onEvent,
      onCacheProgress: (p) => {
        if (json) return ctx.out(JSON.stringify({ type: "cache", ...p }));
        const pct = Math.floor((100 * p.done) / p.total);
        if (pct === lastPct && p.done !== p.total) return;
        lastPct = pct;
        const eta = p.tokensPerSec > 0 ? ` eta ${formatDuration(((p.total - p.done) * p.elapsedMs) / p.done)}` : "";
        const line = `teacher cache: batch ${p.done}/${p.total}, ${formatCount(p.tokensPerSec)} tok/s${eta}`;
        if (ctx.tty) process.stderr.write(`\r\x1b[K${line}${p.done === p.total ? "\n" : ""}`);
        else if (pct % 10 === 0 || p.done === p.total) ctx.err(line);
      },
    });
    printer.clear();
    const modelDir = join(runDir, "model");
    printSummary(ctx, json, summary, summaryLines(summary, modelDir));
    return summary.stopped === "requested" ? 130 : 0;
  } finally {
    ds.close();
  }
}

/** A local model as a text teacher: encode, sample with src/infer/generate.ts, decode. */
function localTextTeacher(
  t: LoadedModel & { tokenizer: Tokenizer },
  name: string,
  maxTokens: number,
  temperature: number,
  seed: number,
): TeacherTextSource & { tokens: number } {
  const stops = stopTokenIds(t);
  const src = {
    name,
    tokens: 0,
    async generate(prompt: string, index: number): Promise<string> {
      const ids = t.tokenizer.encode(prompt);
      const room = t.config.maxSeqLen - ids.length;
      if (room < 1) throw new ConfigError(`a prompt of ${ids.length} tokens does not fit the teacher's context (${t.config.maxSeqLen})`);
      const [r] = await generate(t.model, [ids], { maxTokens: Math.min(maxTokens, room), sampling: { temperature }, seed: seed + index, stopTokenIds: stops });
      src.tokens += r!.completionTokens;
      return t.tokenizer.decode(r!.ids);
    },
  };
  return src;
}

async function sequenceMode(
  v: Values,
  ctx: CommandContext,
  runDir: string,
  json: boolean,
  say: Say,
  seed: number,
  signal: AbortSignal,
  printer: ReturnType<typeof trainPrinter>,
): Promise<number> {
  if (!v.prompts) throw new UsageError("--prompts FILE is required in sequence mode");
  if (Boolean(v.teacher) === Boolean(v["teacher-url"])) throw new UsageError("give one teacher: --teacher MODEL_DIR or --teacher-url URL");
  if (v.data) throw new UsageError("--data is for logit mode; in sequence mode the data are the teacher's completions of --prompts");
  const maxTokens = intFlag("gen-max-tokens", v["gen-max-tokens"], 256);
  const genT = numFlag("gen-temperature", v["gen-temperature"], 0) ?? 0.8;
  const prompts = readPrompts(resolve(v.prompts));
  mkdirSync(runDir, { recursive: true });

  // 1. The teacher writes.
  let local: (LoadedModel & { tokenizer: Tokenizer }) | null = null;
  let source: TeacherTextSource & { tokens?: number };
  if (v.teacher) {
    local = loadTeacher(resolve(v.teacher));
    source = localTextTeacher(local, resolve(v.teacher), maxTokens, genT, seed);
  } else {
    const keyVar = v["api-key-env"];
    if (keyVar && process.env[keyVar] === undefined) throw new ConfigError(`--api-key-env ${keyVar}: that environment variable is not set`);
    source = endpointTeacher({
      url: v["teacher-url"]!,
      model: v["teacher-model"] ?? "default",
      maxTokens,
      temperature: genT,
      apiKey: keyVar ? process.env[keyVar] : undefined,
      seed,
    });
  }
  const textsName = "teacher-texts.jsonl";
  const textsPath = join(runDir, textsName);
  say(`slm distill: ${prompts.length} prompts × ${intFlag("samples", v.samples, 1)} to ${source.name}…`);
  const texts = await writeTeacherTexts(source, prompts, textsPath, {
    samples: intFlag("samples", v.samples, 1),
    signal,
    onProgress: (d, n) =>
      json ? ctx.out(JSON.stringify({ type: "generate", done: d, total: n })) : (d === n || d % 10 === 0) && ctx.err(`  teacher: ${d}/${n} completions`),
  });

  // 2. A dataset of the completions, with the student's tokenizer.
  const studentIsDir = v.student !== "teacher" && !(v.student! in PRESETS);
  const studentTok = studentIsDir ? loadModel(resolve(v.student!)).tokenizer : undefined;
  if (v.tokenizer && v["vocab-size"]) throw new UsageError("give either --tokenizer DIR or --vocab-size N, not both");
  const tokenizerDir = v.tokenizer ? resolve(v.tokenizer) : undefined;
  const dataDir = join(runDir, "dataset");
  const tokOpts = studentTok
    ? { tokenizer: loadTextTokenizer(resolve(v.student!)) }
    : tokenizerDir
      ? { tokenizer: loadTextTokenizer(tokenizerDir) }
      : v["vocab-size"]
        ? { trainTokenizer: trainTextTokenizer, vocabSize: intFlag("vocab-size", v["vocab-size"], 8192, 300) }
        : local
          ? { tokenizer: loadTextTokenizer(resolve(v.teacher!)) }
          : null;
  if (!tokOpts) throw new UsageError("the student needs a tokenizer: --student MODEL_DIR, --tokenizer DIR, or --vocab-size N (trained on the completions)");
  // Labels relative to the run: which completions are held out must not depend on where the run lives.
  await ingest({ inputs: [textsName], cwd: runDir, out: dataDir, cacheDir: null, seed, minDocChars: 1, minSectionChars: 1, ...tokOpts });
  const ds = openDataset(dataDir);
  try {
    const tok = ds.tokenizerDir ? Tokenizer.fromFile(ds.tokenizerDir) : undefined;
    const student = makeStudent(v.student!, v, ds.vocabSize, seed, local?.model ?? null);
    if (student.model.config.vocabSize < ds.vocabSize)
      throw new ConfigError(`--student ${v.student}: its vocabulary (${student.model.config.vocabSize}) is smaller than the tokenizer's (${ds.vocabSize})`);
    const config = trainConfig(v, student.fromDir);
    config.bytesPerToken = ds.bytesPerToken ?? undefined;
    const genTokens = ds.train.count + (ds.val?.count ?? 0);
    say(`slm distill: ${texts.documents} completions, ${formatCount(genTokens)} student tokens in ${formatDuration(texts.elapsedMs)}; training ${v.student}…`);

    // 3. Plain training on the teacher's text. The held-out completions are whatever the
    // teacher wrote for the last prompts; when they are shorter than one window there is no
    // validation (a warning, not a failure after the teacher's work is done).
    const window = (config.seqLen ?? Math.min(student.model.config.maxSeqLen, 256)) + 1;
    let val = ds.val ?? undefined;
    if (val && val.count < window) {
      const message = `the held-out completions have ${val.count} tokens, fewer than one window of ${window}: training without validation (more prompts or --gen-max-tokens give it some)`;
      if (json) ctx.out(JSON.stringify({ type: "warn", message }));
      else say(`slm distill: ${message}`);
      val = undefined;
    }
    const result = await trainRunDir({
      model: student.model,
      train: ds.train,
      val,
      runDir,
      config,
      resume: Boolean(v.resume),
      onEvent: printer.onEvent,
      signal,
      tokenizer: tok,
    });
    printer.clear();
    const modelDir = result.output;
    const c = result.counters;
    const params = (m: CausalLM) => m.namedParameters().reduce((a, [, p]) => a + p.size, 0);
    const summary = {
      type: "distill_summary",
      mode: "sequence",
      student: {
        params: params(student.model),
        valLoss: result.finalValLoss,
        tokensPerSec: c.tokens / Math.max(c.elapsedMs / 1000, 1e-9),
        steps: c.step,
        tokens: c.tokens,
      },
      // The teacher's rate in its own generated tokens when local, else in student tokens of its text.
      teacher: {
        name: source.name,
        params: local ? params(local.model) : null,
        completions: texts.documents,
        tokensPerSec: (source.tokens ?? genTokens) / Math.max(texts.elapsedMs / 1000, 1e-9),
        tokensCountedIn: local ? "teacher" : "student",
      },
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      stopped: result.stopped,
    };
    appendFileSync(join(runDir, "metrics.jsonl"), `${JSON.stringify(summary)}\n`);
    writeFileSync(join(runDir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
    const f = (x: number | null) => (x === null ? "n/a" : x.toFixed(4));
    printSummary(ctx, json, summary, [
      `slm distill: done after ${c.step} steps on ${texts.documents} teacher completions`,
      `  student ${formatCount(summary.student.params)} parameters: val loss ${f(result.finalValLoss)} (on held-out completions), ${formatCount(summary.student.tokensPerSec)} tok/s`,
      `  teacher ${source.name}: ${formatCount(summary.teacher.tokensPerSec)} tok/s generating; peak memory ${summary.maxRssMiB.toFixed(0)} MiB; model: ${modelDir}`,
    ]);
    return result.stopped === "requested" ? 130 : 0;
  } finally {
    ds.close();
  }
}
