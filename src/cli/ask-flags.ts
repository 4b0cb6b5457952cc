// The flags of a grounded answer, shared by `slm ask`, `slm eval qa` and
// `slm eval compare` (index, retrieval, k, confidence threshold, budget,
// decoding, the model or reader that answers), their help text, and the step
// from their values to answer()'s options (index, embedder and model opened).
// Knows nothing about the commands.
import { DEFAULT_MIN_CONFIDENCE } from "../assistant/confidence.ts";
import { SectionIndex } from "../assistant/index-db.ts";
import { embedderFor } from "../assistant/open-embedder.ts";
import { READER_BASELINE_WEIGHT } from "../assistant/reader.ts";
import { DEFAULT_RETRIEVAL_MODE, RETRIEVAL_MODES, needsEmbedder, type RetrievalMode } from "../assistant/retrieve.ts";
import type { AnswerOptions } from "../assistant/answer.ts";
import { UsageError } from "../errors.ts";
import { loadModel, stopTokenIds } from "../formats/hf-dir.ts";
import { isReaderDir, loadReaderDir } from "../formats/reader-dir.ts";
import { intFlag, numFlag, type Options } from "./command.ts";
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

export type AskValues = { [K in keyof typeof ASK_FLAGS]?: string };

/** Opens the index, embedder and model that the ask flags name. Caller closes `index`. */
export function answerOptionsFromFlags(v: AskValues): AnswerOptions & { index: SectionIndex } {
  if (!v.index) throw new UsageError("--index INDEX is required (build one with `slm index`)");
  const mode = (v.retrieval ?? DEFAULT_RETRIEVAL_MODE) as RetrievalMode;
  if (!RETRIEVAL_MODES.includes(mode)) throw new UsageError(`--retrieval must be one of ${RETRIEVAL_MODES.join(", ")}, got "${v.retrieval}"`);
  const minConfidence = numFlag("min-confidence", v["min-confidence"], 0, 1) ?? DEFAULT_MIN_CONFIDENCE;
  const k = intFlag("k", v.k, 3);
  const decode = v.decode ?? "free";
  if (decode !== "free" && decode !== "copy" && decode !== "copy-answer") throw new UsageError(`--decode must be free, copy or copy-answer, got "${v.decode}"`);
  const maxTokens = intFlag("max-tokens", v["max-tokens"], 64);
  const readerBaselineWeight = numFlag("baseline-weight", v["baseline-weight"], 0);
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
