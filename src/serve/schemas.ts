// Request schemas of the OpenAI-compatible endpoints (zod), and the step from a
// validated body to the backend's GenerationRequest. Fields we do not use are
// tolerated, as OpenAI's API tolerates them; fields we cannot honour (n > 1,
// token-id prompts) are rejected with a message naming the field.
// Knows nothing about HTTP or the model: the app checks the model id and the
// context length against the backend's card.
import { z } from "zod";

import type { ChatMessage } from "../tokenizer/index.ts";
import type { GenerationInput, ResponseFormat, SamplingParams } from "./backend.ts";

/** A validation failure: the message names the field; `param` is its dotted path. */
export interface SchemaIssue {
  message: string;
  param: string | null;
}

const num = (name: string) => z.number({ error: (i) => (i.input === undefined ? `${name} is required` : `${name} must be a number`) });
const int = (name: string) => z.int({ error: (i) => (i.input === undefined ? `${name} is required` : `${name} must be an integer`) });
const optNull = <T extends z.ZodType>(t: T) => t.nullish().transform((v) => v ?? undefined);

const samplingFields = {
  temperature: optNull(num("temperature").min(0, "temperature must be >= 0").max(2, "temperature must be <= 2")),
  top_p: optNull(num("top_p").gt(0, "top_p must be > 0").max(1, "top_p must be <= 1")),
  // Extensions beyond OpenAI (as vLLM and llama.cpp's server accept them).
  top_k: optNull(int("top_k").min(0, "top_k must be >= 0")),
  min_p: optNull(num("min_p").min(0, "min_p must be >= 0").max(1, "min_p must be <= 1")),
  repetition_penalty: optNull(num("repetition_penalty").gt(0, "repetition_penalty must be > 0")),
  seed: optNull(int("seed")),
  // Accepted for compatibility, ignored (no effect on sampling here).
  presence_penalty: optNull(num("presence_penalty").min(-2, "presence_penalty must be >= -2").max(2, "presence_penalty must be <= 2")),
  frequency_penalty: optNull(num("frequency_penalty").min(-2, "frequency_penalty must be >= -2").max(2, "frequency_penalty must be <= 2")),
  n: optNull(int("n").min(1, "n must be >= 1").max(1, "n must be 1 (one choice per request is supported)")),
  stream: optNull(z.boolean({ error: "stream must be a boolean" })),
  stream_options: optNull(
    z.object({ include_usage: optNull(z.boolean({ error: "stream_options.include_usage must be a boolean" })) }, { error: "stream_options must be an object" }),
  ),
  stop: optNull(
    z.union([z.string(), z.array(z.string({ error: "stop must be a string or an array of strings" })).max(4, "stop may hold at most 4 strings")], {
      error: "stop must be a string or an array of strings",
    }),
  ),
  user: optNull(z.string({ error: "user must be a string" })),
};

/** OpenAI's response_format: free text, any JSON object, or JSON that follows a schema (constrained decoding). */
const responseFormatField = optNull(
  z.union(
    [
      z.object({ type: z.literal("text") }),
      z.object({ type: z.literal("json_object") }),
      z.object({
        type: z.literal("json_schema"),
        json_schema: z.object(
          {
            name: optNull(z.string({ error: "response_format.json_schema.name must be a string" })),
            description: optNull(z.string({ error: "response_format.json_schema.description must be a string" })),
            schema: optNull(z.record(z.string(), z.unknown(), { error: "response_format.json_schema.schema must be a JSON Schema object" })),
            strict: optNull(z.boolean({ error: "response_format.json_schema.strict must be a boolean" })),
          },
          { error: "response_format.json_schema must be an object {name, schema, strict}" },
        ),
      }),
    ],
    { error: 'response_format must be {"type": "text"}, {"type": "json_object"} or {"type": "json_schema", "json_schema": {"name", "schema"}}' },
  ),
);

const modelField = z.string({ error: (i) => (i.input === undefined ? "model is required" : "model must be a string") }).min(1, "model must not be empty");

/** Message content: a string, or OpenAI's array of parts of which only text parts are supported. */
const contentPart = z.object(
  {
    type: z.literal("text", { error: 'only text content parts are supported (type: "text")' }),
    text: z.string({ error: "a text content part needs text: string" }),
  },
  { error: 'a content part must be an object {type: "text", text}' },
);

const message = z.object(
  {
    role: z.enum(["system", "developer", "user", "assistant", "tool"], { error: "role must be one of system, developer, user, assistant, tool" }),
    content: z.union([z.string(), z.array(contentPart), z.null()], { error: "content must be a string, an array of text parts, or null" }).optional(),
    name: optNull(z.string({ error: "name must be a string" })),
    // An assistant turn's function calls, and a tool turn's answer to one of them.
    tool_calls: optNull(
      z.array(
        z.object(
          {
            id: optNull(z.string({ error: "tool_calls[].id must be a string" })),
            type: optNull(z.literal("function", { error: 'tool_calls[].type must be "function"' })),
            function: z.object(
              {
                name: z.string({ error: "tool_calls[].function.name must be a string" }),
                arguments: z
                  .union([z.string(), z.record(z.string(), z.unknown())], { error: "tool_calls[].function.arguments must be a JSON string" })
                  .optional(),
              },
              { error: "tool_calls[].function must be {name, arguments}" },
            ),
          },
          { error: 'each tool call must be {id, type: "function", function: {name, arguments}}' },
        ),
        { error: "tool_calls must be an array" },
      ),
    ),
    tool_call_id: optNull(z.string({ error: "tool_call_id must be a string" })),
  },
  { error: "each message must be an object {role, content}" },
);

const toolField = z.object(
  {
    type: z.literal("function", { error: 'tools[].type must be "function"' }),
    function: z.object(
      {
        name: z
          .string({ error: "tools[].function.name is required" })
          .regex(/^[a-zA-Z0-9_-]{1,64}$/, "tools[].function.name must be 1-64 letters, digits, _ or -"),
        description: optNull(z.string({ error: "tools[].function.description must be a string" })),
        parameters: optNull(z.record(z.string(), z.unknown(), { error: "tools[].function.parameters must be a JSON Schema object" })),
        strict: optNull(z.boolean({ error: "tools[].function.strict must be a boolean" })),
      },
      { error: "tools[].function must be an object {name, description, parameters}" },
    ),
  },
  { error: 'each tool must be {type: "function", function: {name, description, parameters}}' },
);

const toolChoiceField = optNull(
  z.union([z.enum(["none", "auto", "required"]), z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) })], {
    error: 'tool_choice must be "none", "auto", "required" or {"type": "function", "function": {"name"}}',
  }),
);

export const chatRequestSchema = z.object(
  {
    model: modelField,
    messages: z
      .array(message, { error: (i) => (i.input === undefined ? "messages is required" : "messages must be an array") })
      .min(1, "messages must not be empty"),
    max_tokens: optNull(int("max_tokens").min(1, "max_tokens must be >= 1")),
    max_completion_tokens: optNull(int("max_completion_tokens").min(1, "max_completion_tokens must be >= 1")),
    logprobs: optNull(z.boolean({ error: "logprobs must be a boolean" })),
    top_logprobs: optNull(int("top_logprobs").min(0, "top_logprobs must be >= 0").max(20, "top_logprobs must be <= 20")),
    tools: optNull(z.array(toolField, { error: "tools must be an array" }).max(128, "tools may hold at most 128 functions")),
    tool_choice: toolChoiceField,
    parallel_tool_calls: optNull(z.boolean({ error: "parallel_tool_calls must be a boolean" })),
    response_format: responseFormatField,
    ...samplingFields,
  },
  { error: "the request body must be a JSON object" },
);

export const completionRequestSchema = z.object(
  {
    model: modelField,
    prompt: z.union([z.string(), z.array(z.string()).length(1, "prompt arrays must hold exactly one string (batched prompts are not supported)")], {
      error: (i) => (i.input === undefined ? "prompt is required" : "prompt must be a string (token-id prompts are not supported)"),
    }),
    max_tokens: optNull(int("max_tokens").min(1, "max_tokens must be >= 1")),
    echo: optNull(z.boolean({ error: "echo must be a boolean" })),
    suffix: optNull(z.string({ error: "suffix must be a string" }).max(0, "suffix is not supported")),
    logprobs: optNull(int("logprobs").min(0, "logprobs must be >= 0").max(5, "logprobs must be <= 5 (the most likely tokens listed per position)")),
    best_of: optNull(int("best_of").min(1).max(1, "best_of must be 1")),
    // An extension beyond OpenAI's completions API (as vLLM accepts it): the same response_format as chat.
    response_format: responseFormatField,
    ...samplingFields,
  },
  { error: "the request body must be a JSON object" },
);

export const embeddingRequestSchema = z.object(
  {
    model: modelField,
    input: z.union([z.string(), z.array(z.string()).min(1, "input must not be an empty array").max(256, "input may hold at most 256 strings")], {
      error: (i) => (i.input === undefined ? "input is required" : "input must be a string or an array of strings (token-id input is not supported)"),
    }),
    encoding_format: optNull(z.enum(["float", "base64"], { error: 'encoding_format must be "float" or "base64"' })),
    dimensions: optNull(int("dimensions").min(1, "dimensions must be >= 1")),
    user: optNull(z.string({ error: "user must be a string" })),
  },
  { error: "the request body must be a JSON object" },
);

export type ChatRequest = z.infer<typeof chatRequestSchema>;
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; issue: SchemaIssue };

/** Validates `body`; on failure the first issue, with the field's path in the message and in `param`. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): ParseResult<T> {
  const r = schema.safeParse(body);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0]!;
  const path = issue.path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
  // Messages from our schemas name their field already; zod's generic ones do not.
  const last = issue.path.filter((p) => typeof p !== "number").pop();
  const names = last === undefined || issue.message.includes(String(last));
  const message = path === "" || (names && path === String(last)) ? issue.message : names ? `${issue.message} (at ${path})` : `${path}: ${issue.message}`;
  return { ok: false, issue: { message, param: path || null } };
}

/** The text of a message's content (parts joined; null or missing = ""). */
function messageText(content: string | Array<{ text: string }> | null | undefined): string {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  return content.map((p) => p.text).join("");
}

function chatMessages(req: ChatRequest): ChatMessage[] {
  // "developer" is OpenAI's newer name for "system"; chat templates know "system".
  return req.messages.map((m) => {
    const out: ChatMessage = { role: m.role === "developer" ? "system" : m.role, content: messageText(m.content) };
    if (m.tool_calls && m.tool_calls.length > 0) {
      out.tool_calls = m.tool_calls.map((c) => ({
        ...(c.id ? { id: c.id } : {}),
        type: "function",
        function: { name: c.function.name, arguments: c.function.arguments ?? "{}" },
      }));
    }
    if (m.tool_call_id !== undefined) out.tool_call_id = m.tool_call_id;
    if (m.name !== undefined) out.name = m.name;
    return out;
  });
}

export function samplingOf(req: ChatRequest | CompletionRequest): SamplingParams {
  const s: SamplingParams = {};
  if (req.temperature !== undefined) s.temperature = req.temperature;
  if (req.top_p !== undefined) s.topP = req.top_p;
  if (req.top_k !== undefined) s.topK = req.top_k;
  if (req.min_p !== undefined) s.minP = req.min_p;
  if (req.repetition_penalty !== undefined) s.repetitionPenalty = req.repetition_penalty;
  if (req.seed !== undefined) s.seed = req.seed;
  return s;
}

export function stopsOf(req: ChatRequest | CompletionRequest): string[] {
  const stop = req.stop;
  if (stop === undefined) return [];
  return (typeof stop === "string" ? [stop] : stop).filter((s) => s.length > 0);
}

/** The backend's response format (undefined for free text); a json_schema without a schema means any JSON object. */
export function responseFormatOf(req: ChatRequest | CompletionRequest): ResponseFormat | undefined {
  const f = req.response_format;
  if (!f || f.type === "text") return undefined;
  if (f.type === "json_object") return { type: "json_object" };
  return f.json_schema.schema === undefined ? { type: "json_object" } : { type: "json_schema", schema: f.json_schema.schema };
}

export function chatInput(req: ChatRequest): GenerationInput {
  return { kind: "chat", messages: chatMessages(req) };
}

export function completionInput(req: CompletionRequest): GenerationInput {
  return { kind: "text", prompt: typeof req.prompt === "string" ? req.prompt : req.prompt[0]! };
}
