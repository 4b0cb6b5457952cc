// The HTML report: charts are inline SVG with one bar per value and heights
// proportional to the values, text is escaped, loss curves come from
// metrics.jsonl, and the QA page carries the summary and every question.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import type { QaResult } from "./qa.ts";
import { barChartSvg, escapeHtml, lineChartSvg, lossCurvesFromMetrics, qaReportHtml } from "./report.ts";

test("barChartSvg: one rect per value (plus legend), heights proportional", () => {
  const svg = barChartSvg(
    "T <1>",
    ["a", "b"],
    [
      { label: "g1", values: [0.5, 1] },
      { label: "g2", values: [0.25, 0] },
    ],
    { max: 1, percent: true },
  );
  assert.ok(svg.startsWith("<svg") && svg.endsWith("</svg>"));
  assert.ok(svg.includes("T &lt;1&gt;") && !svg.includes("T <1>"));
  const bars = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)" fill="[^"]+"><title>/g)].map((m) => Number(m[1]));
  assert.equal(bars.length, 4);
  assert.ok(Math.abs(bars[0]! * 2 - bars[1]!) < 0.2 && Math.abs(bars[2]! * 4 - bars[1]!) < 0.2 && bars[3] === 0);
  assert.ok(svg.includes(">50%<") && svg.includes(">100%<"));
});

test("lineChartSvg and lossCurvesFromMetrics read step and eval lines, skipping a torn last line", () => {
  const dir = mkdtempSync(join(tmpdir(), "slm-report-"));
  try {
    const p = join(dir, "metrics.jsonl");
    writeFileSync(
      p,
      ['{"type":"step","step":1,"loss":5}', '{"type":"step","step":2,"loss":4}', '{"type":"eval","step":2,"valLoss":4.5}', '{"type":"st'].join("\n"),
    );
    const s = lossCurvesFromMetrics(p)!;
    assert.deepEqual(
      s.map((x) => [x.name, x.points]),
      [
        [
          "train loss",
          [
            [1, 5],
            [2, 4],
          ],
        ],
        ["val loss", [[2, 4.5]]],
      ],
    );
    const svg = lineChartSvg("loss", s, { xLabel: "step" });
    assert.equal([...svg.matchAll(/<path d="M/g)].length, 2);
    assert.equal(lossCurvesFromMetrics(join(dir, "none.jsonl")), null);
    assert.match(lineChartSvg("empty", []), /no data/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("qaReportHtml: a self-contained page with summary, charts and escaped questions", () => {
  const res: QaResult = {
    summary: {
      questions: 1,
      recall: { bm25: { "@1": 1, "@3": 1, "@5": 1 } },
      answerMode: "bm25",
      method: "extractive",
      accuracy: 1,
      falseNotFound: 0,
      citationCorrect: 1,
      latencyMs: { mean: 3, p50: 3, p95: 3 },
      unanswerable: { questions: 1, notFoundRate: 1 },
      minConfidence: 0.65,
    },
    records: [
      {
        id: "q1",
        question: "Is <b>x</b> & y?",
        gold: "yes",
        goldRank: { bm25: 1 },
        answer: "yes [1]",
        correct: true,
        notFound: false,
        citesGold: true,
        confidence: 1,
        ms: 3,
        citations: [{ n: 1, sourcePath: "a.md", headingPath: "A › B" }],
      },
    ],
    unanswerable: [{ id: "u1", question: "Sabbatical?", answer: "Not found in the documents.", notFound: true, confidence: 0.1, ms: 2 }],
  };
  const html = qaReportHtml(res, { title: "QA", model: null, index: "i.index", questions: "q.jsonl", unanswerable: "u.jsonl" });
  assert.ok(html.startsWith("<!doctype html>"));
  assert.ok(!/<script|https?:\/\/(?!www\.w3\.org)/.test(html), "no scripts or external assets");
  assert.equal([...html.matchAll(/<svg /g)].length, 2);
  assert.ok(html.includes("Is &lt;b&gt;x&lt;/b&gt; &amp; y?"));
  assert.ok(html.includes("[1] a.md — A › B"));
  assert.ok(html.includes("Sabbatical?"));
  assert.equal(escapeHtml(`"'`), "&quot;&#39;");
});
