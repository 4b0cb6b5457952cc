// The messages between worker-backend.ts (main thread) and
// inference-worker.ts (the worker thread), and how errors cross threads:
// SlmError subclasses arrive as the same class with their code, hint and
// retryAfterSeconds, so the HTTP app maps them to statuses as if thrown
// locally. Types and two pure functions; knows nothing about models or HTTP.
import { CancelledError, ConfigError, FormatError, NativeError, NotFoundError, OverloadedError, ShapeError, UsageError, isSlmError } from "../errors.ts";
import type { BackendOptions, BackendStats, EmbeddingResult, GenerationInput, GenerationRequest, GenerationResult, ModelCard, TextLogprob } from "./backend.ts";

export interface WorkerInit {
  modelDir: string;
  opts: BackendOptions;
}

/** A GenerationRequest without what cannot cross threads (the signal and the callback). */
type WireGeneration = Omit<GenerationRequest, "signal" | "onText">;

// `aborted`: the caller's signal was aborted before the request was sent. The worker starts
// it cancelled: an "abort" message posted right after could arrive only after the engine had
// already run a prefill and a decode step in the same turn of the worker's event loop.
export type ToWorker =
  | { type: "generate"; id: number; req: WireGeneration; stream: boolean; aborted?: boolean }
  | { type: "embed"; id: number; inputs: string[]; aborted?: boolean }
  | { type: "count"; id: number; input: GenerationInput }
  | { type: "abort"; id: number }
  | { type: "close"; graceMs?: number };

export type FromWorker =
  | { type: "ready"; card: ModelCard; stats: BackendStats }
  | { type: "init-error"; error: WireError }
  | { type: "text"; id: number; delta: string; logprobs?: TextLogprob[] }
  | { type: "stats"; stats: BackendStats }
  | { type: "result"; id: number; value: GenerationResult | EmbeddingResult | number }
  | { type: "error"; id: number; error: WireError }
  | { type: "closed" };

export interface WireError {
  name: string;
  message: string;
  code?: string;
  hint?: string;
  retryAfterSeconds?: number;
  stack?: string;
}

export function toWire(e: unknown): WireError {
  if (e instanceof Error) {
    const w: WireError = { name: e.name, message: e.message, stack: e.stack };
    if (isSlmError(e)) {
      w.code = e.code;
      w.hint = e.hint;
      if (e instanceof OverloadedError) w.retryAfterSeconds = e.retryAfterSeconds;
    }
    return w;
  }
  return { name: "Error", message: String(e) };
}

/** The error as thrown on the other side: the same SlmError class when it was one. */
export function fromWire(w: WireError): Error {
  const o = { hint: w.hint };
  let e: Error;
  switch (w.code) {
    case "USAGE":
      e = new UsageError(w.message, o);
      break;
    case "CONFIG":
      e = new ConfigError(w.message, o);
      break;
    case "FORMAT":
      e = new FormatError(w.message, o);
      break;
    case "SHAPE":
      e = new ShapeError(w.message, o);
      break;
    case "NATIVE":
      e = new NativeError(w.message, o);
      break;
    case "NOT_FOUND":
      e = new NotFoundError(w.message, o);
      break;
    case "CANCELLED":
      e = new CancelledError(w.message, o);
      break;
    case "OVERLOADED":
      e = new OverloadedError(w.message, w.retryAfterSeconds ?? 1, o);
      break;
    default:
      e = new Error(w.message);
      e.name = w.name;
  }
  if (w.stack) e.stack = `${e.name}: ${e.message}\n    (in the inference worker)\n${w.stack.split("\n").slice(1).join("\n")}`;
  return e;
}
