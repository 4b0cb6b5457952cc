// Chat templates: render messages with the tokenizer_config.json
// `chat_template` (Jinja, via @huggingface/jinja), tokenize the result, and
// derive an assistant-only loss mask. Method: after rendering, each message's
// content is located in the rendered text in order (searching forward from
// the previous message); an assistant span is its content plus, when the
// template puts one right after it (whitespace allowed), the next special
// token (the end-of-turn marker, e.g. <|im_end|>). Tokens are mapped to
// character ranges with encodeWithOffsets, and a token is masked in (1) when
// its range overlaps an assistant span. Knows nothing about models or training.
import { Template } from "@huggingface/jinja";

import { ConfigError, FormatError, UsageError } from "../errors.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** The default template of tokenizers we train: ChatML with <|im_start|> / <|im_end|>. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool" | string;
  content: string;
  /** An assistant turn's function calls (OpenAI's shape; `arguments` an object or JSON text), for templates that render them. */
  tool_calls?: { id?: string; type: "function"; function: { name: string; arguments: unknown } }[];
  /** A tool turn: the id of the call it answers. */
  tool_call_id?: string;
  /** A tool turn: the function's name. */
  name?: string;
}

export interface ChatTemplateOptions {
  /** Append the assistant header so a model continues as the assistant. Default false. */
  addGenerationPrompt?: boolean;
  /** Template to use instead of the tokenizer's chat_template. */
  template?: string;
  /** Extra variables for the template (tools, documents, enable_thinking…). */
  extra?: Record<string, unknown>;
}

export interface ChatEncoding {
  text: string;
  ids: number[];
  /** 1 for tokens produced by assistant turns (content and end-of-turn marker), 0 elsewhere. Same length as ids. */
  assistantMask: number[];
}

const compiled = new Map<string, Template>();

export function renderChat(tok: Tokenizer, messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
  const src = opts.template ?? tok.spec.config.chat_template;
  if (typeof src !== "string" || src.length === 0) {
    throw new ConfigError("this tokenizer has no chat_template", { hint: "add chat_template to tokenizer_config.json or pass {template}" });
  }
  if (!Array.isArray(messages)) throw new UsageError("applyChatTemplate: messages must be an array of {role, content}");
  messages.forEach((m, i) => {
    if (typeof m?.role !== "string" || typeof m?.content !== "string")
      throw new UsageError(`applyChatTemplate: messages[${i}] must be {role: string, content: string}`);
  });
  let t = compiled.get(src);
  if (!t) {
    try {
      t = new Template(src);
    } catch (e) {
      throw new FormatError(`chat_template does not parse: ${(e as Error).message}`, { cause: e });
    }
    compiled.set(src, t);
  }
  const cfg = tok.spec.config;
  try {
    return t.render({
      bos_token: cfg.bos_token ?? "",
      eos_token: cfg.eos_token ?? "",
      pad_token: cfg.pad_token ?? "",
      unk_token: cfg.unk_token ?? "",
      ...opts.extra,
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
    });
  } catch (e) {
    throw new FormatError(`chat_template failed to render: ${(e as Error).message}`, { cause: e });
  }
}

export function applyChatTemplate(tok: Tokenizer, messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): ChatEncoding {
  const text = renderChat(tok, messages, opts);
  // Character spans of assistant turns.
  const spans: Array<[number, number]> = [];
  const specials = Object.keys(tok.specialTokens).sort((a, b) => b.length - a.length);
  let cursor = 0;
  messages.forEach((m, i) => {
    if (m.content.length === 0) return;
    let at = text.indexOf(m.content, cursor);
    let len = m.content.length;
    if (at < 0) {
      const trimmed = m.content.trim();
      at = trimmed.length > 0 ? text.indexOf(trimmed, cursor) : -1;
      len = trimmed.length;
    }
    if (at < 0) {
      if (m.role !== "assistant") return; // templates may drop or rewrite other turns (e.g. a system prompt)
      throw new FormatError(`chat_template rewrites the content of messages[${i}] (assistant); cannot locate it to build the loss mask`);
    }
    let end = at + len;
    if (m.role === "assistant") {
      let j = end;
      while (j < text.length && /\s/.test(text[j]!)) j++;
      const marker = specials.find((s) => text.startsWith(s, j));
      if (marker) end = j + marker.length;
      spans.push([at, end]);
    }
    cursor = end;
  });
  const { ids, starts } = tok.encodeWithOffsets(text);
  const assistantMask = new Array<number>(ids.length).fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = starts[i]!;
    const e = Math.max(s + 1, i + 1 < ids.length ? starts[i + 1]! : text.length);
    for (const [a, b] of spans) {
      if (s < b && e > a) {
        assistantMask[i] = 1;
        break;
      }
    }
  }
  return { text, ids, assistantMask };
}

/**
 * The one rule for which chat template a model is prompted and fine-tuned with (slm chat, serve,
 * finetune, the assistant): `override`, else the tokenizer's chat_template, else ChatML when the
 * tokenizer has <|im_start|> and <|im_end|> and no chat_template at all (tokenizers we train carry
 * CHATML_TEMPLATE itself), else null: the model is prompted with plain turns and cannot be
 * fine-tuned on chat without a template. An empty chat_template is an explicit "no template".
 */
export function chatTemplateOf(tok: Tokenizer, override?: string): string | null {
  if (override !== undefined) return override;
  const t = tok.spec.config.chat_template;
  if (typeof t === "string") return t.length > 0 ? t : null; // "": an explicit "no template"
  const sp = tok.specialTokens;
  return sp["<|im_start|>"] !== undefined && sp["<|im_end|>"] !== undefined ? CHATML_TEMPLATE : null;
}

/** Whether chatTemplateOf finds a template; else chat uses plain turns. */
export function hasChatTemplate(tok: Tokenizer): boolean {
  return chatTemplateOf(tok) !== null;
}

/** Whether the chat template renders a `tools` variable (Qwen, Llama 3.1, Hermes templates do); else tools need a default rendering. */
export function templateRendersTools(tok: Tokenizer): boolean {
  const t = chatTemplateOf(tok);
  return typeof t === "string" && /\btools\b/.test(t);
}

/**
 * How the model writes a function call: "llama3" (a bare JSON object {"name", "parameters"}, as
 * Llama 3.1's template asks) when the template speaks Llama 3's header tokens and "parameters",
 * else "hermes" (<tool_call>{"name", "arguments"}</tool_call>, as Qwen and Hermes templates do;
 * also the default for models without tool support in their template).
 */
export function toolCallFormat(tok: Tokenizer): "hermes" | "llama3" {
  const t = chatTemplateOf(tok);
  return typeof t === "string" && t.includes("<|start_header_id|>") && t.includes('"parameters"') && !t.includes("<tool_call>") ? "llama3" : "hermes";
}

/** Text stops for plain turns: the model starting the next user turn ends its reply. */
export const PLAIN_CHAT_STOPS: readonly string[] = ["\nUser:"];

/**
 * The prompt ids for a conversation that the model should continue as the assistant: the
 * tokenizer's chat template with the generation prompt when `useTemplate`, else plain turns
 * ("System text\n\nUser: …\nAssistant: …\n" ending in "Assistant:"), encoded with special tokens.
 * Used by `slm chat` and the server, so both prompt a model the same way.
 */
export function chatPromptIds(tok: Tokenizer, messages: readonly ChatMessage[], useTemplate = hasChatTemplate(tok), extra?: Record<string, unknown>): number[] {
  if (useTemplate) return applyChatTemplate(tok, messages, { addGenerationPrompt: true, extra, template: chatTemplateOf(tok) ?? undefined }).ids;
  if (!Array.isArray(messages)) throw new UsageError("chat: messages must be an array of {role, content}");
  let text = "";
  messages.forEach((msg, i) => {
    if (typeof msg?.role !== "string" || typeof msg?.content !== "string") throw new UsageError(`chat: messages[${i}] must be {role: string, content: string}`);
    if (msg.role === "system") text += `${msg.content}\n\n`;
    else text += `${msg.role === "user" ? "User" : msg.role === "tool" ? "Tool" : "Assistant"}: ${msg.content}\n`;
  });
  return tok.encode(`${text}Assistant:`, { addSpecialTokens: true });
}
