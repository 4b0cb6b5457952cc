// POST /v1/chat/completions and /v1/completions: plan the request
// (completion-plan.ts), run it under the request's cancellation, and answer
// with one JSON object or as Server-Sent Events. Streaming headers go out with
// the first piece of text, so errors raised before generation starts (queue
// full, prompt too long) are still plain HTTP errors; a failure mid-stream is
// reported in the stream. The assistant's citation fields ride on the reply
// (the final chunk when streaming). Knows nothing about models or prompts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

import { isSlmError } from "../errors.ts";
import { apiError, classify, isRefusal, refuse } from "./api-error.ts";
import { cancelledRefusal, type AppContext } from "./app-context.ts";
import type { GenerationRequest, TextLogprob } from "./backend.ts";
import { planCompletion, type CompletionKind, type CompletionPlan } from "./completion-plan.ts";
import { logprobsShaper, newId, recordUsage, usageOf } from "./completion-shapes.ts";
import { requestControl, type RequestControl } from "./request-control.ts";

/** One reply in the making: the plan, its id and creation time, its cancellation, and the logprobs shaper. */
interface Answering {
  ctx: AppContext;
  plan: CompletionPlan;
  id: string;
  created: number;
  ctl: RequestControl;
  reply: FastifyReply;
  logprobsOf: (e: TextLogprob[] | undefined) => unknown;
}

/** A cancelled run (a "cancelled" result or a CANCELLED rejection): nothing to a client that has gone, else 504/503. */
function answerCancelled(a: Answering, started: boolean): FastifyReply | undefined {
  const { ctx, ctl, reply } = a;
  ctx.metrics.rejected.inc({ reason: ctl.cause() ?? "cancelled" });
  if (ctl.gone()) return started || reply.sent ? undefined : reply.hijack();
  const c = cancelledRefusal(ctx, ctl.cause());
  if (!started) return refuse(reply, c);
  if (!reply.raw.writableEnded) reply.raw.write(`data: ${JSON.stringify(apiError(c.status, c.message, c.code))}\n\n`);
  reply.raw.end("data: [DONE]\n\n");
  return undefined;
}

/** The whole reply as one JSON object. */
async function answerWhole(a: Answering, genReq: GenerationRequest): Promise<FastifyReply | undefined> {
  const { ctx, plan, reply } = a;
  const r = await plan.generate(genReq);
  recordUsage(ctx.metrics, plan.endpoint, r);
  if (r.finishReason === "cancelled") return answerCancelled(a, false);
  const text = plan.echo + r.text;
  const lps = a.logprobsOf([...(r.promptLogprobs ?? []), ...(r.logprobs ?? [])]);
  const msg = plan.kind === "chat" ? plan.replyOf(text) : { content: text };
  const choice =
    plan.kind === "chat"
      ? { index: 0, message: { role: "assistant", ...msg, refusal: null }, logprobs: lps, finish_reason: msg.tool_calls ? "tool_calls" : r.finishReason }
      : { index: 0, text, logprobs: lps, finish_reason: r.finishReason };
  return reply.send({
    id: a.id,
    object: plan.kind === "chat" ? "chat.completion" : "text_completion",
    created: a.created,
    model: plan.modelId,
    choices: [choice],
    usage: usageOf(r),
    ...plan.fields?.(r.text),
  });
}

/** The reply as Server-Sent Events: the text as it comes (or whole at the end, with tools in play), then the final chunk. */
async function answerStream(a: Answering, genReq: GenerationRequest): Promise<FastifyReply | undefined> {
  const { ctx, plan, id, created, ctl, reply } = a;
  const { kind, modelId } = plan;
  const t0 = performance.now();
  const raw = reply.raw;
  let started = false;
  const object = kind === "chat" ? "chat.completion.chunk" : "text_completion";
  const write = (data: unknown) => {
    if (!ctl.gone() && !raw.writableEnded) raw.write(`data: ${JSON.stringify(data)}\n\n`);
  };
  let streamedLps = 0;
  const chunk = (delta: string | null, finish: string | null, lps: TextLogprob[] | undefined = undefined) =>
    kind === "chat"
      ? {
          id,
          object,
          created,
          model: modelId,
          choices: [{ index: 0, delta: delta === null ? {} : { content: delta }, logprobs: lps ? a.logprobsOf(lps) : null, finish_reason: finish }],
        }
      : { id, object, created, model: modelId, choices: [{ index: 0, text: delta ?? "", logprobs: lps ? a.logprobsOf(lps) : null, finish_reason: finish }] };
  const start = () => {
    if (started) return;
    started = true;
    reply.hijack();
    raw.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    if (kind === "chat")
      write({ id, object, created, model: modelId, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] });
    if (plan.echo) write(chunk(plan.echo, null));
  };
  // With tools in play a reply is text or calls, known only at its end: it is sent whole then.
  const r = await plan.generate({
    ...genReq,
    onText: plan.buffered
      ? undefined
      : (delta, lps) => {
          if (delta.length === 0) return;
          if (!started) ctx.metrics.firstTokenSeconds.observe((performance.now() - t0) / 1000);
          start();
          if (lps) streamedLps += lps.length;
          // Streamed completions with echo: the prompt's log-probabilities come with the last chunk (they are known at the end).
          write(chunk(delta, null, plan.topN === undefined ? undefined : (lps ?? [])));
        },
  });
  recordUsage(ctx.metrics, plan.endpoint, r);
  if (r.finishReason === "cancelled") return answerCancelled(a, started);
  start();
  // The assistant's citations ride on the final chunk (the one with finish_reason): only the whole text says which [n] it used.
  // The last chunk carries the entries of tokens whose text came out empty (and the prompt's, with echo).
  const rest = plan.topN === undefined ? undefined : [...(r.promptLogprobs ?? []), ...(r.logprobs ?? []).slice(streamedLps)];
  let finishReason: string = r.finishReason;
  if (plan.buffered) {
    const msg = plan.replyOf(r.text);
    if (msg.content) write(chunk(msg.content, null));
    if (msg.tool_calls) {
      const delta = { tool_calls: msg.tool_calls.map((c, index) => ({ index, ...c })) };
      write({ id, object, created, model: modelId, choices: [{ index: 0, delta, logprobs: null, finish_reason: null }] });
      finishReason = "tool_calls";
    }
  }
  write({ ...chunk(null, finishReason, rest), ...plan.fields?.(r.text) });
  if (plan.body.stream_options?.include_usage) write({ id, object, created, model: modelId, choices: [], usage: usageOf(r) });
  raw.end("data: [DONE]\n\n");
  return undefined;
}

/** A run that threw: a CANCELLED rejection before any output is a cancellation; others go to the error handler, or into the stream once it has started. */
function answerFailure(a: Answering, e: unknown): FastifyReply | undefined {
  const { ctx, ctl, reply } = a;
  // A backend may reject instead of returning a "cancelled" result (e.g. aborted while queued).
  if (isSlmError(e) && e.code === "CANCELLED" && !reply.raw.headersSent) return answerCancelled(a, false);
  if (!reply.sent && !reply.raw.headersSent) throw e;
  // Mid-stream failure: the status line is gone; report it in the stream, then end it.
  const c = classify(e);
  if (!ctl.gone() && !reply.raw.writableEnded) {
    reply.raw.write(`data: ${JSON.stringify(apiError(c.status, c.message, c.code))}\n\n`);
    reply.raw.end("data: [DONE]\n\n");
  }
  ctx.logger?.(`stream failed: ${c.message}`);
  return undefined;
}

async function completion(ctx: AppContext, kind: CompletionKind, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  const plan = await planCompletion(ctx, kind, req.body);
  if (isRefusal(plan)) return refuse(reply, plan);
  const ctl = requestControl(reply.raw, ctx.timeoutMs);
  const a: Answering = {
    ctx,
    plan,
    id: newId(kind === "chat" ? "chatcmpl" : "cmpl"),
    created: Math.floor(Date.now() / 1000),
    ctl,
    reply,
    logprobsOf: logprobsShaper(kind, plan.topN),
  };
  const genReq: GenerationRequest = { ...plan.request, signal: ctl.signal };
  try {
    return await (plan.body.stream ? answerStream(a, genReq) : answerWhole(a, genReq));
  } catch (e) {
    return answerFailure(a, e);
  } finally {
    ctl.done();
  }
}

export function completionRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post("/v1/chat/completions", (req, reply) => completion(ctx, "chat", req, reply));
  app.post("/v1/completions", (req, reply) => completion(ctx, "text", req, reply));
}
