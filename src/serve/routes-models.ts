// The app's read-only routes: /health (open), /metrics (Prometheus text), and
// the OpenAI model list (/v1/models, /v1/models/:model) with the served model
// and, with an index, the assistant. Knows nothing about generation.
import type { FastifyInstance } from "fastify";

import type { ServedAssistant } from "../assistant/served.ts";
import { refuse } from "./api-error.ts";
import { modelRefusal, type AppContext } from "./app-context.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./metrics.ts";

export function modelRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { backend, card, assistant, metrics } = ctx;
  const modelObject = () => ({ id: card.id, object: "model", created: card.created, owned_by: "slmkit", slm: card });
  const assistantObject = (a: ServedAssistant) => ({
    id: a.id,
    object: "model",
    created: card.created,
    owned_by: "slmkit",
    slm: { ...card, id: a.id, assistant: a.describe() },
  });

  app.get("/health", async () => {
    const s = backend.stats();
    return { status: "ok", model: card.id, queued: s.queued, active: s.active };
  });

  app.get("/metrics", async (_req, reply) => {
    reply.type(PROMETHEUS_CONTENT_TYPE);
    return metrics.registry.text();
  });

  app.get("/v1/models", async () => ({ object: "list", data: assistant ? [modelObject(), assistantObject(assistant)] : [modelObject()] }));
  app.get<{ Params: { model: string } }>("/v1/models/:model", async (req, reply) => {
    if (assistant && req.params.model === assistant.id) return assistantObject(assistant);
    const refused = modelRefusal(ctx, req.params.model);
    if (refused) return refuse(reply, refused);
    return modelObject();
  });
}
