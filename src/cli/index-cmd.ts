// `slm index DATASET --out INDEX`: builds the assistant's section index
// (SQLite: FTS5 for BM25, sqlite-vec vectors) from a dataset made by
// `slm ingest`. Vectors come from a model's mean-pooled hidden states
// (--embed-model) or, by default, from the model-free hashed embedder.
// Thin: the index itself is src/assistant/index-db.ts.
import { UsageError } from "../errors.ts";
import { HashEmbedder } from "../assistant/embed.ts";
import { modelEmbedder } from "../assistant/open-embedder.ts";
import { buildIndex } from "../assistant/index-db.ts";
import { intFlag, parse, type Command, type CommandContext } from "./command.ts";
import { formatDuration } from "./format.ts";

export const indexCommand: Command = {
  name: "index",
  summary: "build a retrieval index (BM25 + vectors) over a dataset's sections",
  help: `Usage: slm index DATASET --out INDEX [--embed-model MODEL_DIR | --dim N] [--json]

Reads DATASET/documents.jsonl (made by \`slm ingest\`) and writes one SQLite
file INDEX: the sections with their provenance, an FTS5 table for BM25
(heading path and file path words weighted x2), a second one of passages
(every run of 3 sentences of a section, so that an answer deep in a long
section is found), and a vector per section (sqlite-vec) for
\`--retrieval hybrid\`. \`slm ask\`, \`slm eval qa\` and \`slm serve --index\`
read it; BM25 answers by default.

Options:
  --out INDEX              index file to write (replaced atomically)
  --embed-model MODEL_DIR  vectors are the model's mean-pooled hidden states
  --dim N                  dimension of the default hashed embedder (default 512)
  --json                   print the index info as JSON

Example:
  slm ingest ./handbook --out data/hb && slm index data/hb --out data/hb.index`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v, positionals } = parse(argv, {
      out: { type: "string" },
      "embed-model": { type: "string" },
      dim: { type: "string" },
      json: { type: "boolean" },
    });
    if (positionals.length !== 1) throw new UsageError("pass exactly one DATASET directory (made by `slm ingest`)");
    if (!v.out) throw new UsageError("--out INDEX is required");
    if (v["embed-model"] && v.dim) throw new UsageError("--dim applies to the hashed embedder; a model's vectors have its own width");
    const embedder = v["embed-model"] ? modelEmbedder(v["embed-model"]) : new HashEmbedder(intFlag("dim", v.dim, 512, 8));
    const t0 = performance.now();
    let lastLog = 0;
    const info = buildIndex({
      dataset: positionals[0]!,
      out: v.out,
      embedder,
      onProgress: (done, total) => {
        if (v.json || performance.now() - lastLog < 2000) return;
        lastLog = performance.now();
        ctx.err(`embedding ${done}/${total} sections`);
      },
    });
    if (v.json) ctx.out(JSON.stringify({ ...info, path: v.out, seconds: (performance.now() - t0) / 1000 }));
    else
      ctx.out(
        `indexed ${info.sections} sections of ${info.documents} documents into ${v.out} (${info.embedder.kind} vectors, ${info.embedder.dim} dims) in ${formatDuration(performance.now() - t0)}`,
      );
    return 0;
  },
};
