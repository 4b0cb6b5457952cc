// OpenAI-style error objects ({error: {message, type, param, code}}) for every
// 4xx/5xx the app answers, and the mapping from a thrown error (an SlmError's
// code, or fastify's own 4xx) to status, code and message. Knows nothing about
// routes or the backend.
import type { FastifyReply } from "fastify";

import { isSlmError, type OverloadedError } from "../errors.ts";

/** An OpenAI error object: {error: {message, type, param, code}}. */
export interface ApiError {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** A request the app declines before any work: the status and the error object's fields. */
export interface Refusal {
  status: number;
  message: string;
  code: string | null;
  param: string | null;
}

const TYPE_OF_STATUS: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  404: "not_found_error",
  408: "timeout_error",
  413: "invalid_request_error",
  415: "invalid_request_error",
  429: "rate_limit_error",
  503: "server_error",
  504: "timeout_error",
};

export function apiError(status: number, message: string, code: string | null = null, param: string | null = null): ApiError {
  return { error: { message, type: TYPE_OF_STATUS[status] ?? (status >= 500 ? "server_error" : "invalid_request_error"), param, code } };
}

export function refusal(status: number, message: string, code: string | null = null, param: string | null = null): Refusal {
  return { status, message, code, param };
}

export function isRefusal(x: object): x is Refusal {
  return "status" in x && "message" in x;
}

export function sendError(reply: FastifyReply, status: number, message: string, code: string | null = null, param: string | null = null): FastifyReply {
  return reply
    .code(status)
    .type("application/json; charset=utf-8")
    .send(apiError(status, message, code, param));
}

export function refuse(reply: FastifyReply, r: Refusal): FastifyReply {
  return sendError(reply, r.status, r.message, r.code, r.param);
}

/** A thrown error → HTTP status, OpenAI error code and message. */
export function classify(e: unknown): { status: number; code: string | null; message: string; retryAfter?: number } {
  if (isSlmError(e)) {
    const message = e.hint ? `${e.message} (${e.hint})` : e.message;
    switch (e.code) {
      case "USAGE":
      case "CONFIG":
      case "SHAPE":
        return { status: 400, code: "invalid_request", message };
      case "NOT_FOUND":
        return { status: 404, code: "not_found", message };
      case "OVERLOADED":
        return { status: 429, code: "overloaded", message, retryAfter: Math.max(1, Math.ceil((e as OverloadedError).retryAfterSeconds)) };
      case "CANCELLED":
        return { status: 499, code: "cancelled", message };
      default:
        return { status: 500, code: e.code.toLowerCase(), message };
    }
  }
  const fe = e as { statusCode?: number; code?: string; message?: string };
  if (typeof fe?.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code =
      fe.code === "FST_ERR_CTP_BODY_TOO_LARGE" ? "body_too_large" : fe.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE" ? "unsupported_media_type" : "invalid_request";
    let message = fe.message ?? "bad request";
    if (fe.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") message = `${message}; send Content-Type: application/json`;
    if (e instanceof SyntaxError || fe.code === "FST_ERR_CTP_INVALID_JSON_BODY") message = `the request body is not valid JSON: ${fe.message}`;
    return { status: fe.statusCode, code, message };
  }
  return { status: 500, code: "internal_error", message: `internal error: ${(e as Error)?.message ?? String(e)}` };
}
