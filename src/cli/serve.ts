// `slm serve`: an OpenAI-compatible HTTP server (and the web UI) for a model
// directory. Parses flags, starts src/serve/server.ts, prints the URL, and on
// SIGTERM or SIGINT closes gracefully (running requests finish or are
// cancelled after the grace period) and exits 0. Thin: routes live in
// src/serve/app.ts, inference in the worker backend.
import { UsageError } from "../errors.ts";
import { DEFAULT_GRACE_MS, DEFAULT_HOST, DEFAULT_PORT, startServer } from "../serve/server.ts";
import { ANSWERERS, type AnswererChoice } from "../assistant/served.ts";
import { DEFAULT_MIN_CONFIDENCE } from "../assistant/confidence.ts";
import { DEFAULT_PROMPT_CACHE_BYTES } from "../infer/prompt-cache.ts";
import { intFlag, numFlag, parse, type Command, type CommandContext } from "./command.ts";
import { formatBytes } from "./format.ts";
import { inferenceLoadOptions, kvDtypeFlag, MODEL_LOAD_FLAGS, MODEL_LOAD_HELP } from "./model-flags.ts";
import { SPECULATION_FLAGS, SPECULATION_HELP } from "./speculation-flags.ts";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);

export const serveCommand: Command = {
  name: "serve",
  summary: "serve a model over an OpenAI-compatible HTTP API (and a web UI)",
  help: `Usage: slm serve --model DIR [--host 127.0.0.1] [--port 8080] [--api-key KEY] [options]

Serves the model with an OpenAI-compatible API: POST /v1/chat/completions,
POST /v1/completions (both with "stream": true for Server-Sent Events),
POST /v1/embeddings, GET /v1/models; plus GET /health, GET /metrics
(Prometheus) and the web UI at /. Requests share decode steps (continuous
batching); when --max-queue requests already wait, new ones get 429 with
Retry-After. SIGTERM or Ctrl-C stops accepting requests, lets running ones
finish (up to --grace seconds) and exits.

Options:
  --model DIR             model directory (config.json, model.safetensors, tokenizer.json)
  --host HOST             interface to bind (default ${DEFAULT_HOST}: this machine only)
  --port N                TCP port, 0 = any free port (default ${DEFAULT_PORT})
  --api-key KEY           require "Authorization: Bearer KEY" on /v1/* and /metrics
                          (default: the SLM_API_KEY environment variable, else none)
  --max-concurrency N     requests generating at once (default: the engine's)
  --max-queue N           requests waiting for a slot before 429 (default: the engine's)
  --timeout SECONDS       cancel a request running longer (default 120, 0 = never)
  --threads N             kernel threads (default: all cores, or SLM_THREADS)
  --prompt-cache-mb N     memory (MiB) for keys and values of earlier requests, reused when a new
                          prompt starts with the same tokens (default ${DEFAULT_PROMPT_CACHE_BYTES / 2 ** 20}, 0 = off)
  --model-id NAME         the id clients pass as "model" (default: the directory's name)
  --adapter DIR           a LoRA adapter (PEFT directory, from \`slm finetune --method lora\`)
                          applied on top of the model, unmerged
${MODEL_LOAD_HELP}
${SPECULATION_HELP}
  --grace SECONDS         how long shutdown waits for running requests (default ${DEFAULT_GRACE_MS / 1000})
  --index INDEX           also serve "<model id>-assistant": answers from this index (made by
                          \`slm index\`) citing sources [1], [2], or "Not found in the documents."
  --answerer WHO          who writes the assistant's answers: auto (default): the model when it was
                          trained to answer (slm finetune, or an instruction-tuned model with its own
                          chat template), else extractive; model (always the model); extractive (the
                          best-matching sentence, no model)
  --reader DIR            the assistant answers with the sentence this reader (\`slm train-reader\`) picks,
                          weighed with the extractive baseline's choice (as slm ask does)
  --min-confidence C      assistant: answer confidence (0-1) below which it says "not found" (default ${DEFAULT_MIN_CONFIDENCE})
  --quiet                 no per-request log lines

Examples:
  slm serve --model out/run1/model --port 8080
  slm serve --model out/run1/model --index data/hb.index     # + model "model-assistant"
  slm serve --model runs/mini/model --draft runs/nano-kd/model  # speculative decoding
  curl http://127.0.0.1:8080/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model": "model", "messages": [{"role": "user", "content": "Hello"}]}'`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values } = parse(
      argv,
      {
        model: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        "api-key": { type: "string" },
        "max-concurrency": { type: "string" },
        "max-queue": { type: "string" },
        timeout: { type: "string" },
        threads: { type: "string" },
        "prompt-cache-mb": { type: "string" },
        "model-id": { type: "string" },
        adapter: { type: "string" },
        grace: { type: "string" },
        index: { type: "string" },
        answerer: { type: "string" },
        reader: { type: "string" },
        "min-confidence": { type: "string" },
        quiet: { type: "boolean" },
        ...MODEL_LOAD_FLAGS,
        ...SPECULATION_FLAGS,
      },
      false,
    );
    const load = inferenceLoadOptions(values);
    const kvDtype = kvDtypeFlag(values);
    if (!values.model) throw new UsageError("--model is required (a model directory)");
    const host = values.host ?? DEFAULT_HOST;
    if (host.trim() === "") throw new UsageError("--host must not be empty");
    const port = intFlag("port", values.port, DEFAULT_PORT, 0);
    if (port > 65535) throw new UsageError(`--port must be <= 65535, got ${port}`);
    const apiKey = values["api-key"] ?? (process.env.SLM_API_KEY || undefined);
    if (apiKey !== undefined && apiKey.trim() === "") throw new UsageError("--api-key must not be empty");
    const optInt = (name: string, v: string | undefined, min = 1) => (v === undefined ? undefined : intFlag(name, v, 0, min));
    const timeoutS = optInt("timeout", values.timeout, 0);
    const graceS = optInt("grace", values.grace, 0);
    const promptCacheBytes = promptCacheFlag(values["prompt-cache-mb"]);
    const answerer = values.answerer as AnswererChoice | undefined;
    if (answerer !== undefined && !ANSWERERS.includes(answerer))
      throw new UsageError(`--answerer must be one of ${ANSWERERS.join(", ")}, got "${values.answerer}"`);
    const minConfidence = numFlag("min-confidence", values["min-confidence"], 0, 1);
    if (values.index === undefined && (answerer !== undefined || minConfidence !== undefined || values.reader !== undefined))
      throw new UsageError("--answerer, --reader and --min-confidence apply to the assistant: pass --index INDEX too");
    if (answerer === "reader" && values.reader === undefined) throw new UsageError("--answerer reader needs --reader DIR (made by slm train-reader)");
    if (values.reader !== undefined && answerer !== undefined && answerer !== "reader" && answerer !== "auto")
      throw new UsageError(`--reader and --answerer ${answerer} exclude each other`);
    if (!LOOPBACK.has(host) && !apiKey) ctx.err(`slm serve: warning: listening on ${host} without --api-key: anyone who can reach this port can use the model`);

    const server = await startServer({
      modelDir: values.model,
      host,
      port,
      apiKey,
      maxConcurrency: optInt("max-concurrency", values["max-concurrency"]),
      maxQueue: optInt("max-queue", values["max-queue"], 0),
      requestTimeoutMs: timeoutS === undefined ? undefined : timeoutS * 1000,
      threads: optInt("threads", values.threads),
      modelId: values["model-id"],
      ...(values.adapter !== undefined ? { adapter: values.adapter } : {}),
      load,
      kvDtype,
      ...(promptCacheBytes !== undefined ? { promptCacheBytes } : {}),
      ...(values.draft !== undefined ? { draft: values.draft } : {}),
      ...(values["no-prompt-lookup"] ? { promptLookup: false } : {}),
      graceMs: graceS === undefined ? undefined : graceS * 1000,
      index: values.index,
      ...(answerer ? { answerer } : {}),
      ...(values.reader !== undefined ? { reader: values.reader } : {}),
      ...(minConfidence !== undefined ? { minConfidence } : {}),
      onLog: values.quiet ? undefined : (line) => ctx.err(line),
    });
    const c = server.card;
    ctx.out(
      `slm serve: ${server.url}  (model "${c.id}": ${c.modelType}, ${c.parameters.toLocaleString("en-US")} parameters, context ${c.contextLength}, ${c.quantization}, ${formatBytes(c.weightBytes)} of weights)`,
    );
    if (server.assistantId) ctx.out(`  assistant: model "${server.assistantId}" answers from ${values.index}`);
    ctx.out(`  API: ${server.url}/v1   web UI: ${server.url}/   Ctrl-C to stop`);

    // Run until SIGTERM or SIGINT, then close gracefully. A second signal exits at once.
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      const on = (s: NodeJS.Signals) => {
        process.removeListener("SIGTERM", on);
        process.removeListener("SIGINT", on);
        process.once(s, () => process.exit(1));
        resolve(s);
      };
      process.on("SIGTERM", on);
      process.on("SIGINT", on);
    });
    ctx.err(`slm serve: ${signal}: shutting down`);
    await server.close();
    return 0;
  },
};

/** --prompt-cache-mb: MiB (a number >= 0, fractions allowed) as whole bytes; undefined when not given. */
export function promptCacheFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const mb = Number(v);
  if (v.trim() === "" || !Number.isFinite(mb) || mb < 0)
    throw new UsageError(`--prompt-cache-mb must be a number of MiB >= 0 (0 = no prompt cache), got "${v}"`);
  return Math.floor(mb * 2 ** 20);
}
