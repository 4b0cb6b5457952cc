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
import { loadDraftModel } from "../formats/draft.ts";
import { loadAdapter } from "../formats/peft.ts";
import { embed as embedIds } from "../infer/embed.ts";
import { Engine } from "../infer/engine.ts";
import { MaskerCache } from "../infer/json-schema/index.ts";
import { DEFAULT_PROMPT_CACHE_BYTES } from "../infer/prompt-cache.ts";
import type { TokenLogprob } from "../infer/logprobs.ts";
import type { SamplingOptions } from "../infer/sampler.ts";
import { countParameters, weightStorage } from "../models/index.ts";
import { backend as nativeBackend } from "../native/load.ts";
import { Tape } from "../tensor/index.ts";
import {
  CHATML_TEMPLATE,
  PLAIN_CHAT_STOPS,
  TextStopper,
  chatPromptIds,
  hasChatTemplate,
  templateRendersTools,
  toolCallFormat,
  type Tokenizer,
} from "../tokenizer/index.ts";
import type {
  BackendOptions,
  BackendStats,
  EmbeddingResult,
  GenerationInput,
  GenerationRequest,
  GenerationResult,
  InferenceBackend,
  ModelCard,
  TextLogprob,
} from "./backend.ts";

/** Default for close(): how long running requests may take to finish before they are cancelled. */
export const DEFAULT_CLOSE_GRACE_MS = 30_000;

/** Yields to the event loop (between embedding inputs, so decode steps interleave). */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function checkOptions(opts: BackendOptions): void {
  const int = (name: keyof BackendOptions, min: number) => {
    const v = opts[name];
    if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < min))
      throw new UsageError(`${name} must be an integer >= ${min}, got ${String(v)}`);
  };
  int("maxConcurrency", 1);
  int("maxQueue", 0);
  int("threads", 1);
  int("requestTimeoutMs", 1);
  int("promptCacheBytes", 0);
  if (opts.modelId !== undefined && (typeof opts.modelId !== "string" || opts.modelId.length === 0)) throw new UsageError("modelId must be a non-empty string");
  if (opts.adapter !== undefined && (typeof opts.adapter !== "string" || opts.adapter.length === 0)) throw new UsageError("adapter must be a directory path");
  if (opts.draft !== undefined && (typeof opts.draft !== "string" || opts.draft.length === 0)) throw new UsageError("draft must be a model path");
  if (opts.promptLookup !== undefined && typeof opts.promptLookup !== "boolean") throw new UsageError("promptLookup must be true or false");
}

/** The model card for a loaded model. */
export function modelCard(m: LoadedModel, id?: string): ModelCard {
  const c = m.config;
  const name = basename(m.source.path);
  const storage = weightStorage(m.model);
  return {
    // A model loaded from the Hub cache by `org/name` is served under that id (a snapshot folder is named by its commit).
    id: id ?? m.source.repo ?? (m.source.format === "hf" ? name : name.slice(0, name.length - extname(name).length) || name),
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
    toolTemplate: m.tokenizer ? hasChatTemplate(m.tokenizer) && templateRendersTools(m.tokenizer) : false,
    toolCallFormat: m.tokenizer && hasChatTemplate(m.tokenizer) ? toolCallFormat(m.tokenizer) : "hermes",
    writesAnswers: writesAnswers(m),
    created: Math.floor(Date.now() / 1000),
  };
}

/**
 * Whether a model was trained to write answers, and why: fine-tuned by `slm finetune` (the task
 * it recorded in generation_config.json), or a chat template other than the ChatML default that
 * slm gives every tokenizer it trains (so the model came from elsewhere with its own template: an
 * instruction-tuned model, e.g. a Qwen or Llama instruct import). A model pretrained here, with
 * the default or no template, was not: it continues text, it does not answer.
 */
function writesAnswers(m: LoadedModel): { ok: boolean; reason: string } {
  const task = m.generation.slm_finetune_task;
  if (task === "grounded-qa") return { ok: true, reason: "fine-tuned for grounded answers (slm finetune --task grounded-qa)" };
  if (task === "chat") return { ok: true, reason: "fine-tuned on chat (slm finetune --task chat)" };
  const t = m.tokenizer?.spec.config.chat_template;
  if (typeof t === "string" && t.length > 0 && t !== CHATML_TEMPLATE) return { ok: true, reason: "an instruction-tuned model (it has its own chat template)" };
  return { ok: false, reason: "a pretrained model, not trained to answer (no slm finetune record, no chat template of its own)" };
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
  /** Compiled response-format schemas over this vocabulary (built on the first structured request). */
  private readonly maskers: MaskerCache;
  /** Called whenever the queued or active count changes (the worker publishes stats with it). */
  onStatsChange?: (stats: BackendStats) => void;

  constructor(
    private readonly loaded: LoadedModel,
    opts: BackendOptions = {},
    draft?: LoadedModel,
  ) {
    checkOptions(opts);
    if (!loaded.tokenizer)
      throw new ConfigError(`${loaded.source.path} has no tokenizer; serving needs one to turn text into tokens`, {
        hint: "add tokenizer.json to the model directory",
      });
    if (opts.threads !== undefined) nativeBackend().setThreads(opts.threads);
    this.tok = loaded.tokenizer;
    this.useTemplate = hasChatTemplate(this.tok);
    this.stopIds = { text: stopTokenIds(loaded, false), chat: stopTokenIds(loaded, true) };
    this.engine = new Engine(loaded.model, {
      maxConcurrency: opts.maxConcurrency ?? 8,
      maxQueue: opts.maxQueue ?? 64,
      kvDtype: opts.kvDtype ?? "f32",
      promptCacheBytes: opts.promptCacheBytes ?? DEFAULT_PROMPT_CACHE_BYTES,
      speculation: { promptLookup: opts.promptLookup ?? true, ...(draft ? { draft: draft.model } : {}) },
      onChange: () => this.onStatsChange?.(this.stats()),
    });
    this.card = modelCard(loaded, opts.modelId);
    this.timeoutMs = opts.requestTimeoutMs;
    // Ids the tokenizer lacks (padded vocabularies) and special tokens never appear inside JSON.
    this.maskers = new MaskerCache(() => Array.from({ length: loaded.config.vocabSize }, (_, id) => (this.tok.isSpecial(id) ? null : this.tok.idToBytes(id))));
  }

  /** The prompt's token ids (chat: template or plain turns; text: encoded with special tokens). */
  promptIds(input: GenerationInput): number[] {
    if (input === null || typeof input !== "object") throw new UsageError('input must be {kind: "chat", messages} or {kind: "text", prompt}');
    let ids: number[];
    if (input.kind === "chat") {
      if (!Array.isArray(input.messages) || input.messages.length === 0) throw new UsageError("messages must be a non-empty array of {role, content}");
      ids = chatPromptIds(this.tok, input.messages, this.useTemplate, input.templateVars);
      if (input.prefix !== undefined) {
        if (typeof input.prefix !== "string") throw new UsageError("prefix must be a string");
        ids = ids.concat(this.tok.encode(input.prefix, { addSpecialTokens: false }));
      }
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
    const stopTokenIds = chat ? this.stopIds.chat : this.stopIds.text;
    const fmt = req.responseFormat;
    if (fmt !== undefined && (fmt === null || typeof fmt !== "object" || (fmt.type !== "json_object" && fmt.type !== "json_schema"))) {
      throw new UsageError('responseFormat must be {type: "json_object"} or {type: "json_schema", schema}');
    }
    const constraint = fmt ? this.maskers.get(fmt.type === "json_schema" ? fmt.schema : undefined).constraint(stopTokenIds) : undefined;

    // Cancel on the caller's signal or the request timeout.
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    req.signal?.addEventListener("abort", onAbort, { once: true });
    if (req.signal?.aborted) ac.abort();
    const timer = this.timeoutMs !== undefined ? setTimeout(onAbort, this.timeoutMs) : undefined;

    if (req.logprobs !== undefined && (typeof req.logprobs !== "number" || !Number.isInteger(req.logprobs)))
      throw new UsageError("logprobs must be an integer (alternatives per token)");
    const wantLps = req.logprobs !== undefined || req.promptLogprobs === true;
    // Log-probabilities wait here until the text of their token is delivered, then go out with it.
    const pendingLps: TextLogprob[] = [];
    const sentLps: TextLogprob[] = [];
    const dec = this.tok.createStreamDecoder({ skipSpecialTokens: true });
    // Plain "User:" turn markers could occur inside a JSON string; a constrained reply ends where its value does.
    const stopper = new TextStopper(chat && !this.useTemplate && !constraint ? [...stop, ...PLAIN_CHAT_STOPS] : stop);
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
      const lps = wantLps ? pendingLps.splice(0) : undefined;
      if (lps) sentLps.push(...lps);
      req.onText?.(piece, lps);
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
        prompt,
        maxTokens: req.maxTokens,
        sampling,
        seed,
        signal: ac.signal,
        stopTokenIds,
        constraint,
        logprobs: wantLps ? (req.logprobs ?? 0) : undefined,
        promptLogprobs: req.promptLogprobs === true,
        onToken: (id, lp) => {
          if (lp) pendingLps.push(this.textLogprob(lp));
          deliver(stopper.push(decode(id)));
          if (stopper.stopped) return false;
        },
      });
      if (!stopper.stopped) deliver(stopper.push(dec.flush()) + stopper.flush());
      const out: GenerationResult = {
        text,
        finishReason: stopper.stopped ? "stop" : r.finishReason,
        promptTokens: r.promptTokens,
        completionTokens: r.completionTokens,
        cachedTokens: r.cachedTokens ?? 0,
      };
      // Tokens whose text came out empty keep their entries; those cut by a stop string do not.
      if (req.logprobs !== undefined) out.logprobs = stopper.stopped ? sentLps : [...sentLps, ...pendingLps];
      if (req.promptLogprobs && r.promptLogprobs) {
        out.promptLogprobs = r.promptLogprobs.map((lp, p) => (lp ? this.textLogprob(lp) : { ...this.tokenText(prompt[p]!), logprob: null, top: [] }));
      }
      return out;
    } finally {
      if (timer) clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** A token's text (its bytes decoded; a partial UTF-8 character shows as U+FFFD) and bytes. */
  private tokenText(id: number): { token: string; bytes: number[] } {
    const b = this.tok.idToBytes(id) ?? new Uint8Array(0);
    return { token: new TextDecoder().decode(b), bytes: Array.from(b) };
  }

  private textLogprob(lp: TokenLogprob): TextLogprob {
    return { ...this.tokenText(lp.id), logprob: lp.logprob, top: lp.top.map((t) => ({ ...this.tokenText(t.id), logprob: t.logprob })) };
  }

  async embed(inputs: string[], signal?: AbortSignal): Promise<EmbeddingResult> {
    if (!Array.isArray(inputs) || inputs.length === 0 || inputs.some((x) => typeof x !== "string"))
      throw new UsageError("input must be a string or a non-empty array of strings");
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
    const out: BackendStats = { queued: s.queued, active: s.active, maxQueue: s.maxQueue, maxConcurrency: s.maxConcurrency };
    const pc = s.promptCache;
    if (pc) out.promptCache = { bytes: pc.bytes, maxBytes: pc.maxBytes, hits: pc.hits, cachedTokens: pc.cachedTokens };
    return out;
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
  const draft = opts.draft === undefined ? undefined : loadDraftModel(opts.draft, loaded, opts.load ?? { keepQuantized: true });
  return new LocalBackend(loaded, opts, draft);
}
