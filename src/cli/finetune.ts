// `slm finetune`: supervised fine-tuning of a model (HF directory or GGUF) on chat JSONL,
// fully or with LoRA adapters (saved as a PEFT adapter directory). Thin:
// parses flags, loads the base and the data, runs src/train/finetune.ts and
// prints progress and the run's summary.
import { readFileSync } from "node:fs";
import { freemem } from "node:os";
import { resolve } from "node:path";

import { ConfigError, UsageError } from "../errors.ts";
import { loadModel, type LoadOptions } from "../formats/hf-dir.ts";
import { parseStoragePreset } from "../formats/quant-preset.ts";
import { LORA_TARGETS, weightStorage } from "../models/index.ts";
import { FINETUNE_DEFAULTS, finetune, type FinetuneMethod, type FinetuneResult } from "../train/finetune.ts";
import { readChatJsonl } from "../train/sft.ts";
import { PREFERENCE_DEFAULTS } from "../train/preference.ts";
import { checkPreferenceFlags, runPreference } from "./finetune-preference.ts";
import { groundedQaExamples } from "./grounded-qa.ts";
import type { TrainEvent } from "../train/trainer.ts";
import { intFlag, numFlag, parse, type Command, type CommandContext, type Parsed } from "./command.ts";
import { withStopSignals } from "./stop-signals.ts";
import { formatBytes, formatCount, formatDuration } from "./format.ts";

const HELP = `Usage: slm finetune --base MODEL --data chat.jsonl --out RUN [--method full|lora] [options]
       slm finetune --base MODEL --data pairs.jsonl --out RUN --objective dpo|orpo [--beta X] [--loss sigmoid|ipo] [options]
       slm finetune --task grounded-qa --base MODEL_DIR --index INDEX --out RUN [--qa pairs.jsonl]
                    [--synthetic N] [--teacher-url URL --teacher-model NAME] [options]

Supervised fine-tuning on chat examples: one JSON object per line,
{"messages": [{"role": "system"|"user"|"assistant", "content": "…"}, …]}.
Each example is rendered with the model's chat template (ChatML for models
slmkit trained) and the loss covers assistant tokens only. LoRA writes a PEFT
adapter to RUN/adapter (use it with --adapter, or fold it in with slm merge);
full fine-tuning writes RUN/model. Metrics: RUN/metrics.jsonl, RUN/summary.json.

Grounded QA (--task grounded-qa): examples are built in the prompt format of
\`slm ask\` (question, the sections retrieval returns for it, answer with [n]
citations) and written to RUN/grounded-qa.jsonl: synthetic questions from the
index's sentences (--synthetic, default 2000 when nothing else is given), the
user's question/answer pairs (--qa, JSONL {"question","answer"}), and pairs
from a teacher behind an OpenAI-compatible endpoint (--teacher-url, e.g.
http://127.0.0.1:8080/v1 for llama.cpp, http://127.0.0.1:11434/v1 for Ollama).
  --index INDEX         the index made by slm index (required)
  --qa FILE             question/answer pairs to train on
  --synthetic N         synthetic questions from the documents
  --teacher-url URL     OpenAI-compatible API base; with --teacher-model NAME
  --teacher-sections N  sections the teacher is asked about (default 50)
  --negatives X         share of "not found" examples (default 0.1)
  --answer-tokens N     tokens kept for the answer, as slm ask --max-tokens (default 64)

Preference tuning (--objective dpo|orpo): --data holds pairs in TRL's format,
{"prompt": "…", "chosen": "…", "rejected": "…"} per line, or with message
lists ("prompt" a conversation, "chosen"/"rejected" assistant messages; without
"prompt", two whole conversations whose shared start is the prompt). Both
sides are rendered with the chat template; a sequence's log-probability sums
its completion tokens. DPO's reference is the base (LoRA: adapters off; full:
the initial weights), scored once before training, so no second copy is held.
Each log step prints chosen/rejected rewards, margin and accuracy; the summary
gives them for the held-out pairs (also RUN/preference-eval.json).
  --objective O         sft (default) | dpo | orpo
  --beta X              DPO β (default ${PREFERENCE_DEFAULTS.beta}): reward scale, pull towards the reference
  --loss L              DPO loss: sigmoid (default) | ipo
  --rpo-alpha X         DPO: add X × the chosen completions' NLL (TRL's rpo_alpha; default ${PREFERENCE_DEFAULTS.rpoAlpha}; 0 is plain DPO)
  --orpo-lambda X       ORPO λ, weight of the odds-ratio term beside the chosen NLL (default ${PREFERENCE_DEFAULTS.orpoLambda})
  Defaults change with it: --batch counts pairs (default ${PREFERENCE_DEFAULTS.batch}), --epochs ${PREFERENCE_DEFAULTS.epochs},
  --lr ${PREFERENCE_DEFAULTS.lr.lora} for lora and ${PREFERENCE_DEFAULTS.lr.full} for full; no packing.

MODEL is an HF model directory or a .gguf file. With LoRA the base is frozen,
so it may stay quantized: a quantized GGUF keeps its stored types, and
--base-dtype quantizes a float base at load (forward and the input gradient
run on the quantized weights; only the adapters are float32).

Options:
  --method M            lora | full (default lora)
  --base-dtype T        LoRA: hold the frozen base as q8_0, q4_0, q4_k_m (or another preset of slm export)
  --checkpointing       recompute each block in backward instead of keeping its activations
                        (default: on above 100M parameters); --no-checkpointing turns it off
  --packing             pack several examples per row of --context tokens (attention and positions
                        per example, a sliding window too; --batch then counts rows); default ${FINETUNE_DEFAULTS.packing ? "on" : "off"},
                        --no-packing gives one padded example per row
  --val FILE            validation examples (default: hold out --val-fraction)
  --val-fraction X      share held out for validation (default ${FINETUNE_DEFAULTS.valFraction})
  --epochs N            passes over the training examples (default ${FINETUNE_DEFAULTS.epochs})
  --max-steps N         optimizer steps instead of epochs
  --batch N             examples per step (default ${FINETUNE_DEFAULTS.batch})
  --context N           longest example in tokens; longer ones are cut (default min(model context, ${FINETUNE_DEFAULTS.maxLen}))
  --lr X                peak learning rate (default ${FINETUNE_DEFAULTS.lr.lora} for lora, ${FINETUNE_DEFAULTS.lr.full} for full)
  --warmup N            warmup steps (default 5% of the run, at most ${FINETUNE_DEFAULTS.warmupMax})
  --weight-decay X      AdamW weight decay (default ${FINETUNE_DEFAULTS.weightDecay})
  --template FILE       a Jinja chat template to use instead of the tokenizer's
  --eval-every N        steps between validations (default: a tenth of the run)
  --checkpoint-every N  steps between checkpoints (default: a quarter of the run)
  --log-every N         steps between progress lines (default 10)
  --seed N              data order, split and adapter init (default 0)
  --resume              continue the newest checkpoint in RUN
  --json                one JSON object per event instead of progress lines
LoRA:
  --rank N              adapter rank r (default 8)
  --alpha X             scale = alpha / r (default 16)
  --dropout X           dropout on the adapters' input (default 0)
  --targets LIST        comma-separated: ${LORA_TARGETS.join(",")} (default all), or HF module names (q_proj, c_attn…)

Examples:
  slm finetune --base runs/hr/model --data chats.jsonl --out runs/hr-chat --epochs 3
  slm finetune --base runs/hr/model --data chats.jsonl --out runs/hr-full --method full --lr 5e-5
  slm finetune --base runs/hr-sft/model --data pairs.jsonl --out runs/hr-dpo --objective dpo --beta 0.1
  slm chat --model runs/hr/model --adapter runs/hr-chat/adapter`;

const OPTIONS = {
  base: { type: "string" },
  data: { type: "string" },
  out: { type: "string" },
  method: { type: "string" },
  val: { type: "string" },
  "val-fraction": { type: "string" },
  epochs: { type: "string" },
  "max-steps": { type: "string" },
  batch: { type: "string" },
  context: { type: "string" },
  lr: { type: "string" },
  warmup: { type: "string" },
  "weight-decay": { type: "string" },
  template: { type: "string" },
  "eval-every": { type: "string" },
  "checkpoint-every": { type: "string" },
  "log-every": { type: "string" },
  seed: { type: "string" },
  resume: { type: "boolean" },
  json: { type: "boolean" },
  task: { type: "string" },
  index: { type: "string" },
  qa: { type: "string" },
  synthetic: { type: "string" },
  "teacher-url": { type: "string" },
  "teacher-model": { type: "string" },
  "teacher-sections": { type: "string" },
  negatives: { type: "string" },
  "answer-tokens": { type: "string" },
  rank: { type: "string" },
  alpha: { type: "string" },
  dropout: { type: "string" },
  targets: { type: "string" },
  "base-dtype": { type: "string" },
  checkpointing: { type: "boolean" },
  "no-checkpointing": { type: "boolean" },
  packing: { type: "boolean" },
  "no-packing": { type: "boolean" },
  objective: { type: "string" },
  beta: { type: "string" },
  loss: { type: "string" },
  "orpo-lambda": { type: "string" },
  "rpo-alpha": { type: "string" },
} as const;

export const finetuneCommand: Command = {
  name: "finetune",
  summary: "supervised fine-tuning on chat JSONL, or DPO / ORPO on preference pairs (full or LoRA)",
  help: HELP,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(argv, OPTIONS, false);
    const f = settingsFromFlags(v);
    const { task, preference, method, lora, config, epochs, valFraction, template, checkpointing, packing } = f;
    const json = Boolean(v.json);
    const say = (s: string) => (json ? undefined : ctx.err(s));
    const loaded = loadModel(f.base, f.loadOpts);
    const storage = weightStorage(loaded.model);
    const tokenizer = loaded.tokenizer;
    if (!tokenizer) throw new ConfigError(`${f.base} has no tokenizer; fine-tuning on chat needs one`);
    const runDir = resolve(v.out!);
    if (preference) {
      return runPreference(
        {
          ...preference,
          model: loaded.model,
          tokenizer,
          data: v.data!,
          val: v.val,
          valFraction,
          method,
          lora,
          template,
          epochs,
          config,
          runDir,
          resume: Boolean(v.resume),
          baseModel: loaded.source.repo ?? resolve(f.base),
          generation: loaded.generation,
          checkpointing,
          memoryBudgetBytes: availableMemory(),
          json,
        },
        ctx,
      );
    }
    const examples =
      task === "chat"
        ? readChatJsonl(v.data!)
        : await groundedQaExamples(
            {
              index: v.index,
              qa: v.qa,
              seed: config.seed ?? 0,
              synthetic: v.synthetic === undefined ? undefined : intFlag("synthetic", v.synthetic, 0, 0),
              teacherUrl: v["teacher-url"],
              teacherModel: v["teacher-model"],
              teacherSections: v["teacher-sections"] === undefined ? undefined : intFlag("teacher-sections", v["teacher-sections"], 50, 1),
              negatives: numFlag("negatives", v.negatives, 0, 1, "max"),
              answerTokens: intFlag("answer-tokens", v["answer-tokens"], 64, 1),
              context: config.seqLen ?? Math.min(loaded.config.maxSeqLen, FINETUNE_DEFAULTS.maxLen),
            },
            tokenizer,
            runDir,
            (s) => say(s),
          );
    const valExamples = v.val === undefined ? undefined : readChatJsonl(v.val);
    say(
      `slm finetune: ${method} on ${loaded.config.modelType} ${formatCount(loaded.model.numParameters())} parameters (${storage.label}, ${formatBytes(storage.bytes)}), ${examples.length} examples, run ${runDir}`,
    );

    const r = await withStopSignals((signal) =>
      finetune({
        model: loaded.model,
        tokenizer,
        examples,
        valExamples,
        valFraction,
        method,
        lora,
        template,
        epochs,
        config,
        runDir,
        resume: Boolean(v.resume),
        baseModel: loaded.source.repo ?? resolve(f.base),
        // Recorded so that `slm serve --index` knows this model was trained to write answers.
        generation: { ...loaded.generation, slm_finetune_task: task },
        onEvent: sftPrinter(ctx, json),
        signal,
        checkpointing,
        packing,
        memoryBudgetBytes: availableMemory(),
      }),
    );
    printSummary(ctx, r, method, json);
    return r.stopped === "requested" ? 130 : 0;
  },
};

/** Memory the system can give this run: MemAvailable on Linux (free + reclaimable cache), else os.freemem(). */
function availableMemory(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return freemem();
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`--template ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

type Values = Parsed<typeof OPTIONS>["values"];

/** Every flag checked (combinations included) and turned into settings, before the (slow) model load. */
function settingsFromFlags(v: Values) {
  if (!v.base) throw new UsageError("--base MODEL_DIR is required");
  const base = v.base;
  const task = v.task ?? "chat";
  if (task !== "chat" && task !== "grounded-qa") throw new UsageError(`--task must be chat or grounded-qa, got "${v.task}"`);
  const objective = v.objective ?? "sft";
  if (objective !== "sft" && objective !== "dpo" && objective !== "orpo") throw new UsageError(`--objective must be sft, dpo or orpo, got "${v.objective}"`);
  if (objective === "sft" && (v.beta ?? v.loss ?? v["orpo-lambda"] ?? v["rpo-alpha"]) !== undefined)
    throw new UsageError("--beta, --loss, --rpo-alpha and --orpo-lambda are preference options (--objective dpo|orpo)");
  if (objective !== "sft" && task !== "chat")
    throw new UsageError("--objective dpo|orpo trains on preference pairs (--data); --task grounded-qa is supervised only");
  if (objective !== "sft" && (v.packing || v["no-packing"])) throw new UsageError("--packing is for SFT: preference batches hold one sequence per row");
  const preference =
    objective === "sft" ? null : checkPreferenceFlags({ objective, beta: v.beta, loss: v.loss, orpoLambda: v["orpo-lambda"], rpoAlpha: v["rpo-alpha"] });
  if (task === "chat" && !v.data) throw new UsageError(`--data ${preference ? "pairs" : "chat"}.jsonl is required`);
  if (task === "grounded-qa" && v.data) throw new UsageError("--task grounded-qa builds its examples from --index (and --qa); --data is for chat JSONL");
  if (!v.out) throw new UsageError("--out RUN is required (the run directory)");
  const method = (v.method ?? "lora") as FinetuneMethod;
  if (method !== "lora" && method !== "full") throw new UsageError(`--method must be lora or full, got "${v.method}"`);
  if (method === "full" && (v.rank ?? v.alpha ?? v.dropout ?? v.targets) !== undefined)
    throw new UsageError("--rank, --alpha, --dropout and --targets are LoRA options (--method lora)");
  if (v["max-steps"] !== undefined && v.epochs !== undefined) throw new UsageError("give --epochs or --max-steps, not both");
  const lora = {
    r: v.rank === undefined ? undefined : intFlag("rank", v.rank, 8),
    alpha: numFlag("alpha", v.alpha, 0, Infinity, "min"),
    dropout: numFlag("dropout", v.dropout, 0, 1, "max"),
    targets: v.targets
      ?.split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
  };
  const config = {
    maxSteps: v["max-steps"] === undefined ? undefined : intFlag("max-steps", v["max-steps"], 1),
    batch: v.batch === undefined ? undefined : intFlag("batch", v.batch, 8),
    seqLen: v.context === undefined ? undefined : intFlag("context", v.context, 256),
    lr: numFlag("lr", v.lr, 0),
    warmupSteps: v.warmup === undefined ? undefined : intFlag("warmup", v.warmup, 0, 0),
    weightDecay: numFlag("weight-decay", v["weight-decay"], 0),
    evalEvery: v["eval-every"] === undefined ? undefined : intFlag("eval-every", v["eval-every"], 1, 0),
    checkpointEvery: v["checkpoint-every"] === undefined ? undefined : intFlag("checkpoint-every", v["checkpoint-every"], 1, 0),
    logEvery: intFlag("log-every", v["log-every"], 10),
    seed: intFlag("seed", v.seed, 0, 0),
  };
  const epochs = numFlag("epochs", v.epochs, 0, Infinity, "min");
  const valFraction = numFlag("val-fraction", v["val-fraction"], 0, 1, "max");
  const template = v.template === undefined ? undefined : readText(v.template);

  if (v.checkpointing && v["no-checkpointing"]) throw new UsageError("give --checkpointing or --no-checkpointing, not both");
  const checkpointing = v.checkpointing ? true : v["no-checkpointing"] ? false : undefined;
  if (v.packing && v["no-packing"]) throw new UsageError("give --packing or --no-packing, not both");
  const packing = v.packing ? true : v["no-packing"] ? false : undefined;
  const baseDtype = v["base-dtype"] === undefined ? undefined : parseStoragePreset(v["base-dtype"], "--base-dtype");
  if (baseDtype !== undefined && method === "full")
    throw new UsageError("--base-dtype is for --method lora: full fine-tuning trains the base weights, which stay float32");
  // LoRA freezes the base: a .gguf keeps its stored (quantized) types unless asked otherwise.
  const loadOpts: LoadOptions = method !== "lora" ? {} : baseDtype !== undefined ? { dtype: baseDtype } : base.endsWith(".gguf") ? { keepQuantized: true } : {};
  return { base, task, preference, method, lora, config, epochs, valFraction, template, checkpointing, packing, loadOpts };
}

/** Training progress: JSON lines with --json, else a line per start, log step, evaluation and warning. */
function sftPrinter(ctx: CommandContext, json: boolean): (e: TrainEvent) => void {
  return (e) => {
    if (json) return ctx.out(JSON.stringify(e));
    if (e.type === "start") ctx.err(`  ${e.totalSteps ?? "?"} steps${e.resumedFrom !== null ? `, resumed from step ${e.resumedFrom}` : ""}`);
    else if (e.type === "step")
      ctx.err(`  step ${e.step}/${e.totalSteps} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} ${formatCount(e.tokensPerSec)} tok/s`);
    else if (e.type === "eval") ctx.err(`  eval @ ${e.step}: val loss ${e.valLoss.toFixed(4)} (perplexity ${e.perplexity.toFixed(2)})`);
    else if (e.type === "warn") ctx.err(`  warning: ${e.message}`);
  };
}

/** The run's summary: one JSON line with --json, else a few lines on stderr. */
function printSummary(ctx: CommandContext, r: FinetuneResult, method: FinetuneMethod, json: boolean): void {
  const s = r.summary;
  if (json) {
    ctx.out(JSON.stringify({ type: "summary", output: r.output, ...s }));
    return;
  }
  if (r.train.truncated > 0 || r.train.dropped > 0)
    ctx.err(`  note: ${r.train.truncated} examples cut to the context, ${r.train.dropped} dropped (no assistant token left)`);
  ctx.err(
    `slm finetune: ${s.steps} steps in ${formatDuration(s.elapsedS * 1000)} (${formatCount(s.tokensPerS)} tok/s), trained ${formatCount(s.trainableParams)} of ${formatCount(s.params)} values`,
  );
  if (s.finalValLoss !== null) ctx.err(`  final val loss ${s.finalValLoss.toFixed(4)}`);
  ctx.err(
    `  gradients + optimizer ${formatBytes(s.memory.gradientBytes + s.memory.optimizerBytes)}, peak RSS ${formatBytes(s.memory.peakRssBytes)} (estimated ${formatBytes(r.memoryEstimate.totalBytes)}; checkpointing ${r.checkpointing ? "on" : "off"}, packing ${r.packing ? "on" : "off"})`,
  );
  ctx.err(`  ${method === "lora" ? "adapter" : "model"}: ${r.output}`);
}
