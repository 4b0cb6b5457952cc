// `slm eval qa`: question-answering evaluation of the assistant over an
// index: retrieval recall@1/3/5 (BM25, vectors, hybrid), answer accuracy by
// normalised match, citation correctness, "not found" rates, latency; a JSON
// summary and an HTML report with plots. Thin: src/eval/qa.ts and report.ts.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

import { UsageError } from "../errors.ts";
import { readQaFile, runQa, type QaItem } from "../eval/qa.ts";
import { lossCurvesFromMetrics, qaReportHtml } from "../eval/report.ts";
import { writeFileAtomicSync } from "../util/atomic.ts";
import { ASK_FLAGS, ASK_FLAGS_HELP, answerOptionsFromFlags } from "./ask-flags.ts";
import { parse, type Command, type CommandContext } from "./command.ts";
import { embedderFor } from "../assistant/open-embedder.ts";

const pct = (x: number | null) => (x === null ? "–" : `${(x * 100).toFixed(1)}%`);

export const evalQaCommand: Command = {
  name: "eval qa",
  summary: "question answering over an index: recall@k, accuracy, citations, not-found rate, latency",
  help: `Usage: slm eval qa --index INDEX --questions QA.jsonl [--unanswerable U.jsonl] [--model MODEL_DIR] [--out DIR] [--json]

Runs every question of QA.jsonl (lines: {"question","answer","answer_aliases",
"source_path"}) through retrieval and answering. Measures retrieval recall@1/3/5
(a section of source_path among the top k) for BM25, vectors and hybrid; answer
accuracy (the normalised answer or an alias appears in the normalised output);
citation correctness (the answer cites source_path); the share of answerable
questions wrongly answered "not found", and, with --unanswerable, the share of
unanswerable questions answered "not found"; latency per answer. Without
--model the extractive baseline answers.

Options:
${ASK_FLAGS_HELP}
  --questions FILE        answerable questions (JSONL)
  --unanswerable FILE     questions the documents do not answer (JSONL, "question" only)
  --out DIR               write DIR/report.html, DIR/summary.json and DIR/records.jsonl
  --metrics FILE          training metrics.jsonl for the loss plot (default: beside the model directory)
  --json                  print the summary as one JSON object

Example:
  slm eval qa --index data/18f.index --questions examples/qa/18f-handbook.jsonl \\
    --unanswerable examples/qa/18f-unanswerable.jsonl --out reports/18f-baseline`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(
      argv,
      {
        ...ASK_FLAGS,
        questions: { type: "string" },
        unanswerable: { type: "string" },
        out: { type: "string" },
        metrics: { type: "string" },
        json: { type: "boolean" },
      },
      false,
    );
    if (!v.questions) throw new UsageError("--questions QA.jsonl is required");
    const items = readQaFile(v.questions);
    const un: QaItem[] = v.unanswerable ? readQaFile(v.unanswerable, { unanswerable: true }) : [];
    const opts = answerOptionsFromFlags(v);
    try {
      // Recall is measured for every retrieval mode the index supports, whichever one answers.
      if (!opts.embedder) {
        try {
          opts.embedder = embedderFor(opts.index.info.embedder, v["embed-model"]);
        } catch (e) {
          if (!v.json) ctx.err(`recall for BM25 only: the index's embedder cannot be loaded (${(e as Error).message})`);
        }
      }
      let lastLog = performance.now();
      const res = await runQa(items, un, {
        ...opts,
        onProgress: (done, total) => {
          if (v.json || performance.now() - lastLog < 5000) return;
          lastLog = performance.now();
          ctx.err(`${done}/${total} questions`);
        },
      });
      const s = res.summary;
      if (v.out) {
        mkdirSync(v.out, { recursive: true });
        const metricsPath = v.metrics ?? (v.model ? join(dirname(resolve(v.model)), "metrics.jsonl") : null);
        const metrics = metricsPath && existsSync(metricsPath) ? lossCurvesFromMetrics(metricsPath) : null;
        const title = `QA evaluation — ${v.model ? v.model : "extractive baseline"}`;
        writeFileAtomicSync(
          join(v.out, "report.html"),
          qaReportHtml(res, { title, model: v.model ?? null, index: v.index!, questions: v.questions, unanswerable: v.unanswerable ?? null, metrics }),
        );
        writeFileAtomicSync(
          join(v.out, "summary.json"),
          JSON.stringify({ model: v.model ?? null, index: v.index, questionsFile: v.questions, unanswerableFile: v.unanswerable ?? null, ...s }, null, 2) +
            "\n",
        );
        writeFileSync(
          join(v.out, "records.jsonl"),
          `${[...res.records, ...res.unanswerable.map((r) => ({ ...r, unanswerable: true }))].map((r) => JSON.stringify(r)).join("\n")}\n`,
        );
      }
      if (v.json) {
        ctx.out(JSON.stringify(s));
        return 0;
      }
      ctx.out(`${s.questions} questions, ${s.method}${s.method === "extractive" ? " baseline" : ""} answers, ${s.answerMode} retrieval`);
      for (const [m, r] of Object.entries(s.recall)) ctx.out(`  recall ${m.padEnd(6)} @1 ${pct(r["@1"]!)}  @3 ${pct(r["@3"]!)}  @5 ${pct(r["@5"]!)}`);
      ctx.out(`  accuracy ${pct(s.accuracy)}  citations correct ${pct(s.citationCorrect)}  answerable said not-found ${pct(s.falseNotFound)}`);
      if (s.unanswerable) ctx.out(`  unanswerable: ${pct(s.unanswerable.notFoundRate)} of ${s.unanswerable.questions} answered "not found"`);
      ctx.out(`  latency mean ${s.latencyMs.mean.toFixed(0)} ms, p95 ${s.latencyMs.p95.toFixed(0)} ms`);
      if (v.out) ctx.out(`  report: ${join(v.out, "report.html")}`);
      return 0;
    } finally {
      opts.index.close();
    }
  },
};
