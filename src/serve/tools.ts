// Function calling for chat completions (OpenAI `tools` / `tool_choice`):
// how tools reach the prompt, the JSON Schema that constrains a forced call,
// and parsing calls back out of the model's text. Pure functions over
// messages and text; knows nothing about HTTP or models (the app wires them,
// the backend renders the prompt and enforces the schema).
//
// Prompt: a chat template that renders a `tools` variable (Qwen, Hermes,
// Llama 3.1) gets the tools and the messages as they are (assistant
// `tool_calls` with their arguments parsed to objects, `tool` turns with their
// content). Otherwise the default rendering below: a system message listing
// the tools as JSON and asking for Hermes-style <tool_call> tags, assistant
// calls written into their content in that format, and tool results wrapped
// in <tool_response> tags.
//
// Formats the model answers in: "hermes" — <tool_call>{"name": …,
// "arguments": {…}}</tool_call>, one block per call; "llama3" — the whole reply
// is one JSON object {"name": …, "parameters": {…}}.
//
// tool_choice: "none" — tools are left out of the prompt and nothing is parsed;
// "auto" — the model writes freely and calls are parsed from its text;
// "required" or a named function — the reply is constrained to one call
// whose arguments follow that function's parameter schema (for "hermes" the
// prompt ends with the opening "<tool_call>\n", so the model writes only the
// JSON object).
import { UsageError } from "../errors.ts";
import type { ChatMessage } from "../tokenizer/index.ts";

export interface ToolFunction {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
  strict?: boolean;
}

export interface Tool {
  type: "function";
  function: ToolFunction;
}

export type ToolChoice = "none" | "auto" | "required" | { type: "function"; function: { name: string } };

export type ToolCallFormat = "hermes" | "llama3";

export interface ParsedCall {
  name: string;
  /** The arguments as JSON text (OpenAI's `function.arguments`). */
  arguments: string;
}

/** The function names a tool_choice allows (all for "auto" / "required"); UsageError for an unknown named function. */
export function allowedTools(tools: readonly Tool[], choice: ToolChoice): Tool[] {
  if (choice === "none") return [];
  if (typeof choice === "object") {
    const t = tools.find((x) => x.function.name === choice.function.name);
    if (!t)
      throw new UsageError(`tool_choice names the function "${choice.function.name}", which is not in tools (${tools.map((x) => x.function.name).join(", ")})`);
    return [t];
  }
  return [...tools];
}

/** A function's parameter schema (an empty object when it declares none). */
function paramsOf(t: Tool): Record<string, unknown> {
  return t.function.parameters ?? { type: "object", properties: {}, additionalProperties: false };
}

/**
 * The JSON Schema of one call to one of `tools`: {"name": const, "arguments" (or "parameters"
 * for llama3): the function's parameters}, one anyOf branch per function so the arguments
 * follow the schema of the name chosen.
 */
export function callSchema(tools: readonly Tool[], format: ToolCallFormat): Record<string, unknown> {
  const argKey = format === "llama3" ? "parameters" : "arguments";
  const branch = (t: Tool) => ({
    type: "object",
    properties: { name: { const: t.function.name }, [argKey]: paramsOf(t) },
    required: ["name", argKey],
    additionalProperties: false,
  });
  // $defs of a parameter schema are only reachable from the root: lift them (names must not clash).
  const defs: Record<string, unknown> = {};
  const branches = tools.map((t) => {
    const p = paramsOf(t);
    for (const key of ["$defs", "definitions"]) {
      const d = p[key];
      if (d && typeof d === "object") {
        for (const [k, v] of Object.entries(d)) {
          if (k in defs && JSON.stringify(defs[k]) !== JSON.stringify(v))
            throw new UsageError(`tools: two functions define "${k}" in $defs differently; rename one`);
          defs[k] = v;
        }
      }
    }
    return branch(t);
  });
  const schema: Record<string, unknown> = branches.length === 1 ? branches[0]! : { anyOf: branches };
  if (Object.keys(defs).length > 0) schema.$defs = defs;
  return schema;
}

/** Text that the generated JSON of a forced call follows in the prompt (the opening tag for hermes). */
export function forcedCallPrefix(format: ToolCallFormat): string {
  return format === "hermes" ? "<tool_call>\n" : "";
}

/** The default tool instructions, for templates that do not render tools (and plain turns). */
function defaultToolsPrompt(tools: readonly Tool[]): string {
  return (
    "You can call functions. Their signatures, one JSON object per line:\n<tools>\n" +
    tools.map((t) => JSON.stringify(t)).join("\n") +
    '\n</tools>\nTo call a function, reply with <tool_call>{"name": <function name>, "arguments": <arguments as a JSON object>}</tool_call>, ' +
    "one block per call. A function's result comes back in <tool_response></tool_response>."
  );
}

/** JSON text of arguments given as an object or as text. */
function argumentsText(a: unknown): string {
  return typeof a === "string" ? a : JSON.stringify(a ?? {});
}

/** Arguments as an object when they are JSON text of one (templates serialise them themselves). */
function argumentsObject(a: unknown): unknown {
  if (typeof a !== "string") return a;
  try {
    return JSON.parse(a);
  } catch {
    return a;
  }
}

/**
 * The messages and the template variables for a chat request with tools. `templateTools`: the
 * model's template renders `tools` (pass them through); otherwise the default rendering.
 */
export function toolMessages(
  messages: readonly ChatMessage[],
  tools: readonly Tool[],
  templateTools: boolean,
): { messages: ChatMessage[]; extra?: Record<string, unknown> } {
  if (templateTools) {
    const ms = messages.map((m) =>
      m.tool_calls
        ? { ...m, tool_calls: m.tool_calls.map((c) => ({ ...c, function: { name: c.function.name, arguments: argumentsObject(c.function.arguments) } })) }
        : m,
    );
    return tools.length > 0 ? { messages: ms, extra: { tools } } : { messages: ms };
  }
  const ms: ChatMessage[] = messages.map((m) => {
    if (m.role === "assistant" && m.tool_calls && m.tool_calls.length > 0) {
      const calls = m.tool_calls
        .map((c) => `<tool_call>{"name": ${JSON.stringify(c.function.name)}, "arguments": ${argumentsText(c.function.arguments)}}</tool_call>`)
        .join("\n");
      return { role: "assistant", content: m.content ? `${m.content}\n${calls}` : calls };
    }
    if (m.role === "tool") return { role: "tool", content: `<tool_response>${m.content}</tool_response>` };
    return { role: m.role, content: m.content };
  });
  if (tools.length === 0) return { messages: ms };
  const sys = defaultToolsPrompt(tools);
  if (ms[0]?.role === "system") ms[0] = { role: "system", content: `${ms[0].content}\n\n${sys}` };
  else ms.unshift({ role: "system", content: sys });
  return { messages: ms };
}

/** A parsed call object → a call, if it names one of the tools. */
function callOf(v: unknown, names: ReadonlySet<string>, argKey: string): ParsedCall | null {
  if (!v || typeof v !== "object" || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.name !== "string" || !names.has(o.name)) return null;
  const args = o[argKey] ?? o.arguments ?? o.parameters ?? {};
  return { name: o.name, arguments: argumentsText(args) };
}

/** The call in a constrained reply (the JSON object alone); null if it is not one (a truncated reply). */
export function parseForcedCall(text: string, tools: readonly Tool[], format: ToolCallFormat): ParsedCall | null {
  try {
    return callOf(JSON.parse(text), new Set(tools.map((t) => t.function.name)), format === "llama3" ? "parameters" : "arguments");
  } catch {
    return null;
  }
}

/**
 * Calls in a reply, and the text around them (null when nothing but calls). Only calls to one of
 * `tools` with parseable JSON count; anything else stays text.
 */
export function parseToolCalls(text: string, tools: readonly Tool[], format: ToolCallFormat): { content: string | null; calls: ParsedCall[] } {
  const names = new Set(tools.map((t) => t.function.name));
  if (format === "llama3") {
    const body = text.replace(/^\s*(<\|python_tag\|>)?/, "").trim();
    try {
      const c = callOf(JSON.parse(body), names, "parameters");
      if (c) return { content: null, calls: [c] };
    } catch {
      // not a call: plain text
    }
    return { content: text, calls: [] };
  }
  const calls: ParsedCall[] = [];
  const rest = text.replace(/<tool_call>\s*([\s\S]*?)\s*(?:<\/tool_call>|$)/g, (whole, body: string) => {
    try {
      const c = callOf(JSON.parse(body), names, "arguments");
      if (c) {
        calls.push(c);
        return "";
      }
    } catch {
      // keep the text as it is
    }
    return whole;
  });
  if (calls.length === 0) return { content: text, calls };
  const content = rest.trim();
  return { content: content.length > 0 ? content : null, calls };
}
