// `slm ask`: answers one question from an index, with numbered citations
// (source path and heading path) or "not found in the documents". With
// --model the model generates from the grounded prompt; without it the
// extractive baseline answers (the best-matching sentence). With --json-schema
// the model's answer is a JSON value valid against the schema. Thin: the work
// is src/assistant/answer.ts.
import { NotFoundError, UsageError } from "../errors.ts";
import { answer, type AnswerOptions } from "../assistant/answer.ts";
import { DEFAULT_MIN_CONFIDENCE } from "../assistant/confidence.ts";
import { SectionIndex } from "../assistant/index-db.ts";
import { READER_BASELINE_WEIGHT } from "../assistant/reader.ts";
import { DEFAULT_RETRIEVAL_MODE, RETRIEVAL_MODES, needsEmbedder, type RetrievalMode } from "../assistant/retrieve.ts";
import { loadModel, stopTokenIds } from "../formats/hf-dir.ts";
import { compileSchema } from "../infer/json-schema/index.ts";
import { isReaderDir, loadReaderDir } from "../formats/reader-dir.ts";
import { intFlag, parse, type Command, type CommandContext, type Options } from "./command.ts";
import { embedderFor } from "./index-cmd.ts";
import { readSchemaFile } from "./generate.ts";
import { inferenceLoadOptions, kvDtypeFlag, MODEL_LOAD_FLAGS, MODEL_LOAD_HELP } from "./model-flags.ts";

export const ASK_FLAGS = {
  model: { type: "string" },
  index: { type: "string" },
  retrieval: { type: "string" },
  k: { type: "string" },
  "min-confidence": { type: "string" },
  "max-tokens": { type: "string" },
  "embed-model": { type: "string" },
  decode: { type: "string" },
  "baseline-weight": { type: "string" },
  ...MODEL_LOAD_FLAGS,
} as const satisfies Options;

export const ASK_FLAGS_HELP = `  --model MODEL_DIR       model that writes the answer, or a reader (slm train-reader) that picks the
                          answering sentence (default: extractive baseline, no model)
  --index INDEX           index made by \`slm index\` (required)
  --retrieval MODE        bm25: sections and their passages by BM25 (default); vector: the index's
                          vectors; hybrid: both fused (measured below BM25 with hashed vectors)
  --k N                   sections shown to the model (default 3)
  --min-confidence C      answer confidence (0-1) below which the answer is "not found" (default ${DEFAULT_MIN_CONFIDENCE}; 0 = always answer)
  --max-tokens N          most generated tokens (default 64)
  --embed-model DIR       model for question vectors when the index records another path
  --decode MODE           free: any text (default); copy: the model picks, token by token, one sentence
                          of the shown sources with its [n], or "not found in the documents";
                          copy-answer: the same without the not-found choice (left to retrieval)
  --baseline-weight W     with a reader: weight of the extractive baseline's sentence score beside the
                          reader's, both z-scored over the candidates (default ${READER_BASELINE_WEIGHT}; 0 = the reader alone)
${MODEL_LOAD_HELP}`;

type AskValues = { [K in keyof typeof ASK_FLAGS]?: string };

/** Opens the index, embedder and model that the ask flags name. Caller closes `index`. */
export function answerOptionsFromFlags(v: AskValues): AnswerOptions & { index: SectionIndex } {
  if (!v.index) throw new UsageError("--index INDEX is required (build one with `slm index`)");
  const mode = (v.retrieval ?? DEFAULT_RETRIEVAL_MODE) as RetrievalMode;
  if (!RETRIEVAL_MODES.includes(mode)) throw new UsageError(`--retrieval must be one of ${RETRIEVAL_MODES.join(", ")}, got "${v.retrieval}"`);
  let minConfidence = DEFAULT_MIN_CONFIDENCE;
  if (v["min-confidence"] !== undefined) {
    minConfidence = Number(v["min-confidence"]);
    if (!Number.isFinite(minConfidence) || minConfidence < 0 || minConfidence > 1)
      throw new UsageError(`--min-confidence must be a number in [0, 1], got "${v["min-confidence"]}"`);
  }
  const k = intFlag("k", v.k, 3);
  const decode = v.decode ?? "free";
  if (decode !== "free" && decode !== "copy" && decode !== "copy-answer") throw new UsageError(`--decode must be free, copy or copy-answer, got "${v.decode}"`);
  const maxTokens = intFlag("max-tokens", v["max-tokens"], 64);
  let readerBaselineWeight: number | undefined;
  if (v["baseline-weight"] !== undefined) {
    readerBaselineWeight = Number(v["baseline-weight"]);
    if (v["baseline-weight"].trim() === "" || !Number.isFinite(readerBaselineWeight) || readerBaselineWeight < 0)
      throw new UsageError(`--baseline-weight must be a number >= 0, got "${v["baseline-weight"]}"`);
  }
  const index = SectionIndex.open(v.index);
  try {
    const embedder = needsEmbedder(mode) ? embedderFor(index.info.embedder, v["embed-model"]) : undefined;
    const opts: AnswerOptions & { index: SectionIndex } = {
      index,
      mode,
      k,
      minConfidence,
      maxTokens,
      decode,
      ...(embedder ? { embedder } : {}),
      ...(readerBaselineWeight !== undefined ? { readerBaselineWeight } : {}),
    };
    if (v.model && isReaderDir(v.model)) {
      const r = loadReaderDir(v.model);
      Object.assign(opts, { reader: { model: r.model, tokenizer: r.tokenizer } });
    } else if (v.model) {
      const m = loadModel(v.model, inferenceLoadOptions(v));
      if (!m.tokenizer) throw new UsageError(`${v.model} has no tokenizer; answering needs one`);
      Object.assign(opts, { model: m.model, tokenizer: m.tokenizer, stopTokenIds: stopTokenIds(m, true), kvDtype: kvDtypeFlag(v) });
    }
    return opts;
  } catch (e) {
    index.close();
    throw e;
  }
}

export const askCommand: Command = {
  name: "ask",
  summary: "answer a question from an index, citing the sections used",
  help: `Usage: slm ask --index INDEX [--model MODEL_DIR] [options] "question"

Retrieves the top sections for the question, and answers from them with
citations [1], [2] (source path and heading), or says "not found in the
documents" when the answer confidence is low. Without --model, the answer is
the extractive baseline: the sentence of the top sections that shares the most
rare words with the question, preferring one that holds the kind of answer
asked for (a number for "How many…", a day for "When…"). With a reader
(slm train-reader), the reader's choice, weighed with the baseline's.

Options:
${ASK_FLAGS_HELP}
  --json                  print the whole result (text, citations, sources, retrieval) as JSON
  --json-schema FILE      the model writes its answer as JSON valid against this JSON Schema (the
                          subset \`slm generate --json-schema\` takes); stdout is then that JSON alone,
                          citations go to stderr. Needs --model with a model that writes (not a
                          reader) and --decode free; "not found" exits 1 with no JSON

Examples:
  slm ask --index data/hb.index "How many days of annual leave do I get?"
  slm ask --model runs/hr/model --index data/hb.index --json "Who approves travel?"
  slm ask --model runs/hr/model --index data/hb.index --json-schema leave.schema.json "How many leave days?"`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v, positionals } = parse(argv, { ...ASK_FLAGS, json: { type: "boolean" }, "json-schema": { type: "string" } });
    const question = positionals.join(" ").trim();
    if (!question) throw new UsageError('pass the question as an argument: slm ask --index INDEX "question"');
    const jsonSchema = v["json-schema"] !== undefined ? schemaFromFlags(v["json-schema"], v) : undefined;
    const opts = answerOptionsFromFlags(v);
    try {
      const r = await answer(question, jsonSchema !== undefined ? { ...opts, jsonSchema } : opts);
      if (v.json) {
        ctx.out(JSON.stringify(r));
        return 0;
      }
      const status = `(${r.method}${r.method === "extractive" ? " baseline" : ""}, ${r.retrieval.mode} retrieval, confidence ${r.retrieval.confidence.toFixed(2)} vs ${r.retrieval.minConfidence}, ${r.ms.toFixed(0)} ms)`;
      if (jsonSchema !== undefined) {
        // stdout holds the JSON value alone, so it can be piped; everything else goes to stderr.
        if (r.notFound)
          throw new NotFoundError(
            `not found in the documents (answer confidence ${r.retrieval.confidence.toFixed(2)} below ${r.retrieval.minConfidence}): no answer to write as JSON`,
            { hint: "lower --min-confidence to answer anyway" },
          );
        ctx.out(r.text);
        for (const c of r.citations) ctx.err(`[${c.n}] ${c.sourcePath} — ${c.headingPath}`);
        ctx.err(status);
        return 0;
      }
      ctx.out(r.text);
      if (r.citations.length > 0) {
        ctx.out("");
        for (const c of r.citations) ctx.out(`[${c.n}] ${c.sourcePath} — ${c.headingPath}`);
      }
      ctx.err(status);
      return 0;
    } finally {
      opts.index.close();
    }
  },
};

/**
 * --json-schema FILE, read and compiled before anything loads: a UsageError for an unreadable
 * file, bad JSON or an unsupported keyword, and when no model would write the answer (the
 * extractive baseline, a reader, or copy decoding pick a sentence of the sources instead).
 */
function schemaFromFlags(path: string, v: AskValues): unknown {
  const picked = !v.model
    ? "without --model the extractive baseline answers with a sentence of the sources"
    : isReaderDir(v.model)
      ? `${v.model} is a reader: it picks a sentence of the sources`
      : (v.decode ?? "free") !== "free"
        ? `--decode ${v.decode} copies a sentence of the sources`
        : undefined;
  if (picked)
    throw new UsageError(`--json-schema constrains an answer the model writes, and ${picked}`, {
      hint: "pass --model with a model that writes (and --decode free, the default)",
    });
  const schema = readSchemaFile(path);
  compileSchema(schema);
  return schema;
}
