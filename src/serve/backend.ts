// The contract between the HTTP app (app.ts: routes, schemas, SSE, metrics)
// and the inference side (a worker thread that owns the model, the tokenizer
// and the batching engine). The app speaks text and OpenAI shapes; the backend
// speaks text in, text out, and never sees HTTP. Types only: both sides
// implement or consume these, and tests can drive either side alone.
import type { LoadOptions } from "../formats/hf-dir.ts";
import type { KvDtype } from "../models/index.ts";
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
  /** Whether the chat template renders a `tools` variable (else tools get the default rendering of src/serve/tools.ts). */
  toolTemplate: boolean;
  /** How the model writes function calls: "hermes" (<tool_call> JSON, also the default) or "llama3" (a bare JSON object). */
  toolCallFormat: "hermes" | "llama3";
  /**
   * Whether the model was trained to write answers (a `slm finetune` record, or a chat template
   * of its own: an instruction-tuned model), and why: the assistant's "auto" answerer writes with
   * the model only then (src/assistant/served.ts).
   */
  writesAnswers: { ok: boolean; reason: string };
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
  /** `templateVars`: extra chat-template variables (e.g. `tools`); `prefix`: text that starts the reply, part of the prompt. */
  { kind: "chat"; messages: ChatMessage[]; templateVars?: Record<string, unknown>; prefix?: string } | { kind: "text"; prompt: string };

/**
 * Structured output: the reply is a JSON object (json_object) or a JSON value valid against
 * `schema` (json_schema), enforced token by token (src/infer/json-schema/). An unsupported
 * schema keyword is a UsageError (HTTP 400).
 */
export type ResponseFormat = { type: "json_object" } | { type: "json_schema"; schema: unknown };

/** A token's log-probability as text: its decoded text (lossy for a partial UTF-8 character), its bytes, and the most likely alternatives. */
export interface TextLogprob {
  token: string;
  bytes: number[];
  /** Null for the first prompt token (nothing precedes it). */
  logprob: number | null;
  top: { token: string; bytes: number[]; logprob: number }[];
}

export interface GenerationRequest {
  input: GenerationInput;
  /** Most tokens to generate; undefined = until a stop or the context is full. */
  maxTokens?: number;
  /** Stop strings (not included in the output). */
  stop?: string[];
  sampling: SamplingParams;
  /** Undefined: free text. */
  responseFormat?: ResponseFormat;
  /** Report output tokens' log-probabilities with this many alternatives each (0..20). Undefined: off. */
  logprobs?: number;
  /** Also the prompt tokens' log-probabilities (completions with echo). */
  promptLogprobs?: boolean;
  /** Aborted on client disconnect, timeout or shutdown: the generation stops (finishReason "cancelled"). */
  signal?: AbortSignal;
  /** Streaming: called with each new piece of text as it becomes final (stop strings already removed), with the log-probabilities of the tokens it completes when asked for. */
  onText?: (delta: string, logprobs?: TextLogprob[]) => void;
}

export interface GenerationResult {
  text: string;
  finishReason: "stop" | "length" | "cancelled";
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens whose keys and values came from the prompt cache (reused, not prefilled); 0 when none did. */
  cachedTokens?: number;
  /** With `logprobs`: every output token's entry (those streamed with onText first, then any whose text came out empty). */
  logprobs?: TextLogprob[];
  /** With `promptLogprobs`: one entry per prompt token. */
  promptLogprobs?: TextLogprob[];
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
  /** The prompt cache (absent when off): bytes held now and their bound, admissions that reused a prefix, tokens reused. */
  promptCache?: { bytes: number; maxBytes: number; hits: number; cachedTokens: number };
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
  /** KV-cache storage: f32 (default), f16 or q8_0. */
  kvDtype?: KvDtype;
  /**
   * Bound in bytes of the engine's prompt cache (src/infer/prompt-cache.ts: requests whose prompt starts
   * like an earlier one's reuse its keys and values). Default DEFAULT_PROMPT_CACHE_BYTES (256 MiB); 0 = off.
   */
  promptCacheBytes?: number;
  /** Speculative decoding with this draft model (a path; it must share the model's tokenizer). Default none. */
  draft?: string;
  /** Speculative decoding by prompt lookup (src/infer/speculative.ts decides when it drafts). Default true. */
  promptLookup?: boolean;
}
