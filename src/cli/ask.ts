// `slm ask`: answers one question from an index, with numbered citations
// (source path and heading path) or "not found in the documents". With
// --model the model generates from the grounded prompt; without it the
// extractive baseline answers (the best-matching sentence). With --json-schema
// the model's answer is a JSON value valid against the schema. Thin: the work
// is src/assistant/answer.ts.
import { NotFoundError, UsageError } from "../errors.ts";
import { answer } from "../assistant/answer.ts";
import { compileSchema } from "../infer/json-schema/index.ts";
import { isReaderDir } from "../formats/reader-dir.ts";
import { ASK_FLAGS, ASK_FLAGS_HELP, answerOptionsFromFlags, type AskValues } from "./ask-flags.ts";
import { parse, type Command, type CommandContext } from "./command.ts";
import { readSchemaFile } from "./schema-flag.ts";

export const askCommand: Command = {
  name: "ask",
  summary: "answer a question from an index, citing the sections used",
  help: `Usage: slm ask --index INDEX [--model MODEL_DIR] [options] "question"

Retrieves the top sections for the question, and answers from them with
citations [1], [2] (source path and heading), or says "not found in the
documents" when the answer confidence is low. Without --model, the answer is
the extractive baseline: the sentence of the top sections that shares the most
rare words with the question, preferring one that holds the kind of answer
asked for (a number for "How many…", a day for "When…"). With a reader
(slm train-reader), the reader's choice, weighed with the baseline's.

Options:
${ASK_FLAGS_HELP}
  --json                  print the whole result (text, citations, sources, retrieval) as JSON
  --json-schema FILE      the model writes its answer as JSON valid against this JSON Schema (the
                          subset \`slm generate --json-schema\` takes); stdout is then that JSON alone,
                          citations go to stderr. Needs --model with a model that writes (not a
                          reader) and --decode free; "not found" exits 1 with no JSON

Examples:
  slm ask --index data/hb.index "How many days of annual leave do I get?"
  slm ask --model runs/hr/model --index data/hb.index --json "Who approves travel?"
  slm ask --model runs/hr/model --index data/hb.index --json-schema leave.schema.json "How many leave days?"`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v, positionals } = parse(argv, { ...ASK_FLAGS, json: { type: "boolean" }, "json-schema": { type: "string" } });
    const question = positionals.join(" ").trim();
    if (!question) throw new UsageError('pass the question as an argument: slm ask --index INDEX "question"');
    const jsonSchema = v["json-schema"] !== undefined ? schemaFromFlags(v["json-schema"], v) : undefined;
    const opts = answerOptionsFromFlags(v);
    try {
      const r = await answer(question, jsonSchema !== undefined ? { ...opts, jsonSchema } : opts);
      if (v.json) {
        ctx.out(JSON.stringify(r));
        return 0;
      }
      const status = `(${r.method}${r.method === "extractive" ? " baseline" : ""}, ${r.retrieval.mode} retrieval, confidence ${r.retrieval.confidence.toFixed(2)} vs ${r.retrieval.minConfidence}, ${r.ms.toFixed(0)} ms)`;
      if (jsonSchema !== undefined) {
        // stdout holds the JSON value alone, so it can be piped; everything else goes to stderr.
        if (r.notFound)
          throw new NotFoundError(
            `not found in the documents (answer confidence ${r.retrieval.confidence.toFixed(2)} below ${r.retrieval.minConfidence}): no answer to write as JSON`,
            { hint: "lower --min-confidence to answer anyway" },
          );
        ctx.out(r.text);
        for (const c of r.citations) ctx.err(`[${c.n}] ${c.sourcePath} — ${c.headingPath}`);
        ctx.err(status);
        return 0;
      }
      ctx.out(r.text);
      if (r.citations.length > 0) {
        ctx.out("");
        for (const c of r.citations) ctx.out(`[${c.n}] ${c.sourcePath} — ${c.headingPath}`);
      }
      ctx.err(status);
      return 0;
    } finally {
      opts.index.close();
    }
  },
};

/**
 * --json-schema FILE, read and compiled before anything loads: a UsageError for an unreadable
 * file, bad JSON or an unsupported keyword, and when no model would write the answer (the
 * extractive baseline, a reader, or copy decoding pick a sentence of the sources instead).
 */
function schemaFromFlags(path: string, v: AskValues): unknown {
  const picked = !v.model
    ? "without --model the extractive baseline answers with a sentence of the sources"
    : isReaderDir(v.model)
      ? `${v.model} is a reader: it picks a sentence of the sources`
      : (v.decode ?? "free") !== "free"
        ? `--decode ${v.decode} copies a sentence of the sources`
        : undefined;
  if (picked)
    throw new UsageError(`--json-schema constrains an answer the model writes, and ${picked}`, {
      hint: "pass --model with a model that writes (and --decode free, the default)",
    });
  const schema = readSchemaFile(path);
  compileSchema(schema);
  return schema;
}
