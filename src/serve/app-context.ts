// What every route of the app shares: the backend and its model card, the
// served assistant (if any), the metrics, the request timeout, the web UI's
// files, the access logger; and the one rule for the `model` a request names.
// Built once by buildApp (app.ts); knows nothing about individual routes.
import type { ServedAssistant } from "../assistant/served.ts";
import { refusal, type Refusal } from "./api-error.ts";
import type { InferenceBackend, ModelCard } from "./backend.ts";
import type { ServerMetrics } from "./metrics.ts";
import type { StaticFile } from "./routes-web.ts";

export interface AppContext {
  backend: InferenceBackend;
  card: ModelCard;
  assistant: ServedAssistant | undefined;
  metrics: ServerMetrics;
  /** A request running longer than this is cancelled (0 = no limit). */
  timeoutMs: number;
  /** The web UI's files by relative path, read at startup. */
  web: Map<string, StaticFile>;
  logger: ((line: string) => void) | undefined;
}

/**
 * Why a request for `model` is refused, or undefined when it may go ahead: the served model
 * answers every endpoint; the assistant answers chat completions only; anything else is 404.
 */
export function modelRefusal(ctx: AppContext, model: string, endpoint: "chat" | "other" = "other"): Refusal | undefined {
  const { card, assistant } = ctx;
  if (model === card.id) return undefined;
  if (assistant && model === assistant.id) {
    if (endpoint === "chat") return undefined;
    return refusal(400, `the model "${model}" answers chat completions only (POST /v1/chat/completions)`, "invalid_request", "model");
  }
  const served = assistant ? `"${card.id}" and "${assistant.id}"` : `"${card.id}"`;
  return refusal(404, `the model "${model}" does not exist; this server serves ${served}`, "model_not_found", "model");
}

/** The cancellation answer for a request whose signal fired: 504 after the timeout, else 503 (the server is shutting down). */
export function cancelledRefusal(ctx: AppContext, cause: "disconnect" | "timeout" | undefined): Refusal {
  return cause === "timeout"
    ? refusal(504, `the request took longer than ${ctx.timeoutMs} ms and was cancelled`, "timeout")
    : refusal(503, "the generation was cancelled (the server is shutting down)", "cancelled");
}
