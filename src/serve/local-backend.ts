// The inference backend on the calling thread: model + tokenizer + batching
// engine behind the InferenceBackend contract (backend.ts). Turns text into
// token ids (chat template or plain "User:/Assistant:" turns, the same prompt
// as `slm chat`), runs them through the engine (src/infer/engine.ts), and
// turns ids back into streamed text (the tokenizer's stream decoder, then
// stop strings via TextStopper). Embeddings are mean-pooled final hidden
// states (src/infer/embed.ts). Used directly by tests and library users, and
// inside the worker thread by worker-backend.ts. Knows nothing about HTTP.
import { basename, extname } from "node:path";

import { CancelledError, ConfigError, UsageError } from "../errors.ts";
import { loadModel, stopTokenIds, type LoadedModel } from "../formats/hf-dir.ts";
import { loadAdapter } from "../formats/peft.ts";
import { embed as embedIds } from "../infer/embed.ts";
import { Engine } from "../infer/engine.ts";
import type { SamplingOptions } from "../infer/sampler.ts";
import { countParameters, weightStorage } from "../models/index.ts";
import { backend as nativeBackend } from "../native/load.ts";
import { Tape } from "../tensor/index.ts";
import { PLAIN_CHAT_STOPS, TextStopper, chatPromptIds, hasChatTemplate, type Tokenizer } from "../tokenizer/index.ts";
import type {
  BackendOptions, BackendStats, EmbeddingResult, GenerationInput, GenerationRequest, GenerationResult, InferenceBackend, ModelCard,
} from "./backend.ts";

/** Default for close(): how long running requests may take to finish before they are cancelled. */
export const DEFAULT_CLOSE_GRACE_MS = 30_000;

/** Yields to the event loop (between embedding inputs, so decode steps interleave). */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function checkOptions(opts: BackendOptions): void {
  const int = (name: keyof BackendOptions, min: number) => {
    const v = opts[name];
    if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < min)) throw new UsageError(`${name} must be an integer >= ${min}, got ${String(v)}`);
  };
  int("maxConcurrency", 1);
  int("maxQueue", 0);
  int("threads", 1);
  int("requestTimeoutMs", 1);
  if (opts.modelId !== undefined && (typeof opts.modelId !== "string" || opts.modelId.length === 0)) throw new UsageError("modelId must be a non-empty string");
  if (opts.adapter !== undefined && (typeof opts.adapter !== "string" || opts.adapter.length === 0)) throw new UsageError("adapter must be a directory path");
}

/** The model card for a loaded model. */
export function modelCard(m: LoadedModel, id?: string): ModelCard {
  const c = m.config;
  const name = basename(m.source.path);
  const storage = weightStorage(m.model);
  return {
    id: id ?? (m.source.format === "hf" ? name : name.slice(0, name.length - extname(name).length) || name),
    modelType: c.modelType,
    parameters: countParameters(c).total,
    contextLength: c.maxSeqLen,
    vocabSize: c.vocabSize,
    layers: c.nLayers,
    dModel: c.dModel,
    heads: c.nHeads,
    kvHeads: c.nKvHeads,
    quantization: storage.label,
    weightBytes: storage.bytes,
    chatTemplate: m.tokenizer ? hasChatTemplate(m.tokenizer) : false,
    created: Math.floor(Date.now() / 1000),
  };
}

export class LocalBackend implements InferenceBackend {
  readonly card: ModelCard;
  readonly engine: Engine;
  private readonly tok: Tokenizer;
  private readonly useTemplate: boolean;
  private readonly stopIds: { text: number[]; chat: number[] };
  private readonly embedTape = new Tape({ grad: false });
  private readonly timeoutMs?: number;
  private closing = false;
  /** Called whenever the queued or active count changes (the worker publishes stats with it). */
  onStatsChange?: (stats: BackendStats) => void;

  constructor(private readonly loaded: LoadedModel, opts: BackendOptions = {}) {
    checkOptions(opts);
    if (!loaded.tokenizer) throw new ConfigError(`${loaded.source.path} has no tokenizer; serving needs one to turn text into tokens`, { hint: "add tokenizer.json to the model directory" });
    if (opts.threads !== undefined) nativeBackend().setThreads(opts.threads);
    this.tok = loaded.tokenizer;
    this.useTemplate = hasChatTemplate(this.tok);
    this.stopIds = { text: stopTokenIds(loaded, false), chat: stopTokenIds(loaded, true) };
    this.engine = new Engine(loaded.model, {
      maxConcurrency: opts.maxConcurrency ?? 8,
      maxQueue: opts.maxQueue ?? 64,
      onChange: () => this.onStatsChange?.(this.stats()),
    });
    this.card = modelCard(loaded, opts.modelId);
    this.timeoutMs = opts.requestTimeoutMs;
  }

  /** The prompt's token ids (chat: template or plain turns; text: encoded with special tokens). */
  promptIds(input: GenerationInput): number[] {
    if (input === null || typeof input !== "object") throw new UsageError("input must be {kind: \"chat\", messages} or {kind: \"text\", prompt}");
    let ids: number[];
    if (input.kind === "chat") {
      if (!Array.isArray(input.messages) || input.messages.length === 0) throw new UsageError("messages must be a non-empty array of {role, content}");
      ids = chatPromptIds(this.tok, input.messages, this.useTemplate);
    } else if (input.kind === "text") {
      if (typeof input.prompt !== "string") throw new UsageError("prompt must be a string");
      ids = this.tok.encode(input.prompt, { addSpecialTokens: true });
    } else {
      throw new UsageError(`input kind must be "chat" or "text", got ${JSON.stringify((input as { kind?: unknown }).kind)}`);
    }
    const bos = this.loaded.config.bosTokenId;
    if (ids.length === 0 && bos !== undefined) ids = [bos];
    if (ids.length === 0) throw new UsageError("the prompt is empty and the model has no BOS token to start from");
    return ids;
  }

  async countTokens(input: GenerationInput): Promise<number> {
    return this.promptIds(input).length;
  }

  async generate(req: GenerationRequest): Promise<GenerationResult> {
    const chat = req.input?.kind === "chat";
    const prompt = this.promptIds(req.input);
    const stop = req.stop ?? [];
    if (!Array.isArray(stop) || stop.some((s) => typeof s !== "string")) throw new UsageError("stop must be an array of strings");
    const s = req.sampling ?? {};
    const sampling: SamplingOptions = { temperature: s.temperature, topP: s.topP, topK: s.topK, minP: s.minP, repetitionPenalty: s.repetitionPenalty };
    const seed = s.seed ?? Math.floor(Math.random() * 2 ** 31);

    // Cancel on the caller's signal or the request timeout.
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    req.signal?.addEventListener("abort", onAbort, { once: true });
    if (req.signal?.aborted) ac.abort();
    const timer = this.timeoutMs !== undefined ? setTimeout(onAbort, this.timeoutMs) : undefined;

    const dec = this.tok.createStreamDecoder({ skipSpecialTokens: true });
    const stopper = new TextStopper(chat && !this.useTemplate ? [...stop, ...PLAIN_CHAT_STOPS] : stop);
    let text = "";
    let started = !chat; // a chat reply starts at its first visible character
    const deliver = (piece: string) => {
      if (!started) {
        piece = piece.replace(/^\s+/, "");
        if (piece.length === 0) return;
        started = true;
      }
      if (piece.length === 0) return;
      text += piece;
      req.onText?.(piece);
    };
    const decode = (id: number) => {
      try {
        return dec.push(id);
      } catch {
        return ""; // an id the model has but the tokenizer lacks (padded vocabularies) shows as nothing
      }
    };
    try {
      const r = await this.engine.submit({
        prompt, maxTokens: req.maxTokens, sampling, seed, signal: ac.signal,
        stopTokenIds: chat ? this.stopIds.chat : this.stopIds.text,
        onToken: (id) => {
          deliver(stopper.push(decode(id)));
          if (stopper.stopped) return false;
        },
      });
      if (!stopper.stopped) deliver(stopper.push(dec.flush()) + stopper.flush());
      return {
        text,
        finishReason: stopper.stopped ? "stop" : r.finishReason,
        promptTokens: r.promptTokens,
        completionTokens: r.completionTokens,
      };
    } finally {
      if (timer) clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
    }
  }

  async embed(inputs: string[], signal?: AbortSignal): Promise<EmbeddingResult> {
    if (!Array.isArray(inputs) || inputs.length === 0 || inputs.some((x) => typeof x !== "string")) throw new UsageError("input must be a string or a non-empty array of strings");
    if (this.closing) throw new CancelledError("the server is shutting down");
    const C = this.loaded.config.maxSeqLen;
    const bos = this.loaded.config.bosTokenId;
    const ids = inputs.map((text, i) => {
      let t = this.tok.encode(text, { addSpecialTokens: true });
      if (t.length === 0 && bos !== undefined) t = [bos];
      if (t.length === 0) throw new UsageError(`input ${i} is empty`);
      if (t.length > C) throw new UsageError(`input ${i} has ${t.length} tokens; the model's context is ${C}`, { hint: "shorten or split the input" });
      return t;
    });
    const embeddings: number[][] = [];
    for (const t of ids) {
      // One input at a time, yielding in between, so running generations keep decoding.
      await tick();
      if (signal?.aborted) throw new CancelledError("embedding cancelled");
      embeddings.push(Array.from(embedIds(this.loaded.model, [t], { tape: this.embedTape })[0]!));
    }
    return { embeddings, promptTokens: ids.reduce((n, t) => n + t.length, 0) };
  }

  stats(): BackendStats {
    const s = this.engine.stats();
    return { queued: s.queued, active: s.active, maxQueue: s.maxQueue, maxConcurrency: s.maxConcurrency };
  }

  async close(graceMs = DEFAULT_CLOSE_GRACE_MS): Promise<void> {
    this.closing = true;
    await this.engine.close(graceMs);
  }
}

/** A backend running model, tokenizer and engine on this thread (a model directory path, or an already loaded model). */
export async function createLocalBackend(modelDirOrLoaded: string | LoadedModel, opts: BackendOptions = {}): Promise<LocalBackend> {
  checkOptions(opts);
  const loaded = typeof modelDirOrLoaded === "string" ? loadModel(modelDirOrLoaded, opts.load ?? { keepQuantized: true }) : modelDirOrLoaded;
  if (opts.adapter !== undefined) loadAdapter(opts.adapter, loaded.model);
  return new LocalBackend(loaded, opts);
}
