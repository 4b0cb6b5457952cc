// POST /v1/embeddings: validation (model, empty inputs, dimensions), the
// backend's embeddings under the request's cancellation, and OpenAI's list
// shape (floats or base64 float32). Knows nothing about how vectors are made.
import type { FastifyInstance } from "fastify";

import { isSlmError } from "../errors.ts";
import { refuse, sendError } from "./api-error.ts";
import { modelRefusal, type AppContext } from "./app-context.ts";
import { requestControl } from "./request-control.ts";
import { embeddingRequestSchema, parseBody } from "./schemas.ts";

export function embeddingRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { backend, card, metrics, timeoutMs } = ctx;
  const timedOut = `the request took longer than ${timeoutMs} ms and was cancelled`;
  app.post("/v1/embeddings", async (req, reply) => {
    const parsed = parseBody(embeddingRequestSchema, req.body);
    if (!parsed.ok) return sendError(reply, 400, parsed.issue.message, "invalid_request", parsed.issue.param);
    const body = parsed.value;
    const refused = modelRefusal(ctx, body.model);
    if (refused) return refuse(reply, refused);
    const inputs = typeof body.input === "string" ? [body.input] : body.input;
    const empty = inputs.findIndex((s) => s.length === 0);
    if (empty >= 0) return sendError(reply, 400, `input${typeof body.input === "string" ? "" : `[${empty}]`} is an empty string`, "invalid_request", "input");
    if (body.dimensions !== undefined && body.dimensions !== card.dModel) {
      return sendError(
        reply,
        400,
        `dimensions must be ${card.dModel} (this model's hidden size) or left out, got ${body.dimensions}`,
        "invalid_request",
        "dimensions",
      );
    }
    const ctl = requestControl(reply.raw, timeoutMs);
    try {
      const r = await backend.embed(inputs, ctl.signal);
      if (ctl.signal.aborted) {
        metrics.rejected.inc({ reason: ctl.cause() ?? "cancelled" });
        if (ctl.gone()) return reply.hijack();
        return sendError(reply, 504, timedOut, "timeout");
      }
      metrics.promptTokens.inc({ endpoint: "embeddings" }, r.promptTokens);
      const base64 = body.encoding_format === "base64";
      return reply.send({
        object: "list",
        data: r.embeddings.map((v, index) => ({
          object: "embedding",
          index,
          embedding: base64 ? Buffer.from(Float32Array.from(v).buffer).toString("base64") : v,
        })),
        model: card.id,
        usage: { prompt_tokens: r.promptTokens, total_tokens: r.promptTokens },
      });
    } catch (e) {
      if (isSlmError(e) && e.code === "CANCELLED") {
        metrics.rejected.inc({ reason: ctl.cause() ?? "cancelled" });
        if (ctl.gone()) return reply.hijack();
        if (ctl.cause() === "timeout") return sendError(reply, 504, timedOut, "timeout");
      }
      throw e;
    } finally {
      ctl.done();
    }
  });
}
