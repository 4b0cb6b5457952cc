// The contract between the HTTP app (app.ts: routes, schemas, SSE, metrics)
// and the inference side (a worker thread that owns the model, the tokenizer
// and the batching engine). The app speaks text and OpenAI shapes; the backend
// speaks text in, text out, and never sees HTTP. Types only: both sides
// implement or consume these, and tests can drive either side alone.
import type { LoadOptions } from "../formats/hf-dir.ts";
import type { ChatMessage } from "../tokenizer/index.ts";

/** What GET /v1/models and the web UI's model card show. */
export interface ModelCard {
  /** The model id clients pass as `model` (default: the model directory's name). */
  id: string;
  /** "llama", "qwen2", "gpt2", … (config.json model_type). */
  modelType: string;
  /** Parameter count. */
  parameters: number;
  /** Maximum sequence length in tokens (prompt + completion). */
  contextLength: number;
  vocabSize: number;
  layers: number;
  dModel: number;
  heads: number;
  kvHeads: number;
  /** Weight storage as served: "F32", "Q8_0", "Q4_0", …; a mix lists its matrix types, largest share first ("Q4_K+Q6_K+Q4_0"). */
  quantization: string;
  /** Bytes the weights hold in memory. */
  weightBytes: number;
  /** Whether chat prompts use the tokenizer's chat template (else plain "User:/Assistant:" turns). */
  chatTemplate: boolean;
  /** Unix seconds when the server loaded it. */
  created: number;
}

export interface SamplingParams {
  /** 0 = greedy. Default 1. */
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  /** Same seed + same request → same output. */
  seed?: number;
}

export type GenerationInput =
  | { kind: "chat"; messages: ChatMessage[] }
  | { kind: "text"; prompt: string };

export interface GenerationRequest {
  input: GenerationInput;
  /** Most tokens to generate; undefined = until a stop or the context is full. */
  maxTokens?: number;
  /** Stop strings (not included in the output). */
  stop?: string[];
  sampling: SamplingParams;
  /** Aborted on client disconnect, timeout or shutdown: the generation stops (finishReason "cancelled"). */
  signal?: AbortSignal;
  /** Streaming: called with each new piece of text as it becomes final (stop strings already removed). */
  onText?: (delta: string) => void;
}

export interface GenerationResult {
  text: string;
  finishReason: "stop" | "length" | "cancelled";
  promptTokens: number;
  completionTokens: number;
}

export interface EmbeddingResult {
  /** One vector per input: the mean of the final hidden states over the input's tokens. */
  embeddings: number[][];
  promptTokens: number;
}

export interface BackendStats {
  /** Requests waiting for a slot. */
  queued: number;
  /** Requests generating now (sharing decode steps). */
  active: number;
  maxQueue: number;
  maxConcurrency: number;
}

/**
 * Errors: a prompt + maxTokens beyond the context → UsageError (HTTP 400); queue full →
 * OverloadedError with retryAfterSeconds (429); cancelled → a result with finishReason
 * "cancelled" (not an error). Anything else is a bug (500) and must not kill the server.
 */
export interface InferenceBackend {
  readonly card: ModelCard;
  generate(req: GenerationRequest): Promise<GenerationResult>;
  embed(inputs: string[], signal?: AbortSignal): Promise<EmbeddingResult>;
  /** Number of tokens a chat or text prompt becomes (validation, usage). */
  countTokens(input: GenerationInput): Promise<number>;
  stats(): BackendStats;
  /** Finishes (or cancels, after graceDeadlineMs) running work and stops the worker. */
  close(graceMs?: number): Promise<void>;
}

/** How createLocalBackend / createWorkerBackend (src/serve/worker-backend.ts) run a model. */
export interface BackendOptions {
  /** KV-cache slots: the most requests generating together (sharing decode steps). Default 8. */
  maxConcurrency?: number;
  /** The most requests waiting for a slot; beyond, generate() rejects with OverloadedError (429). Default 64. */
  maxQueue?: number;
  /** Kernel threads (the native pool is per process: the worker backend sets it for the whole process). Default: the pool's (SLM_THREADS or all cores). */
  threads?: number;
  /** ModelCard.id. Default: the model directory's (or file's) name. */
  modelId?: string;
  /** Cancel a generation after this many ms (finishReason "cancelled"). Default: no limit. */
  requestTimeoutMs?: number;
  /** A LoRA adapter directory (PEFT format, `slm finetune --method lora`) applied unmerged on top of the model. */
  adapter?: string;
  /** How the model's weights are stored when the backend loads it from a path (quantized types kept, or a preset). Default: a GGUF file keeps its types. */
  load?: LoadOptions;
}
