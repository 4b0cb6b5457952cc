// OpenAI's shapes of a completion reply that are more than a field copy: ids,
// log-probabilities (chat {content: [{token, logprob, bytes, top_logprobs}],
// refusal}; completions {tokens, token_logprobs, top_logprobs: {token:
// logprob}, text_offset}, offsets continuing across stream chunks), usage,
// and the token counters the metrics keep. Knows nothing about HTTP.
import { randomUUID } from "node:crypto";

import type { GenerationResult, TextLogprob } from "./backend.ts";
import type { ServerMetrics } from "./metrics.ts";

export function newId(prefix: string): string {
  return `${prefix}-${randomUUID().replace(/-/g, "").slice(0, 24)}`;
}

function chatLogprobs(e: TextLogprob[]) {
  return {
    content: e.map((x) => ({
      token: x.token,
      logprob: x.logprob,
      bytes: x.bytes,
      top_logprobs: x.top.map((t) => ({ token: t.token, logprob: t.logprob, bytes: t.bytes })),
    })),
    refusal: null,
  };
}

/** Completions' shape; `offset` is where this piece's text starts in the whole reply (advanced past it). */
function textLogprobs(e: TextLogprob[], offset: { at: number }) {
  const offsets = e.map((x) => {
    const o = offset.at;
    offset.at += x.token.length;
    return o;
  });
  return {
    tokens: e.map((x) => x.token),
    token_logprobs: e.map((x) => x.logprob),
    top_logprobs: e.map((x) => (x.logprob === null ? null : Object.fromEntries(x.top.map((t) => [t.token, t.logprob])))),
    text_offset: offsets,
  };
}

/**
 * The `logprobs` field of one reply, called once per piece in order (a stream's chunks, or the
 * whole text): null when none were asked for (topN undefined).
 */
export function logprobsShaper(kind: "chat" | "text", topN: number | undefined): (e: TextLogprob[] | undefined) => unknown {
  const offset = { at: 0 };
  return (e) => (topN === undefined ? null : kind === "chat" ? chatLogprobs(e ?? []) : textLogprobs(e ?? [], offset));
}

export function usageOf(r: GenerationResult) {
  return {
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    total_tokens: r.promptTokens + r.completionTokens,
    prompt_tokens_details: { cached_tokens: r.cachedTokens ?? 0 },
  };
}

/** Counts a finished generation's tokens (and prompt-cache hits) under its endpoint's label. */
export function recordUsage(metrics: ServerMetrics, endpoint: string, r: GenerationResult): void {
  metrics.promptTokens.inc({ endpoint }, r.promptTokens);
  metrics.completionTokens.inc({ endpoint }, r.completionTokens);
  metrics.completionTokensPerRequest.observe(r.completionTokens);
  if (r.cachedTokens) {
    metrics.cachedPromptTokens.inc({ endpoint }, r.cachedTokens);
    metrics.promptCacheHits.inc({ endpoint });
  }
}
