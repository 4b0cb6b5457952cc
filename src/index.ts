// The public library API: `import { … } from "slmkit"`. Everything exported
// here is supported (documented, kept stable within a minor version, covered
// by the examples in examples/ and the packed-package test); every other
// module under src/ is internal and may change without notice. Grouped by
// the job: models and formats, tokenizers, documents, training, generation,
// the document assistant, serving, errors. Only re-exports: this file holds
// no logic. docs/architecture.md lists the layers behind it.

// ── Errors ───────────────────────────────────────────────────────────────────

/**
 * Every error slmkit throws on purpose is an `SlmError` with a stable `code`
 * ("SHAPE", "FORMAT", "CONFIG", "USAGE", "IO", "NATIVE", "NOT_FOUND",
 * "CANCELLED", "OVERLOADED") and an optional `hint`; the subclasses name the
 * kind of problem (a corrupt file is a `FormatError`, a bad option a
 * `ConfigError`, a missing model a `NotFoundError`…).
 */
export {
  SlmError,
  ShapeError,
  FormatError,
  ConfigError,
  UsageError,
  NativeError,
  CancelledError,
  NotFoundError,
  OverloadedError,
  isSlmError,
} from "./errors.ts";
export type { ErrorCode } from "./errors.ts";

// ── Models and formats ───────────────────────────────────────────────────────

/**
 * Loads a model for inference or fine-tuning from a Hugging Face directory
 * (config.json + safetensors + tokenizer.json), a `.gguf` file (quantized
 * types are kept), a llama2.c `.bin` checkpoint, or an `org/name` already in
 * the Hugging Face cache. Returns the model, its tokenizer (when the files
 * have one), its generation config and where it came from. Never touches the
 * network (see `pullModel`).
 */
export { loadModel, saveModelDir, stopTokenIds } from "./formats/hf-dir.ts";
export type { LoadedModel, LoadOptions, SaveOptions, GenerationConfig } from "./formats/hf-dir.ts";

/**
 * Writes a loaded model as a Hugging Face directory or a GGUF file (f32, f16,
 * bf16, q8_0, q4_0, q4_k_m, q5_k_m, q6_k), checking the export against the
 * original's logits; `importModel` converts a GGUF / llama2.c / HF source into
 * a model directory.
 */
export { exportModel, importModel } from "./formats/convert.ts";
export type { ExportOptions, ExportResult, ExportFormat, ExportDtype, ImportResult } from "./formats/convert.ts";

/** Reads and writes safetensors files (the tensors of a Hugging Face model directory). */
export { SafetensorsFile, writeSafetensors } from "./formats/safetensors.ts";
export type { TensorToWrite } from "./formats/safetensors.ts";

/** LoRA adapters in the PEFT layout (adapter_config.json + adapter_model.safetensors). */
export { saveAdapter, loadAdapter, isAdapterDir } from "./formats/peft.ts";

/** Quantizes a model's weights in place to a storage preset (q8_0, q4_0, q4_k_m…). */
export { quantizeModel } from "./formats/quantize-model.ts";

/** Downloads a model from the Hugging Face Hub into the shared cache (resumable, checksummed). */
export { pullModel } from "./formats/hub/pull.ts";
export type { PullOptions, PullResult, PullEvent } from "./formats/hub/pull.ts";

/**
 * A model from a configuration: `presetConfig("micro", vocabSize)` names one
 * of the built-in sizes (PRESETS), `createModel(config, seed)` initialises its
 * weights; `countParameters` sizes a configuration.
 */
export { createModel, LlamaModel, GemmaModel, Gpt2Model, attachLora, LoraModel } from "./models/index.ts";
export type { CausalLM, KvDtype, LoraOptions } from "./models/index.ts";
export { presetConfig, PRESETS, countParameters, validateConfig, fromHfConfig, toHfConfig } from "./models/config.ts";
export type { ModelConfig, ModelType, PresetName } from "./models/config.ts";

// ── Tokenizers ───────────────────────────────────────────────────────────────

/**
 * Byte-level BPE tokenizers: `Tokenizer.fromFile(dir or tokenizer.json)`
 * reads any Hugging Face tokenizer.json (Llama 3, Qwen, GPT-2…);
 * `trainBpe(texts, { vocabSize })` trains one; chat templates render with
 * `renderChat` / `chatPromptIds` (the model's own Jinja template, or ChatML).
 */
export { Tokenizer, trainBpe, DEFAULT_SPECIAL_TOKENS, CHATML_TEMPLATE, chatPromptIds, renderChat, hasChatTemplate } from "./tokenizer/index.ts";
export type { TokenizerConfig, EncodeOptions, DecodeOptions, TrainOptions as TokenizerTrainOptions, ChatMessage } from "./tokenizer/index.ts";

// ── Documents → datasets ─────────────────────────────────────────────────────

/**
 * Turns folders of documents (md, txt, html, pdf, docx, json, jsonl, csv)
 * into a dataset directory: cleaned, deduplicated, split, tokenized into
 * shards, with a manifest. Pass `trainTokenizer: trainTextTokenizer` to train
 * a BPE tokenizer on the documents, or a tokenizer to use.
 */
export { ingest } from "./data/ingest.ts";
export type { IngestOptions, IngestProgress, Manifest } from "./data/ingest.ts";
export { trainTextTokenizer, asTextTokenizer, loadTextTokenizer } from "./data/tokenizer.ts";

/** Opens a dataset directory for training: its train / validation shards, vocabulary size and tokenizer. */
export { openDataset, isDataset } from "./train/dataset.ts";
export type { Dataset } from "./train/dataset.ts";

// ── Training ─────────────────────────────────────────────────────────────────

/**
 * Pretrains (or continues) a model on a dataset's shards or any batch source:
 * AdamW with warm-up and cosine decay, gradient accumulation, checkpoints and
 * exact resume in `runDir`, metrics.jsonl, a wall-time budget, progress
 * events. Returns when done, stopped or aborted through `signal`.
 */
export { train, TRAIN_DEFAULTS, EARLY_STOP } from "./train/trainer.ts";
export type { TrainRun, TrainConfig, TrainEvent, TrainResult, StopReason } from "./train/trainer.ts";

/** Stops a run once the validation loss stops improving, keeping the best weights (`EarlyStopping(model, patience)`). */
export { EarlyStopping } from "./train/early-stop.ts";

/**
 * A whole training run directory, as `slm train` makes it: `train()`, then (with `earlyStop`)
 * the best validation weights kept, RUN/model (or RUN/adapter) saved and the settings recorded.
 */
export { trainRunDir } from "./train/run.ts";
export type { RunDirOptions, RunDirResult } from "./train/run.ts";

/** Chat fine-tuning (SFT) of a model directory on chat JSONL: full or LoRA, with loss masks on the prompt. */
export { finetune, FINETUNE_DEFAULTS } from "./train/finetune.ts";
export type { FinetuneOptions, FinetuneResult, FinetuneMethod } from "./train/finetune.ts";
export { readChatJsonl, parseChatJsonl } from "./train/sft.ts";
export type { ChatExample } from "./train/sft.ts";

/** Logit distillation of a student from a teacher with the same vocabulary (cached top-k teacher logits). */
export { distill, DISTILL_DEFAULTS } from "./train/distill.ts";
export type { DistillRun, DistillConfig, DistillSummary } from "./train/distill.ts";

// ── Generation ───────────────────────────────────────────────────────────────

/**
 * Generates from token ids: `generate(model, [promptIds], { maxTokens,
 * sampling, stopTokenIds, onToken })` runs one or more prompts with a KV cache
 * and returns the generated ids per prompt. Encode and decode with the
 * model's tokenizer. `generateWithStats` also reports timings.
 */
export { generate, generateWithStats } from "./infer/generate.ts";
export type { GenerateOptions, GenerateResult, GenerateStats } from "./infer/generate.ts";
export type { SamplingOptions } from "./infer/sampler.ts";

/** The continuous-batching engine the server runs: many requests sharing decode steps. */
export { Engine } from "./infer/engine.ts";
export type { EngineOptions, EngineRequest, EngineStats } from "./infer/engine.ts";

// ── The document assistant ───────────────────────────────────────────────────

/**
 * Indexes a dataset's sections for retrieval (SQLite FTS5 BM25, and vectors
 * from an `Embedder`: `new HashEmbedder()` needs no model); open an index with
 * `SectionIndex.open(path)`.
 */
export { buildIndex, SectionIndex } from "./assistant/index-db.ts";
export type { BuildIndexOptions, IndexInfo, Section } from "./assistant/index-db.ts";
export { HashEmbedder, ModelEmbedder } from "./assistant/embed.ts";
export type { Embedder } from "./assistant/embed.ts";

/**
 * Answers a question from an index with citations, or "Not found in the
 * documents." when the answer confidence is too low: extractively (no model),
 * with a reader, or generated by a model from the retrieved sections.
 */
export { answer } from "./assistant/answer.ts";
export type { AnswerOptions, AnswerResult, Citation } from "./assistant/answer.ts";
export { retrieve } from "./assistant/retrieve.ts";
export type { Retrieval, RetrieveOptions, RetrievalMode } from "./assistant/retrieve.ts";

// ── Serving ──────────────────────────────────────────────────────────────────

/**
 * Starts the OpenAI-compatible HTTP server with the web UI over a model
 * (inference in a worker thread); with `index` it also serves the cited
 * assistant. Resolves with the URL and a graceful `close()`.
 */
export { startServer } from "./serve/server.ts";
export type { ServerOptions, RunningServer } from "./serve/server.ts";

/** The server's inference backend on the calling thread (no worker), for embedding slmkit in another server. */
export { createLocalBackend } from "./serve/local-backend.ts";
export type { InferenceBackend, BackendOptions, ModelCard } from "./serve/backend.ts";
