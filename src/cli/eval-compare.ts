// `slm eval compare`: several models side by side on one domain (e.g. a
// general model vs the specialist): domain bits per byte and perplexity, QA
// accuracy and citations over an index, parameters, weight memory, decode
// speed; a JSON summary and an HTML report. Thin: src/eval/compare.ts.
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

import { UsageError } from "../errors.ts";
import { compareModels, validationTexts, type CompareEntry } from "../eval/compare.ts";
import { readQaFile, type QaItem } from "../eval/qa.ts";
import { compareReportHtml, lossCurvesFromMetrics } from "../eval/report.ts";
import { writeFileAtomicSync } from "../util/atomic.ts";
import { loadModel, stopTokenIds } from "../formats/hf-dir.ts";
import { ASK_FLAGS, ASK_FLAGS_HELP, answerOptionsFromFlags } from "./ask-flags.ts";
import { intFlag, parse, type Command, type CommandContext } from "./command.ts";

const pct = (x: number | null) => (x === null ? "–" : `${(x * 100).toFixed(1)}%`);

export const evalCompareCommand: Command = {
  name: "eval compare",
  summary: "compare models side by side: domain bits/byte, QA accuracy, size, speed",
  help: `Usage: slm eval compare --model A --model B [...] --index INDEX --questions QA.jsonl [--data DATASET] [options]

Evaluates each model on the same questions and index (as \`slm eval qa\` with
--model), on the held-out documents of DATASET (bits per byte with each
model's own tokenizer, so different vocabularies compare fairly), and measures
parameters, float32 weight memory and greedy decode speed.

Options:
  --model DIR             a model directory (repeat; at least one)
  --data DATASET          dataset whose validation documents give the domain bits/byte
  --questions FILE        answerable questions (JSONL)
  --unanswerable FILE     unanswerable questions (JSONL)
  --eval-tokens N         most tokens scored for bits/byte per model (default 16384)
${ASK_FLAGS_HELP.split("\n")
  .filter((l) => !l.includes("--model MODEL_DIR"))
  .join("\n")}
  --out DIR               write DIR/report.html and DIR/summary.json
  --json                  print the rows as one JSON array

Example:
  slm eval compare --model runs/general/model --model runs/hr-sft/model \\
    --data data/18f --index data/18f.index --questions examples/qa/18f-handbook.jsonl --out reports/compare`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(
      argv,
      {
        ...ASK_FLAGS,
        model: { type: "string", multiple: true },
        data: { type: "string" },
        questions: { type: "string" },
        unanswerable: { type: "string" },
        "eval-tokens": { type: "string" },
        out: { type: "string" },
        json: { type: "boolean" },
      },
      false,
    );
    const models = v.model ?? [];
    if (models.length === 0) throw new UsageError("pass at least one --model MODEL_DIR");
    if (!v.questions) throw new UsageError("--questions QA.jsonl is required");
    const evalTokens = intFlag("eval-tokens", v["eval-tokens"], 16384);
    const items = readQaFile(v.questions);
    const un: QaItem[] = v.unanswerable ? readQaFile(v.unanswerable, { unanswerable: true }) : [];
    const valTexts = v.data ? validationTexts(v.data) : undefined;
    // The index, embedder and answer settings; the models are loaded one by one below.
    const opts = answerOptionsFromFlags({ ...v, model: undefined });
    try {
      const entries: CompareEntry[] = models.map((p) => {
        const m = loadModel(p);
        if (!m.tokenizer) throw new UsageError(`${p} has no tokenizer; answering needs one`);
        return { name: p, model: m.model, tokenizer: m.tokenizer, stopTokenIds: stopTokenIds(m, true) };
      });
      const rows = await compareModels(
        entries,
        { items, unanswerable: un, options: opts },
        {
          ...(valTexts ? { valTexts } : {}),
          maxTokens: evalTokens,
          onModel: (name) => {
            if (!v.json) ctx.err(`evaluating ${name}…`);
          },
        },
      );
      if (v.out) {
        mkdirSync(v.out, { recursive: true });
        const metrics = models.flatMap((p) => {
          const mp = join(dirname(resolve(p)), "metrics.jsonl");
          const s = existsSync(mp) ? lossCurvesFromMetrics(mp) : null;
          return s ? [{ name: p, series: s }] : [];
        });
        writeFileAtomicSync(
          join(v.out, "report.html"),
          compareReportHtml(rows, { title: "Model comparison", index: v.index!, questions: v.questions, dataset: v.data ?? null, metrics }),
        );
        writeFileAtomicSync(
          join(v.out, "summary.json"),
          `${JSON.stringify({ index: v.index, questionsFile: v.questions, dataset: v.data ?? null, rows }, null, 2)}\n`,
        );
      }
      if (v.json) {
        ctx.out(JSON.stringify(rows));
        return 0;
      }
      for (const r of rows) {
        ctx.out(
          `${r.name}: ${(r.params / 1e6).toFixed(2)}M params, ${r.weightsMB.toFixed(1)} MB, ${r.domain ? `${r.domain.bitsPerByte.toFixed(3)} bits/byte, ` : ""}QA accuracy ${pct(r.qa.accuracy)}, cites gold ${pct(r.qa.citationCorrect)}${r.qa.unanswerable ? `, unanswerable not-found ${pct(r.qa.unanswerable.notFoundRate)}` : ""}, ${r.tokensPerSecond.toFixed(1)} tokens/s`,
        );
      }
      if (v.out) ctx.out(`report: ${join(v.out, "report.html")}`);
      return 0;
    } finally {
      opts.index.close();
    }
  },
};
