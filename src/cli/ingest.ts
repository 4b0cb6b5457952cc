// `slm ingest`: parses flags, runs the ingestion pipeline (src/data/ingest.ts)
// with a progress display, and prints a short summary (or JSON with --json).
// Exit codes: 0 (warnings are counted in the summary), 1 when nothing usable
// was read, 2 on usage errors. Knows nothing about how extraction works.
import { UsageError } from "../errors.ts";
import { ingest, type IngestOptions, type Manifest } from "../data/ingest.ts";
import { PII_KINDS, type PiiKind } from "../data/clean.ts";
import { loadTextTokenizer, trainTextTokenizer, type TextTokenizer, type TrainTokenizer } from "../data/tokenizer.ts";
import { intFlag, numFlag, parse, type Command, type CommandContext } from "./command.ts";
import { StatusLine, ingestProgressReporter } from "./progress.ts";

const HELP = `Usage: slm ingest <paths|globs…> --out DATASET [options]

Reads .md/.markdown, .txt, .html/.htm, .pdf, .docx, .json/.jsonl and .csv files
(directories recursively), extracts sections with heading paths, removes
boilerplate lines, short and garbage sections, exact and near duplicates,
optionally redacts PII, and writes DATASET/documents.jsonl + manifest.json
(+ train/val token shards when a tokenizer is given).

Options:
  --out DATASET              dataset directory to create (replaced if it exists)
  --tokenizer DIR            tokenize with this tokenizer (writes token shards)
  --vocab-size N             train a BPE tokenizer of N tokens on the cleaned text
  --val-fraction F           fraction of documents for validation (default 0.05)
  --seed N                   seed of the split and of MinHash (default 0)
  --text-field NAME          JSON/JSONL field with the text (default "text"; dots for nesting)
  --csv-column NAME          CSV column with the text (default "text")
  --redact KINDS             comma list of emails,phones,cards,ibans (or "all")
  --near-dup-threshold J     Jaccard similarity for near duplicates (default 0.8; 0 = off)
  --min-section-chars N      drop shorter sections (default 20)
  --min-doc-chars N          drop shorter documents (default 50)
  --min-text-ratio R         drop sections with fewer letters/digits/spaces (default 0.6)
  --boilerplate-min-docs N   a line in >= N documents… (default 3)
  --boilerplate-fraction F   …and in >= F of all documents is boilerplate (default 0.05)
  --max-section-chars N      split longer sections at paragraphs (default 4000)
  --max-file-mb N            skip larger files as "too large" (default 64)
  --cache DIR                incremental cache (default <parent of DATASET>/.slm-cache/<name>)
  --no-cache                 do not use or write the cache
  --json                     print the summary as JSON

Example:
  slm ingest ./handbook "./policies/**/*.pdf" --out data/handbook --redact emails,phones`;

/**
 * The single place where --tokenizer / --vocab-size become a tokenizer: a
 * loaded tokenizer.json, or a BPE trainer run on the cleaned training text.
 */
async function loadOrTrainTokenizer(o: {
  tokenizerDir?: string;
  vocabSize?: number;
}): Promise<{ tokenizer?: TextTokenizer; trainTokenizer?: TrainTokenizer; vocabSize?: number }> {
  if (o.tokenizerDir === undefined && o.vocabSize === undefined) return {};
  if (o.tokenizerDir !== undefined && o.vocabSize !== undefined) throw new UsageError("give either --tokenizer DIR or --vocab-size N, not both");
  if (o.tokenizerDir !== undefined) return { tokenizer: loadTextTokenizer(o.tokenizerDir) };
  return { trainTokenizer: trainTextTokenizer, vocabSize: o.vocabSize };
}

function parseRedact(v: string | undefined): PiiKind[] {
  if (v === undefined) return [];
  if (v === "all") return [...PII_KINDS];
  const kinds = v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const k of kinds)
    if (!PII_KINDS.includes(k as PiiKind)) throw new UsageError(`--redact: unknown kind "${k}" (choose from ${PII_KINDS.join(", ")}, or all)`);
  return kinds as PiiKind[];
}

const mb = (b: number) => (b / 1048576).toFixed(1);

function summary(m: Manifest, out: string, seconds: number): string {
  const c = m.counts;
  const lines = [`slm ingest: ${out}`, `  files: ${c.filesOk} read (${c.filesParsed} parsed, ${c.filesCached} from cache), ${c.filesSkipped} skipped`];
  const reasons = new Map<string, number>();
  for (const f of [...m.files.filter((f) => f.status === "skipped"), ...m.skipped]) {
    const r = (f.reason ?? "").replace(/ \(.*$/, "");
    reasons.set(r, (reasons.get(r) ?? 0) + 1);
  }
  for (const [r, n] of [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 8)) lines.push(`    ${n} × ${r}`);
  const rm = m.removals;
  lines.push(
    `  documents: ${c.documents} kept of ${c.documentsExtracted} (${c.trainDocuments} train, ${c.valDocuments} val), ${c.sections} sections, ${mb(m.bytes.text)} MB of text from ${mb(m.bytes.input)} MB`,
  );
  lines.push(`  duplicates removed: ${rm.exactDuplicateDocuments} exact, ${rm.nearDuplicateDocuments} near documents; ${rm.duplicateSections} sections`);
  lines.push(
    `  cleaned: ${rm.boilerplateLines} boilerplate lines (${m.boilerplateLineCount} distinct), ${rm.shortSections} short + ${rm.lowTextRatioSections} garbage sections, ${rm.shortDocuments} short documents`,
  );
  if (m.options.redact && (m.options.redact as string[]).length > 0)
    lines.push(`  redacted: ${m.pii.emails} emails, ${m.pii.phones} phones, ${m.pii.cards} cards, ${m.pii.ibans} IBANs`);
  lines.push(
    m.tokens
      ? `  tokens: ${m.tokens.train} train, ${m.tokens.val} val (${m.tokenizer?.dtype})`
      : "  tokens: none (no tokenizer given; documents.jsonl and manifest.json only)",
  );
  lines.push(`  ${c.warnings} warning(s); ${(m.bytes.input / 1048576 / Math.max(seconds, 1e-3)).toFixed(1)} MB/s over ${seconds.toFixed(1)} s`);
  return lines.join("\n");
}

export const ingestCommand: Command = {
  name: "ingest",
  summary: "Turn documents (md, txt, html, pdf, docx, json, csv) into a cleaned dataset",
  help: HELP,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v, positionals } = parse(argv, {
      out: { type: "string" },
      tokenizer: { type: "string" },
      "vocab-size": { type: "string" },
      "val-fraction": { type: "string" },
      seed: { type: "string" },
      "text-field": { type: "string" },
      "csv-column": { type: "string" },
      redact: { type: "string" },
      "near-dup-threshold": { type: "string" },
      "min-section-chars": { type: "string" },
      "min-doc-chars": { type: "string" },
      "min-text-ratio": { type: "string" },
      "boilerplate-min-docs": { type: "string" },
      "boilerplate-fraction": { type: "string" },
      "max-section-chars": { type: "string" },
      "max-file-mb": { type: "string" },
      cache: { type: "string" },
      "no-cache": { type: "boolean" },
      json: { type: "boolean" },
    });
    if (positionals.length === 0) throw new UsageError("no inputs: give files, directories or globs", { hint: "slm ingest ./docs --out data/docs" });
    if (!v.out) throw new UsageError("--out DATASET is required");
    if (v.cache !== undefined && v["no-cache"]) throw new UsageError("--cache and --no-cache contradict each other");
    const tok = await loadOrTrainTokenizer({
      tokenizerDir: v.tokenizer,
      vocabSize: v["vocab-size"] === undefined ? undefined : intFlag("vocab-size", v["vocab-size"], 0, 2),
    });
    const opts: IngestOptions = {
      inputs: positionals,
      out: v.out,
      ...tok,
      valFraction: numFlag("val-fraction", v["val-fraction"], 0, 0.99) ?? 0.05,
      seed: intFlag("seed", v.seed, 0, 0),
      textField: v["text-field"],
      csvColumn: v["csv-column"],
      redact: parseRedact(v.redact),
      nearDupThreshold: numFlag("near-dup-threshold", v["near-dup-threshold"], 0, 1) ?? 0.8,
      minSectionChars: intFlag("min-section-chars", v["min-section-chars"], 20, 0),
      minDocChars: intFlag("min-doc-chars", v["min-doc-chars"], 50, 0),
      minTextRatio: numFlag("min-text-ratio", v["min-text-ratio"], 0, 1) ?? 0.6,
      boilerplateMinDocs: intFlag("boilerplate-min-docs", v["boilerplate-min-docs"], 3, 1),
      boilerplateMinFraction: numFlag("boilerplate-fraction", v["boilerplate-fraction"], 0, 1) ?? 0.05,
      maxSectionChars: intFlag("max-section-chars", v["max-section-chars"], 4000, 100),
      maxFileBytes: intFlag("max-file-mb", v["max-file-mb"], 64, 1) * 1048576,
      cacheDir: v["no-cache"] ? null : v.cache,
    };
    const line = new StatusLine(ctx);
    if (!v.json) Object.assign(opts, ingestProgressReporter(line, ctx.tty));
    const t0 = Date.now();
    const m = await ingest(opts);
    line.clear();
    const seconds = (Date.now() - t0) / 1000;
    if (v.json) {
      const { files, duplicates, split, skipped, ...rest } = m;
      const skips = [...files.filter((f) => f.status === "skipped").map((f) => ({ source: f.source, reason: f.reason })), ...skipped];
      ctx.out(JSON.stringify({ ...rest, skipped: skips, duplicates: duplicates.length, valDocuments: split.val.length, seconds }));
    } else ctx.out(summary(m, v.out, seconds));
    if (m.counts.documents === 0) {
      ctx.err(`slm ingest: nothing usable was read from ${positionals.join(" ")} (see ${v.out}/manifest.json for the reasons)`);
      return 1;
    }
    return 0;
  },
};
