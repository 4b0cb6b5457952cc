// From a chat or text completion request body to what the backend runs:
// validation (schema, model, budget, logprobs, tools, response_format), the
// function-calling prompt and how its reply is parsed (tools.ts), and, for the
// assistant's model id, the assistant's reply parts (src/assistant/served.ts:
// retrieval, then a finished answer or a grounded prompt). A refused request
// comes back as a Refusal for the route to send. Knows nothing about sending.
import { questionOf, type AnswerFields } from "../assistant/served.ts";
import { isRefusal, refusal, type Refusal } from "./api-error.ts";
import { modelRefusal, type AppContext } from "./app-context.ts";
import type { GenerationInput, GenerationRequest, GenerationResult, ModelCard, ResponseFormat } from "./backend.ts";
import { newId } from "./completion-shapes.ts";
import {
  chatInput,
  chatRequestSchema,
  completionInput,
  completionRequestSchema,
  parseBody,
  responseFormatOf,
  samplingOf,
  stopsOf,
  type ChatRequest,
  type CompletionRequest,
} from "./schemas.ts";
import {
  allowedTools,
  callSchema,
  forcedCallPrefix,
  parseForcedCall,
  parseToolCalls,
  toolMessages,
  type ParsedCall,
  type Tool,
  type ToolChoice,
} from "./tools.ts";

/** Default max_tokens of /v1/completions when the request sets none (OpenAI's default). */
const DEFAULT_COMPLETION_MAX_TOKENS = 16;

export type CompletionKind = "chat" | "text";

/** A reply as OpenAI message fields: tool calls parsed out when tools are in play. */
export interface ReplyMessage {
  content: string | null;
  tool_calls?: { id: string; type: "function"; function: ParsedCall }[];
}

/** A validated completion request, ready to run. */
export interface CompletionPlan {
  kind: CompletionKind;
  body: ChatRequest & CompletionRequest;
  /** The model id the reply names (the served model's or the assistant's). */
  modelId: string;
  /** The metrics label: "chat" or "completions". */
  endpoint: "chat" | "completions";
  /** The generation request, all but its signal. */
  request: Omit<GenerationRequest, "signal">;
  /** Log-probability alternatives asked for (undefined: none). */
  topN: number | undefined;
  /** Completions with echo: the prompt, sent before the generated text. */
  echo: string;
  /** Runs the request: the backend, or the assistant's finished answer without a model call. */
  generate: (r: GenerationRequest) => Promise<GenerationResult>;
  /** The assistant's citation fields of the final text (undefined for the plain model). */
  fields?: (text: string) => AnswerFields;
  /** The reply's message fields; with tools in play the reply is sent whole at its end (buffered). */
  replyOf: (text: string) => ReplyMessage;
  buffered: boolean;
}

interface ToolPlan {
  input: GenerationInput;
  responseFormat: ResponseFormat | undefined;
  replyOf: (text: string) => ReplyMessage;
  buffered: boolean;
}

/** Function calling (tools.ts): tools into the prompt, a forced call constrained to its schema, the reply's calls parsed out. */
function toolPlan(
  kind: CompletionKind,
  body: ChatRequest & CompletionRequest,
  card: ModelCard,
  asking: boolean,
  input: GenerationInput,
  responseFormat: ResponseFormat | undefined,
): ToolPlan | Refusal {
  const tools: Tool[] = kind === "chat" ? ((body.tools ?? []) as Tool[]) : [];
  const toolChoice: ToolChoice = kind === "chat" ? ((body.tool_choice as ToolChoice | undefined) ?? (tools.length > 0 ? "auto" : "none")) : "none";
  if (tools.length === 0 && toolChoice !== "none" && kind === "chat" && body.tool_choice !== undefined)
    return refusal(400, `tool_choice is ${JSON.stringify(toolChoice)}, but the request has no tools`, "invalid_request", "tool_choice");
  if (asking && tools.length > 0)
    return refusal(400, `the model "${body.model}" answers from its documents; tools are not supported for it`, "invalid_request", "tools");
  const callTools = allowedTools(tools, toolChoice);
  const forcedCall = toolChoice === "required" || typeof toolChoice === "object";
  if (forcedCall && responseFormat)
    return refusal(
      400,
      "response_format cannot be combined with a required tool call (the call's arguments follow the function's parameters)",
      "invalid_request",
      "response_format",
    );
  const fmt = card.toolCallFormat;
  if (!asking && input.kind === "chat" && (tools.length > 0 || input.messages.some((m) => m.tool_calls || m.role === "tool"))) {
    const tm = toolMessages(input.messages, toolChoice === "none" ? [] : tools, card.toolTemplate);
    input = { kind: "chat", messages: tm.messages, templateVars: tm.extra, prefix: forcedCall && forcedCallPrefix(fmt) ? forcedCallPrefix(fmt) : undefined };
    if (forcedCall) responseFormat = { type: "json_schema", schema: callSchema(callTools, fmt) };
  }
  const replyOf = (text: string): ReplyMessage => {
    if (callTools.length === 0) return { content: text };
    const calls = forcedCall ? [parseForcedCall(text, callTools, fmt)].filter((c): c is ParsedCall => c !== null) : parseToolCalls(text, callTools, fmt).calls;
    if (calls.length === 0) return { content: text };
    const content = forcedCall ? null : parseToolCalls(text, callTools, fmt).content;
    return { content, tool_calls: calls.map((c) => ({ id: newId("call").replace("call-", "call_"), type: "function", function: c })) };
  };
  return { input, responseFormat, replyOf, buffered: callTools.length > 0 };
}

/** Validates a chat ("chat") or text ("text") completion request and plans its run; a Refusal when it cannot run. */
export async function planCompletion(ctx: AppContext, kind: CompletionKind, rawBody: unknown): Promise<CompletionPlan | Refusal> {
  const { backend, card } = ctx;
  const parsed = kind === "chat" ? parseBody(chatRequestSchema, rawBody) : parseBody(completionRequestSchema, rawBody);
  if (!parsed.ok) return refusal(400, parsed.issue.message, "invalid_request", parsed.issue.param);
  const body = parsed.value as ChatRequest & CompletionRequest;
  const refused = modelRefusal(ctx, body.model, kind === "chat" ? "chat" : "other");
  if (refused) return refused;
  const asking = kind === "chat" && ctx.assistant !== undefined && body.model === ctx.assistant.id ? ctx.assistant : undefined;
  const maxTokens = kind === "chat" ? (body.max_completion_tokens ?? body.max_tokens) : (body.max_tokens ?? DEFAULT_COMPLETION_MAX_TOKENS);
  const maxField = kind === "chat" && body.max_completion_tokens !== undefined ? "max_completion_tokens" : "max_tokens";
  if (maxTokens !== undefined && maxTokens >= card.contextLength) {
    return refusal(
      400,
      `${maxField} is ${maxTokens}, but the model's context holds ${card.contextLength} tokens (prompt included)`,
      "context_length_exceeded",
      maxField,
    );
  }
  const input: GenerationInput = kind === "chat" ? chatInput(body) : completionInput(body);
  // Log-probabilities: chat `logprobs: true` (+ `top_logprobs`), completions `logprobs: N` (+ `echo` for the prompt's).
  if (kind === "chat" && body.top_logprobs !== undefined && body.logprobs !== true)
    return refusal(400, "top_logprobs needs logprobs: true", "invalid_request", "top_logprobs");
  const topN = kind === "chat" ? (body.logprobs === true ? (body.top_logprobs ?? 0) : undefined) : (body.logprobs ?? undefined);
  if (asking && topN !== undefined)
    return refusal(400, `the model "${asking.id}" does not report logprobs (its answers are often extracts, not samples)`, "invalid_request", "logprobs");
  const tools = toolPlan(kind, body, card, asking !== undefined, input, responseFormatOf(body));
  if (isRefusal(tools)) return tools;
  const plan: CompletionPlan = {
    kind,
    body,
    modelId: asking ? asking.id : card.id,
    endpoint: kind === "chat" ? "chat" : "completions",
    request: { input: tools.input, maxTokens, stop: stopsOf(body), sampling: samplingOf(body), responseFormat: tools.responseFormat, logprobs: topN },
    topN,
    echo: kind === "text" && body.echo === true && input.kind === "text" ? input.prompt : "",
    generate: (r) => backend.generate(r),
    replyOf: tools.replyOf,
    buffered: tools.buffered,
  };
  plan.request.promptLogprobs = kind === "text" && plan.echo !== "" && topN !== undefined;
  if (!asking) return plan;

  // The assistant: retrieval and the grounded prompt (src/assistant/served.ts); generation (if any) through the same backend.
  if (tools.responseFormat)
    return refusal(
      400,
      `the model "${asking.id}" answers in prose with citations; response_format is not supported for it`,
      "invalid_request",
      "response_format",
    );
  const messages = input.kind === "chat" ? input.messages : [];
  if (questionOf(messages).trim() === "")
    return refusal(400, "the assistant answers the last user message, and there is none (or it is empty)", "invalid_request", "messages");
  const a = await asking.reply({ messages, maxTokens, temperature: plan.request.sampling?.temperature }, backend);
  plan.request.maxTokens = a.maxTokens;
  plan.request.sampling = { ...plan.request.sampling, temperature: a.temperature };
  plan.fields = a.fields;
  if (a.answer.kind === "text") {
    // Not found, or an extract: no model call; the text is streamed as one piece.
    const text = a.answer.text;
    plan.generate = async (r) => {
      r.onText?.(text);
      return { text, finishReason: "stop", promptTokens: 0, completionTokens: 0 };
    };
  } else {
    plan.request.input = a.answer.input;
    plan.request.stop = [...(plan.request.stop ?? []), ...a.answer.stop];
  }
  return plan;
}
