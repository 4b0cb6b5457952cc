// `slm train-reader`: trains the extractive reader that `slm ask/eval qa/serve
// --model` use to pick the answering sentence of the retrieved sources. Thin:
// opens the index and tokenizer, gathers question seeds, builds the examples,
// trains and saves (src/assistant/reader-train.ts, src/formats/reader-dir.ts).
import { join, resolve } from "node:path";

import { ConfigError, UsageError } from "../errors.ts";
import { SectionIndex } from "../assistant/index-db.ts";
import { READER_ANSWER_WORDS, READER_TRAIN_DEFAULTS, buildReaderExamples, trainReader, type ReaderExample } from "../assistant/reader-train.ts";
import { readQaPairs, synthSeeds, type QaSeed } from "../assistant/synth.ts";
import { loadModel } from "../formats/hf-dir.ts";
import { saveReaderDir } from "../formats/reader-dir.ts";
import { LlamaModel, presetConfig } from "../models/index.ts";
import { ReaderModel } from "../models/reader.ts";
import { openDataset } from "../train/dataset.ts";
import { Tokenizer } from "../tokenizer/index.ts";
import { writeFileAtomicSync } from "../util/atomic.ts";
import { Rng } from "../util/rng.ts";
import { intFlag, numFlag, parse, type Command } from "./command.ts";
import { formatCount, formatDuration, parseDuration } from "./format.ts";
import { DEFAULT_RETRIEVAL_MODE, needsEmbedder } from "../assistant/retrieve.ts";
import { embedderFor } from "../assistant/open-embedder.ts";
import { StatusLine } from "./progress.ts";

const FLAGS = {
  index: { type: "string" },
  out: { type: "string" },
  preset: { type: "string" },
  "init-from": { type: "string" },
  tokenizer: { type: "string" },
  synthetic: { type: "string" },
  qa: { type: "string" },
  "time-budget": { type: "string" },
  "max-steps": { type: "string" },
  groups: { type: "string" },
  "group-size": { type: "string" },
  lr: { type: "string" },
  "val-questions": { type: "string" },
  "token-dropout": { type: "string" },
  "eval-every": { type: "string" },
  seed: { type: "string" },
  json: { type: "boolean" },
} as const;

export const trainReaderCommand: Command = {
  name: "train-reader",
  summary: "train the extractive reader that picks the answering sentence (slm ask --model READER)",
  help: `Usage: slm train-reader --index INDEX --out DIR [options]

Trains a reader: a small Llama decoder that reads a question and one sentence
of the retrieved sources (with word-match features) and scores how well the
sentence answers it. \`slm ask\`, \`slm eval qa\` and \`slm serve --index\` given
--model DIR answer with the best-scoring sentence, cited. Training questions
come from the documents themselves (synthetic, as for grounded-QA
fine-tuning) and from --qa pairs; each goes through the same retrieval as a
real question, and the shown sentence holding its answer is the target.

Options:
  --index INDEX         index made by \`slm index\` (required)
  --out DIR             where the reader directory is written (required)
  --preset NAME         decoder size for a new reader: nano (default), micro, mini
  --init-from DIR       start from a trained language model's decoder (its tokenizer is used);
                        a nano model pretrained on the same documents reads better than random
                        weights (docs/assistant.md)
  --tokenizer DIR       tokenizer for a new reader (default: the indexed dataset's)
  --synthetic N         synthetic questions from the documents (default 6000; 0 with --qa only)
  --qa FILE             your question/answer pairs, JSONL {"question","answer"}
  --time-budget T       wall time for the training steps, e.g. 10m (default: --max-steps only)
  --max-steps N         most steps (default ${READER_TRAIN_DEFAULTS.maxSteps})
  --groups N            questions per step (default ${READER_TRAIN_DEFAULTS.groups})
  --group-size N        candidates per question per step, the right one included (default ${READER_TRAIN_DEFAULTS.groupSize})
  --lr X                peak learning rate (default ${READER_TRAIN_DEFAULTS.lr}; warmup then cosine)
  --token-dropout P     share of word pieces hidden in each training pair (default ${READER_TRAIN_DEFAULTS.tokenDropout})
  --val-questions N     questions held out for validation accuracy (default 100)
  --eval-every N        steps between validations (default 200)
  --seed N              seed for questions, initialisation and order (default 0)
  --json                progress as JSON lines on stdout

Example:
  slm train --data data/18f --preset nano --time-budget 7m --early-stop 3 --out runs/reader-lm
  slm train-reader --index data/18f.index --init-from runs/reader-lm/model --out runs/reader --time-budget 5m
  slm eval qa --model runs/reader --index data/18f.index --questions examples/qa/18f-handbook.jsonl`,
  async run(argv, ctx) {
    const { values: v } = parse(argv, FLAGS, false);
    if (!v.index) throw new UsageError("--index INDEX is required (build one with `slm index`)");
    if (!v.out) throw new UsageError("--out DIR is required");
    const seed = intFlag("seed", v.seed, 0, 0);
    const nSynth = intFlag("synthetic", v.synthetic, v.qa ? 0 : 6000, 0);
    const valN = intFlag("val-questions", v["val-questions"], 100, 0);
    const lr = numFlag("lr", v.lr, 0, Infinity, "min") ?? READER_TRAIN_DEFAULTS.lr;
    const tokenDropout = numFlag("token-dropout", v["token-dropout"], 0, 1, "max") ?? READER_TRAIN_DEFAULTS.tokenDropout;
    const timeBudgetMs = v["time-budget"] === undefined ? 0 : parseDuration("time-budget", v["time-budget"]);
    const cfg = {
      ...READER_TRAIN_DEFAULTS,
      groups: intFlag("groups", v.groups, READER_TRAIN_DEFAULTS.groups),
      groupSize: intFlag("group-size", v["group-size"], READER_TRAIN_DEFAULTS.groupSize, 2),
      maxSteps: intFlag("max-steps", v["max-steps"], v["time-budget"] === undefined ? READER_TRAIN_DEFAULTS.maxSteps : 1_000_000),
      evalEvery: intFlag("eval-every", v["eval-every"], 200),
      lr,
      tokenDropout,
      timeBudgetMs,
      seed,
    };
    const t0 = performance.now();
    const status = new StatusLine(ctx);
    const say = (s: string) => (v.json ? undefined : status.log(s));
    const index = SectionIndex.open(v.index);
    try {
      // The decoder and its tokenizer.
      let model: ReaderModel, tokenizer: Tokenizer;
      const rng = new Rng(seed);
      if (v["init-from"]) {
        if (v.preset) throw new UsageError("--preset and --init-from exclude each other");
        const lm = loadModel(v["init-from"]); // a directory, a .gguf, or org/name from the Hub cache
        if (!(lm.model instanceof LlamaModel)) throw new ConfigError(`--init-from ${v["init-from"]}: the reader needs a Llama-family decoder`);
        if (!lm.tokenizer) throw new ConfigError(`--init-from ${v["init-from"]}: the model has no tokenizer.json`);
        tokenizer = lm.tokenizer;
        model = new ReaderModel(lm.config, rng, lm.model);
      } else {
        // The index records its dataset's absolute path (slm index resolves it).
        const tokDir = v.tokenizer ?? openDataset(index.info.dataset).tokenizerDir;
        if (!tokDir)
          throw new ConfigError(`no tokenizer: the dataset ${index.info.dataset} has none`, { hint: "give --tokenizer DIR or --init-from MODEL_DIR" });
        tokenizer = Tokenizer.fromFile(tokDir);
        model = new ReaderModel(presetConfig(v.preset ?? "nano", tokenizer.vocabSize, { maxSeqLen: 128 }), rng);
      }
      const params = model.numParameters();
      say(
        `reader: ${formatCount(params)} parameters (${v["init-from"] ? `decoder of ${v["init-from"]}` : `preset ${v.preset ?? "nano"}`}), vocabulary ${tokenizer.vocabSize}`,
      );

      // Questions -> examples (the same retrieval and source fitting as answering).
      const seeds: QaSeed[] = [];
      if (v.qa) seeds.push(...readQaPairs(v.qa));
      if (nSynth > 0) seeds.push(...synthSeeds(index, nSynth, seed, { maxWords: READER_ANSWER_WORDS, style: "both" }));
      if (seeds.length === 0) throw new UsageError("no questions: give --synthetic N (> 0) or --qa FILE");
      // Training retrieves as answering does by default; vectors (and a model embedder) only if that needs them.
      const embedder = needsEmbedder(DEFAULT_RETRIEVAL_MODE) ? embedderFor(index.info.embedder) : undefined;
      const tb = performance.now();
      const built = buildReaderExamples(seeds, { index, tokenizer, embedder });
      say(
        `examples: ${built.examples.length} from ${seeds.length} questions (${built.missed} dropped: answer not among the shown sentences; ${built.single} with one candidate) in ${formatDuration(performance.now() - tb)}`,
      );
      const order = new Rng(seed + 5).shuffle(built.examples.map((_, i) => i));
      const nVal = Math.min(valN, Math.floor(built.examples.length / 5));
      const val: ReaderExample[] = order.slice(0, nVal).map((i) => built.examples[i]!);
      const train: ReaderExample[] = order.slice(nVal).map((i) => built.examples[i]!);

      const result = trainReader(model, train, val, cfg, (e) => {
        if (v.json) return ctx.out(JSON.stringify(e));
        if (e.type === "step")
          status.update(
            `step ${e.step}/${e.totalSteps}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  ${e.pairsPerSec.toFixed(0)} pairs/s  ${formatDuration(e.elapsedMs)}`,
          );
        else status.log(`step ${e.step}: validation accuracy@1 ${(e.accuracy * 100).toFixed(1)}% of ${e.questions} questions (${formatDuration(e.elapsedMs)})`);
      });
      status.clear();
      const out = resolve(v.out);
      const info = {
        params,
        steps: result.steps,
        trainSeconds: Math.round(result.elapsedMs) / 1000,
        totalSeconds: Math.round(performance.now() - t0) / 1000,
        finalLoss: result.finalLoss,
        valAccuracy: result.valAccuracy,
        examples: { train: train.length, val: val.length, questions: seeds.length, missed: built.missed },
        index: resolve(v.index),
        initFrom: v["init-from"] ?? null,
        preset: v["init-from"] ? null : (v.preset ?? "nano"),
        config: cfg,
      };
      saveReaderDir(out, model, tokenizer, info);
      writeFileAtomicSync(join(out, "metrics.jsonl"), `${result.history.map((e) => JSON.stringify(e)).join("\n")}\n`, { mkdir: true });
      say(
        `saved ${out}: ${result.steps} steps in ${formatDuration(result.elapsedMs)}, validation accuracy@1 ${result.valAccuracy === null ? "–" : `${(result.valAccuracy * 100).toFixed(1)}%`}; ${formatDuration(performance.now() - t0)} in all`,
      );
      if (v.json) ctx.out(JSON.stringify({ type: "done", out, ...info }));
      return 0;
    } finally {
      index.close();
    }
  },
};
