// Sequence-level distillation, the text half: read prompts, have a teacher
// write a completion for each, and store prompt + completion as documents
// (JSONL, one {"text", "prompt", "source"} per line) that `ingest` turns into a
// dataset with the STUDENT's tokenizer — so teacher and student may tokenize
// differently. A teacher is anything with generate(prompt) → text: an
// OpenAI-compatible endpoint (here, over fetch) or a local model (the CLI
// adapts src/infer/generate.ts to this interface).
// Knows nothing about token ids, models or the trainer.
import { closeSync, existsSync, openSync, renameSync, writeSync } from "node:fs";

import { ConfigError, FormatError } from "../errors.ts";
import { readJsonl } from "../util/jsonl.ts";

export interface TeacherTextSource {
  /** For messages and the documents' "source" field. */
  name: string;
  /** One completion of `prompt`. */
  generate(prompt: string, index: number): Promise<string>;
}

/**
 * Prompts from a JSONL file: each line {"prompt": "…"} (or {"text": …}, or {"messages": [{role,
 * content}…]} whose last user message is taken), or a plain string in JSON. Blank lines skipped.
 */
export function readPrompts(path: string): string[] {
  if (!existsSync(path)) throw new ConfigError(`prompts file not found: ${path}`);
  const out = readJsonl(
    path,
    (v, { at }) => {
      let p: unknown = typeof v === "string" ? v : undefined;
      if (v && typeof v === "object") {
        const o = v as { prompt?: unknown; text?: unknown; messages?: unknown };
        p = o.prompt ?? o.text;
        if (p === undefined && Array.isArray(o.messages)) {
          const users = (o.messages as { role?: string; content?: unknown }[]).filter((m) => m && m.role === "user");
          p = users.at(-1)?.content;
        }
      }
      if (typeof p !== "string" || !p.trim()) throw new FormatError(`${at}: no prompt (expected a "prompt", "text" or "messages" field with text)`);
      return p;
    },
    { hint: 'one object a line, e.g. {"prompt": "How do I request leave?"}' },
  );
  if (out.length === 0) throw new ConfigError(`${path} has no prompts`);
  return out;
}

export interface EndpointTeacherOptions {
  /** Base URL of an OpenAI-compatible server: http://host:port or http://host:port/v1. */
  url: string;
  /** The "model" field of the requests. */
  model: string;
  maxTokens: number;
  temperature: number;
  /** Sent as a Bearer token when given (e.g. from an environment variable the user names). */
  apiKey?: string;
  /** Per-request timeout in ms (default 120 000). */
  timeoutMs?: number;
  /** Sampling seed sent with each request (seed + index), when given. */
  seed?: number;
}

/** POSTs {url}/v1/chat/completions with one user message per prompt. */
export function endpointTeacher(o: EndpointTeacherOptions): TeacherTextSource {
  let base: URL;
  try {
    base = new URL(o.url);
  } catch {
    throw new ConfigError(`--teacher-url ${o.url} is not a URL`, { hint: "e.g. http://localhost:8080/v1" });
  }
  const root = base.href.replace(/\/+$/, "");
  const endpoint = /\/v1$/.test(root) ? `${root}/chat/completions` : `${root}/v1/chat/completions`;
  return {
    name: `${endpoint} (${o.model})`,
    async generate(prompt: string, index: number): Promise<string> {
      const body: Record<string, unknown> = {
        model: o.model,
        messages: [{ role: "user", content: prompt }],
        max_tokens: o.maxTokens,
        temperature: o.temperature,
        stream: false,
      };
      if (o.seed !== undefined) body.seed = o.seed + index;
      let res: Response | null = null;
      // A connection the server closed while idle (keep-alive) fails the first try: try once more.
      for (let attempt = 1; res === null; attempt++) {
        try {
          res = await fetch(endpoint, {
            method: "POST",
            headers: { "content-type": "application/json", ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(o.timeoutMs ?? 120_000),
          });
        } catch (e) {
          const cause = (e as { cause?: { code?: string } }).cause?.code;
          if (attempt < 2 && (e as Error).name !== "TimeoutError") continue;
          throw new ConfigError(`teacher endpoint ${endpoint}: request failed (${(e as Error).message}${cause ? `: ${cause}` : ""})`, {
            hint: "is the server running, and is the URL right?",
          });
        }
      }
      const text = await res.text();
      if (!res.ok) throw new ConfigError(`teacher endpoint ${endpoint}: HTTP ${res.status} ${text.slice(0, 200)}`);
      let j: { choices?: { message?: { content?: unknown } }[] };
      try {
        j = JSON.parse(text);
      } catch {
        throw new FormatError(`teacher endpoint ${endpoint}: the response is not JSON: ${text.slice(0, 200)}`);
      }
      const content = j.choices?.[0]?.message?.content;
      if (typeof content !== "string") throw new FormatError(`teacher endpoint ${endpoint}: no choices[0].message.content in the response`);
      return content;
    },
  };
}

export interface TeacherTextsResult {
  documents: number;
  chars: number;
  elapsedMs: number;
}

/**
 * Writes one document per prompt (× samples) to `outFile` (JSONL, atomically: a temp file
 * renamed when complete). The text is the prompt, a blank line, and the teacher's completion.
 */
export async function writeTeacherTexts(
  source: TeacherTextSource,
  prompts: readonly string[],
  outFile: string,
  opts: { samples?: number; onProgress?: (done: number, total: number) => void; signal?: AbortSignal; now?: () => number } = {},
): Promise<TeacherTextsResult> {
  const samples = opts.samples ?? 1;
  if (!Number.isInteger(samples) || samples < 1) throw new ConfigError(`samples per prompt must be a positive integer, got ${samples}`);
  const now = opts.now ?? (() => performance.now());
  const t0 = now();
  const tmp = `${outFile}.partial`;
  const fd = openSync(tmp, "w");
  let documents = 0,
    chars = 0;
  const total = prompts.length * samples;
  try {
    for (let i = 0; i < total; i++) {
      if (opts.signal?.aborted) throw new ConfigError(`sequence distillation: stopped after ${i} of ${total} completions`);
      const prompt = prompts[i % prompts.length]!;
      const completion = (await source.generate(prompt, i)).trim();
      if (completion) {
        const text = `${prompt.trim()}\n\n${completion}\n`;
        writeSync(fd, `${JSON.stringify({ text, prompt, source: source.name })}\n`);
        documents++;
        chars += text.length;
      }
      opts.onProgress?.(i + 1, total);
    }
  } finally {
    closeSync(fd);
  }
  if (documents === 0) throw new ConfigError(`the teacher (${source.name}) returned no text for any of ${total} prompts`);
  renameSync(tmp, outFile);
  return { documents, chars, elapsedMs: now() - t0 };
}
