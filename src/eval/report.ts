// HTML reports with inline SVG plots (no scripts, no external assets): bar
// charts (grouped), line charts (loss curves from a run's metrics.jsonl), and
// the QA report built from them plus per-question tables. Everything is
// escaped. Knows nothing about how the figures were measured.
import { existsSync } from "node:fs";

import { readJsonl } from "../util/jsonl.ts";
import type { QaResult } from "./qa.ts";

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

const COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"];

export interface BarGroup {
  label: string;
  /** One value per series. */
  values: number[];
}

/** A grouped bar chart; values in [0, max] (default max 1, shown as percentages when percent). */
export function barChartSvg(
  title: string,
  series: string[],
  groups: BarGroup[],
  opts: { max?: number; percent?: boolean; width?: number; height?: number } = {},
): string {
  const W = opts.width ?? 560,
    H = opts.height ?? 260,
    L = 44,
    R = 12,
    T = 28,
    B = 44;
  const max = opts.max ?? Math.max(1e-9, ...groups.flatMap((g) => g.values));
  const pw = W - L - R,
    ph = H - T - B;
  const gw = pw / Math.max(1, groups.length);
  const bw = Math.max(2, (gw * 0.8) / Math.max(1, series.length));
  const fmt = (v: number) => (opts.percent ? `${(v * 100).toFixed(0)}%` : v >= 100 ? v.toFixed(0) : v.toPrecision(3));
  const parts: string[] = [];
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeHtml(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const y = T + ph - (ph * i) / 4;
    parts.push(
      `<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${L - 4}" y="${y + 4}" text-anchor="end" font-size="10">${fmt((max * i) / 4)}</text>`,
    );
  }
  groups.forEach((g, gi) => {
    const x0 = L + gi * gw + gw * 0.1;
    g.values.forEach((v, si) => {
      const h = Math.max(0, Math.min(1, v / max)) * ph;
      const x = x0 + si * bw,
        y = T + ph - h;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${escapeHtml(`${g.label} ${series[si] ?? ""}: ${fmt(v)}`)}</title></rect>`,
      );
      parts.push(`<text x="${(x + bw / 2).toFixed(1)}" y="${(y - 2).toFixed(1)}" text-anchor="middle" font-size="9">${fmt(v)}</text>`);
    });
    parts.push(`<text x="${(L + gi * gw + gw / 2).toFixed(1)}" y="${H - B + 14}" text-anchor="middle" font-size="11">${escapeHtml(g.label)}</text>`);
  });
  series.forEach((s, si) => {
    const x = L + si * 110;
    parts.push(
      `<rect x="${x}" y="${H - 14}" width="10" height="10" fill="${COLORS[si % COLORS.length]}"/><text x="${x + 14}" y="${H - 5}" font-size="11">${escapeHtml(s)}</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}">${parts.join("")}</svg>`;
}

export interface LineSeries {
  name: string;
  points: [number, number][];
}

/** A line chart of one or more series (x: e.g. step, y: e.g. loss). */
export function lineChartSvg(title: string, series: LineSeries[], opts: { xLabel?: string; yLabel?: string; width?: number; height?: number } = {}): string {
  const W = opts.width ?? 560,
    H = opts.height ?? 260,
    L = 48,
    R = 12,
    T = 28,
    B = 40;
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pts.length === 0) return `<p>${escapeHtml(title)}: no data</p>`;
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) {
    y1 += 0.5;
    y0 -= 0.5;
  }
  const sx = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const parts: string[] = [`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeHtml(title)}</text>`];
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    parts.push(
      `<line x1="${L}" x2="${W - R}" y1="${sy(y).toFixed(1)}" y2="${sy(y).toFixed(1)}" stroke="#ddd"/><text x="${L - 4}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end" font-size="10">${y.toPrecision(3)}</text>`,
    );
    const x = x0 + ((x1 - x0) * i) / 4;
    parts.push(`<text x="${sx(x).toFixed(1)}" y="${H - B + 14}" text-anchor="middle" font-size="10">${Math.round(x)}</text>`);
  }
  if (opts.xLabel) parts.push(`<text x="${W / 2}" y="${H - 12}" text-anchor="middle" font-size="11">${escapeHtml(opts.xLabel)}</text>`);
  series.forEach((s, si) => {
    const d = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join("");
    parts.push(`<path d="${d}" fill="none" stroke="${COLORS[si % COLORS.length]}" stroke-width="1.5"/>`);
    parts.push(
      `<rect x="${L + 8 + si * 120}" y="${T + 2}" width="10" height="10" fill="${COLORS[si % COLORS.length]}"/><text x="${L + 22 + si * 120}" y="${T + 11}" font-size="11">${escapeHtml(s.name)}</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}">${parts.join("")}</svg>`;
}

/** Training and validation loss curves from a run's metrics.jsonl (null when absent or empty). */
export function lossCurvesFromMetrics(path: string): LineSeries[] | null {
  if (!existsSync(path)) return null;
  const train: [number, number][] = [],
    val: [number, number][] = [];
  // invalid: "skip": a torn last line of a running job is skipped.
  readJsonl(
    path,
    (v) => {
      const r = (v ?? {}) as { type?: unknown; step: number; loss?: unknown; valLoss?: unknown };
      if (r.type === "step" && typeof r.loss === "number") train.push([r.step, r.loss]);
      if (r.type === "eval" && typeof r.valLoss === "number") val.push([r.step, r.valLoss]);
    },
    { invalid: "skip" },
  );
  if (train.length === 0 && val.length === 0) return null;
  return [
    { name: "train loss", points: train },
    { name: "val loss", points: val },
  ].filter((s) => s.points.length > 0);
}

function htmlPage(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1000px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.ok{color:#1a7f37}.bad{color:#c0392b}.muted{color:#777}svg{margin:.5em 1em .5em 0}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>\n`;
}

const pct = (x: number | null) => (x === null ? "–" : `${(x * 100).toFixed(1)}%`);

/** The QA report: summary, recall@k chart, accuracy chart, optional loss curves, per-question tables. */
export function qaReportHtml(
  res: QaResult,
  meta: { title: string; model: string | null; index: string; questions: string; unanswerable?: string | null; metrics?: LineSeries[] | null },
): string {
  const s = res.summary;
  const modes = Object.keys(s.recall);
  const parts: string[] = [];
  parts.push(
    `<p>Model: <b>${escapeHtml(meta.model ?? "none — extractive baseline (best-matching sentence of the top sections)")}</b><br>Index: ${escapeHtml(meta.index)}<br>Questions: ${escapeHtml(meta.questions)} (${s.questions})${meta.unanswerable ? `<br>Unanswerable: ${escapeHtml(meta.unanswerable)} (${s.unanswerable?.questions ?? 0})` : ""}</p>`,
  );
  parts.push(`<table><tr><th>metric</th><th>value</th></tr>
<tr><td>answer accuracy (${escapeHtml(s.method)}, ${escapeHtml(s.answerMode)} retrieval)</td><td>${pct(s.accuracy)}</td></tr>
<tr><td>answerable questions answered "not found"</td><td>${pct(s.falseNotFound)}</td></tr>
<tr><td>citation correctness (cites the gold file)</td><td>${pct(s.citationCorrect)}</td></tr>
<tr><td>unanswerable questions answered "not found"</td><td>${s.unanswerable ? pct(s.unanswerable.notFoundRate) : "–"}</td></tr>
<tr><td>latency mean / p50 / p95</td><td>${s.latencyMs.mean.toFixed(0)} / ${s.latencyMs.p50.toFixed(0)} / ${s.latencyMs.p95.toFixed(0)} ms</td></tr>
<tr><td>confidence threshold</td><td>${s.minConfidence}</td></tr>
${modes.map((m) => `<tr><td>recall ${escapeHtml(m)} @1 / @3 / @5</td><td>${["@1", "@3", "@5"].map((k) => pct(s.recall[m as keyof typeof s.recall]![k] ?? 0)).join(" / ")}</td></tr>`).join("\n")}
</table>`);
  parts.push(
    barChartSvg(
      "Retrieval recall@k (gold file in top k)",
      modes,
      ["@1", "@3", "@5"].map((k) => ({ label: `recall${k}`, values: modes.map((m) => s.recall[m as keyof typeof s.recall]![k] ?? 0) })),
      { max: 1, percent: true },
    ),
  );
  const accGroups = [
    { label: "accuracy", values: [s.accuracy] },
    { label: "cites gold", values: [s.citationCorrect ?? 0] },
    { label: "false not-found", values: [s.falseNotFound] },
  ];
  if (s.unanswerable) accGroups.push({ label: "unanswerable → not found", values: [s.unanswerable.notFoundRate] });
  parts.push(barChartSvg("Answers", [s.method], accGroups, { max: 1, percent: true }));
  if (meta.metrics && meta.metrics.length > 0) parts.push(lineChartSvg("Training loss (metrics.jsonl)", meta.metrics, { xLabel: "step" }));
  parts.push(`<h2>Answerable questions</h2><table><tr><th>id</th><th>question</th><th>gold</th><th>answer</th><th>ok</th><th>gold rank ${modes.map(escapeHtml).join("/")}</th><th>conf.</th></tr>
${res.records.map((r) => `<tr><td>${escapeHtml(r.id)}</td><td>${escapeHtml(r.question)}</td><td>${escapeHtml(r.gold)}</td><td>${escapeHtml(r.answer)}${r.citations.map((c) => `<br><span class="muted">[${c.n}] ${escapeHtml(c.sourcePath)} — ${escapeHtml(c.headingPath)}</span>`).join("")}</td><td class="${r.correct ? "ok" : "bad"}">${r.correct ? "yes" : "no"}</td><td>${modes.map((m) => r.goldRank[m as keyof typeof r.goldRank] ?? "–").join(" / ")}</td><td>${r.confidence.toFixed(2)}</td></tr>`).join("\n")}</table>`);
  if (res.unanswerable.length > 0) {
    parts.push(`<h2>Unanswerable questions</h2><table><tr><th>id</th><th>question</th><th>answer</th><th>not found</th><th>conf.</th></tr>
${res.unanswerable.map((r) => `<tr><td>${escapeHtml(r.id)}</td><td>${escapeHtml(r.question)}</td><td>${escapeHtml(r.answer)}</td><td class="${r.notFound ? "ok" : "bad"}">${r.notFound ? "yes" : "no"}</td><td>${r.confidence.toFixed(2)}</td></tr>`).join("\n")}</table>`);
  }
  return htmlPage(meta.title, parts.join("\n"));
}

/** The comparison report: one table row per model, bar charts of accuracy, bits per byte and speed. */
export function compareReportHtml(
  rows: readonly CompareRowLike[],
  meta: { title: string; index: string; questions: string; dataset: string | null; metrics?: { name: string; series: LineSeries[] }[] },
): string {
  const parts: string[] = [];
  parts.push(
    `<p>Index: ${escapeHtml(meta.index)}<br>Questions: ${escapeHtml(meta.questions)}<br>Domain text: ${escapeHtml(meta.dataset ?? "none (no --data)")}</p>`,
  );
  parts.push(`<table><tr><th>model</th><th>parameters</th><th>weights (f32)</th><th>bits/byte</th><th>perplexity/token</th><th>QA accuracy</th><th>recall@3 (${escapeHtml(rows[0]?.qa.answerMode ?? "")})</th><th>cites gold</th><th>unanswerable → not found</th><th>answer latency p50</th><th>decode tokens/s</th></tr>
${rows.map((r) => `<tr><td>${escapeHtml(r.name)}</td><td>${(r.params / 1e6).toFixed(2)}M</td><td>${r.weightsMB.toFixed(1)} MB</td><td>${r.domain ? r.domain.bitsPerByte.toFixed(3) : "–"}</td><td>${r.domain ? r.domain.perplexity.toFixed(1) : "–"}</td><td>${pct(r.qa.accuracy)}</td><td>${pct(r.qa.recall[r.qa.answerMode]?.["@3"] ?? null)}</td><td>${pct(r.qa.citationCorrect)}</td><td>${r.qa.unanswerable ? pct(r.qa.unanswerable.notFoundRate) : "–"}</td><td>${r.qa.latencyMs.p50.toFixed(0)} ms</td><td>${r.tokensPerSecond.toFixed(1)}</td></tr>`).join("\n")}</table>`);
  const names = rows.map((r) => r.name);
  parts.push(
    barChartSvg(
      "QA accuracy",
      names,
      [
        { label: "accuracy", values: rows.map((r) => r.qa.accuracy) },
        { label: "cites gold", values: rows.map((r) => r.qa.citationCorrect ?? 0) },
      ],
      { max: 1, percent: true },
    ),
  );
  if (rows.every((r) => r.domain))
    parts.push(barChartSvg("Domain bits per byte (lower is better)", names, [{ label: "bits/byte", values: rows.map((r) => r.domain!.bitsPerByte) }]));
  parts.push(barChartSvg("Decode speed (tokens/s)", names, [{ label: "tokens/s", values: rows.map((r) => r.tokensPerSecond) }]));
  for (const m of meta.metrics ?? []) parts.push(lineChartSvg(`Training loss — ${m.name}`, m.series, { xLabel: "step" }));
  return htmlPage(meta.title, parts.join("\n"));
}

/** The fields of a comparison row the report shows (src/eval/compare.ts CompareRow). */
export interface CompareRowLike {
  name: string;
  params: number;
  weightsMB: number;
  domain: null | { bitsPerByte: number; perplexity: number; tokens: number };
  qa: QaResult["summary"];
  tokensPerSecond: number;
}
