// The ingestion pipeline end to end on corpora built here: every format,
// planted boilerplate, exact and near duplicates and PII; bad inputs that must
// be skipped with a reason; the incremental cache; the 18F handbook when
// ../shared is present. The tokenizer is a byte-level stand-in defined below.
import assert from "node:assert/strict";
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";

import { ingest, type IngestIO, type Manifest, type SectionRow } from "./ingest.ts";
import { ShardSet } from "./shards.ts";
import { makeDocx, makePdf, sharedDir } from "./testing.ts";
import type { TextTokenizer } from "./tokenizer.ts";

/** Stand-in tokenizer: UTF-8 bytes are ids 0..255, 256 is EOS. */
const byteTokenizer: TextTokenizer & { saved: string[] } = {
  vocabSize: 257,
  eosId: 256,
  saved: [],
  encode: (text: string) => Array.from(Buffer.from(text, "utf8")),
  save(dir: string) {
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify({ kind: "bytes" }));
    this.saved.push(dir);
  },
};

const root = mkdtempSync(join(tmpdir(), "slm-ingest-"));
after(() => {
  if (!process.env.KEEP) rmSync(root, { recursive: true, force: true });
});

function put(path: string, content: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

function rows(dataset: string): SectionRow[] {
  return readFileSync(join(dataset, "documents.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l)
    .map((l) => JSON.parse(l) as SectionRow);
}

const FOOTER = "Copyright 2024 Example Corp. All rights reserved.";
const lorem = (seed: string, n: number) =>
  Array.from(
    { length: n },
    (_, i) => `${seed} sentence ${i} explains how staff ${["plan", "book", "track", "report", "review"][i % 5]} their work with care and detail.`,
  ).join(" ");

const BENEFITS = `---
title: Benefits
redirect_from:
  - /benefits/
---

Employees get a range of benefits. ${lorem("Intro", 6)}

## Time off

You earn annual leave every pay period. ${lorem("Leave", 8)}

### Holidays

- New Year's Day
- Independence Day
- Thanksgiving Day

## Health insurance

| Plan | Cost |
|------|------|
| Basic | Low |
| Premium | High |

Pick a plan during open season. ${lorem("Health", 5)}

${FOOTER}
`;

function buildCorpus(dir: string): void {
  put(join(dir, "a-benefits.md"), BENEFITS);
  put(join(dir, "b-benefits-copy.md"), BENEFITS); // exact duplicate
  put(join(dir, "c-benefits-near.md"), BENEFITS.replace("Pick a plan during open season.", "Choose a plan during open season.")); // near duplicate
  put(
    join(dir, "d-travel.md"),
    `# Travel

Book trips through the agency portal. ${lorem("Travel", 6)}

## Contacts

Write to jane.doe@example.com or call +1 (555) 123-4567 for help with bookings.
Corporate card 4111 1111 1111 1111 pays for flights; refunds go to GB82 WEST 1234 5698 7654 32.

${FOOTER}
`,
  );
  put(
    join(dir, "e-notes.txt"),
    `Meeting notes from the planning session. ${lorem("Notes", 4)}\n\nSecond paragraph about the roadmap. ${lorem("Roadmap", 4)}\n\n${FOOTER}\n`,
  );
  put(
    join(dir, "f-page.html"),
    `<!doctype html><html><head><title>Working here | Example</title><style>body{}</style><script>track()</script></head><body>
<nav><a href="/">Home</a> <a href="/about">About us</a></nav><header><p>Example Corp intranet</p></header>
<main><article><h1>Working here</h1><p>Our offices are open on weekdays, and staff can work remotely, with approval, most days. ${lorem("Office", 4)}</p>
<h2>Equipment</h2><p>Laptops are issued on the first day, together with a badge, a monitor, and a headset. ${lorem("Gear", 3)}</p>
<ul><li>Laptop</li><li>Monitor</li></ul>
<table><tr><th>Item</th><th>Days</th></tr><tr><td>Laptop</td><td>1</td></tr></table></article></main>
<aside>Related links you might like</aside><footer>Site footer text</footer></body></html>`,
  );
  put(
    join(dir, "g-report.pdf"),
    makePdf([
      ["Quarterly report", "Revenue grew in every region this quarter."],
      ["Outlook", "We expect steady growth next year."],
    ]),
  );
  put(
    join(dir, "h-policy.docx"),
    makeDocx([
      { h: 1, text: "Remote work policy" },
      { p: "Staff may work remotely with the approval of their supervisor." },
      { h: 2, text: "Eligibility" },
      { p: "Everyone who completed onboarding is eligible for remote work." },
      {
        table: [
          ["Role", "Days"],
          ["Engineer", "5"],
        ],
      },
    ]),
  );
  put(
    join(dir, "i-records.jsonl"),
    `{"text": "First record about payroll schedules and how payday works for staff."}\nnot json\n{"other": 1}\n{"text": "Second record: questions go to payroll@example.com any day."}\n`,
  );
  put(
    join(dir, "j-table.csv"),
    `id,text\n1,"A row about parking, with a comma and\na newline inside the quoted field."\n2,Another row about the cafeteria menu and opening hours.\n`,
  );
  put(join(dir, "k-image.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47])); // unsupported: not listed when found in a directory
}

test("a mixed corpus gives the expected sections, heading paths and removals", async () => {
  const src = join(root, "corpus");
  buildCorpus(src);
  const out = join(root, "ds-corpus");
  const m: Manifest = await ingest({
    inputs: [src],
    out,
    cwd: root,
    tokenizer: byteTokenizer,
    redact: ["emails", "phones", "cards", "ibans"],
    valFraction: 0.2,
    seed: 3,
  });
  const r = rows(out);
  const bySource = (s: string) => r.filter((x) => x.source === s);

  // Markdown: front-matter title as the root heading, nested headings, table rows, boilerplate footer gone.
  const a = bySource("corpus/a-benefits.md");
  assert.deepEqual(
    a.map((x) => x.headingPath),
    ["Benefits", "Benefits › Time off", "Benefits › Time off › Holidays", "Benefits › Health insurance"],
  );
  assert.ok(a[0].text.startsWith("Benefits\n\nEmployees get a range of benefits."));
  assert.ok(a[2].text.includes("- New Year's Day\n- Independence Day"));
  assert.ok(a[3].text.includes("Plan | Cost\nBasic | Low\nPremium | High"));
  assert.ok(!r.some((x) => x.text.includes("Copyright 2024")), "the repeated footer line is removed everywhere");
  assert.ok(!r.some((x) => /redirect_from|^---/m.test(x.text)), "front matter is stripped");

  // Offsets: code points into the document's cleaned text (sections joined by a blank line).
  const full = a.map((x) => x.text).join("\n\n");
  for (const x of a) assert.equal([...full].slice(x.start, x.end).join(""), x.text);
  assert.equal(a[0].start, 0);

  // Duplicates: exact copy and near copy removed, each naming the kept original.
  assert.equal(bySource("corpus/b-benefits-copy.md").length, 0);
  assert.equal(bySource("corpus/c-benefits-near.md").length, 0);
  assert.deepEqual(
    m.duplicates.map((d) => [d.source, d.kind, d.duplicateOf]),
    [
      ["corpus/b-benefits-copy.md", "exact", "corpus/a-benefits.md"],
      ["corpus/c-benefits-near.md", "near", "corpus/a-benefits.md"],
    ],
  );
  assert.ok(m.duplicates[1].jaccard! >= 0.8 && m.duplicates[1].jaccard! < 1);
  assert.equal(m.removals.exactDuplicateDocuments, 1);
  assert.equal(m.removals.nearDuplicateDocuments, 1);
  // The footer is in a, b, c, d, e: b is an exact copy and does not vote, 4 documents >= 3. Removed from all five.
  assert.equal(m.removals.boilerplateLines, 5);

  // PII: one of each in d-travel.md, one email in the JSONL records.
  assert.deepEqual(m.pii, { emails: 2, phones: 1, cards: 1, ibans: 1 });
  const travel = bySource("corpus/d-travel.md");
  assert.deepEqual(
    travel.map((x) => x.headingPath),
    ["Travel", "Travel › Contacts"],
  );
  assert.equal(
    travel[1].text,
    "Contacts\n\nWrite to [EMAIL] or call [PHONE] for help with bookings. Corporate card [CARD] pays for flights; refunds go to [IBAN].",
  );

  // HTML: main content only, headings, list items and table rows.
  const page = bySource("corpus/f-page.html");
  assert.deepEqual(
    page.map((x) => x.headingPath),
    ["Working here", "Working here › Equipment"],
  );
  const pageText = page.map((x) => x.text).join("\n");
  for (const gone of ["Home", "About us", "intranet", "Related links", "Site footer", "track()", "body{}"]) assert.ok(!pageText.includes(gone), gone);
  assert.ok(pageText.includes("- Laptop\n- Monitor\nItem | Days\nLaptop | 1"));

  // Plain text, PDF pages, DOCX headings and table, records.
  assert.deepEqual(
    bySource("corpus/e-notes.txt").map((x) => x.headingPath),
    [""],
  );
  const pdf = bySource("corpus/g-report.pdf");
  assert.deepEqual(
    pdf.map((x) => [x.headingPath, x.text]),
    [
      ["Page 1", "Quarterly report\nRevenue grew in every region this quarter."],
      ["Page 2", "Outlook\nWe expect steady growth next year."],
    ],
  );
  const docx = bySource("corpus/h-policy.docx");
  assert.deepEqual(
    docx.map((x) => x.headingPath),
    ["Remote work policy", "Remote work policy › Eligibility"],
  );
  assert.ok(docx[1].text.endsWith("Role | Days\nEngineer | 5"));
  assert.deepEqual(
    r.filter((x) => x.source.startsWith("corpus/i-records.jsonl")).map((x) => x.source),
    ["corpus/i-records.jsonl:1", "corpus/i-records.jsonl:4"],
  );
  const csv = r.filter((x) => x.source.startsWith("corpus/j-table.csv"));
  assert.deepEqual(
    csv.map((x) => x.source),
    ["corpus/j-table.csv:row 1", "corpus/j-table.csv:row 2"],
  );
  assert.equal(csv[0].text, "A row about parking, with a comma and\na newline inside the quoted field.");

  // Counts, files, split and shards.
  assert.equal(m.counts.filesFound, 10);
  assert.equal(m.counts.filesOk, 10);
  assert.deepEqual(m.files.find((f) => f.source === "corpus/i-records.jsonl")?.notes, [
    "1 line(s) are not valid JSON",
    '1 record(s) have no string field "text"',
  ]);
  const docs = new Set(r.map((x) => x.doc));
  assert.equal(m.counts.documents, docs.size);
  assert.equal(docs.size, 10); // 12 extracted (8 files + 2 JSONL records + 2 CSV rows) minus 2 duplicates
  assert.equal(m.counts.documentsExtracted, 12);
  assert.equal(m.counts.valDocuments, 2); // round(0.2 × 10)
  assert.equal(m.split.val.length, 2);
  assert.ok(m.split.val.every((id) => docs.has(id)));
  assert.equal(m.tokenizer?.separator, "eos");
  assert.equal(m.tokenizer?.dtype, "uint16");
  assert.ok(byteTokenizer.saved.length > 0);
  assert.equal(readFileSync(join(out, "tokenizer", "tokenizer.json"), "utf8"), '{"kind":"bytes"}');

  // Shards hold exactly each document's bytes followed by EOS, split by document.
  const docText = new Map<string, string[]>();
  for (const x of r) docText.set(x.doc, [...(docText.get(x.doc) ?? []), x.text]);
  const expect = { train: [] as number[], val: [] as number[] };
  for (const [id, parts] of docText) expect[m.split.val.includes(id) ? "val" : "train"].push(...Buffer.from(parts.join("\n\n")), 256);
  for (const split of ["train", "val"] as const) {
    const set = ShardSet.open(out, split);
    assert.equal(set.count, expect[split].length);
    assert.equal(m.tokens![split], expect[split].length);
    assert.deepEqual(Array.from(set.read(0, set.count)), expect[split]);
    set.close();
  }
  const again = await ingest({ inputs: [src], out: join(root, "ds-corpus-2"), cwd: root, redact: ["emails"], valFraction: 0.2, seed: 3, cacheDir: null });
  assert.deepEqual(again.split.val, m.split.val, "the split is deterministic by seed");
  assert.equal(again.tokens, null, "no tokenizer: documents and manifest only");
  const other = await ingest({ inputs: [src], out: join(root, "ds-corpus-3"), cwd: root, valFraction: 0.2, seed: 4, cacheDir: null, nearDupThreshold: 0 });
  assert.equal(other.removals.nearDuplicateDocuments, 0, "threshold 0 disables near-duplicate removal");
  assert.equal(other.counts.documents, 11);
});

test("bad inputs are skipped with reasons and never stop the run", async (t) => {
  const dir = join(root, "bad");
  put(join(dir, "good.md"), `# Good\n\nThis file is fine and has enough text to be kept by the filters.\n`);
  put(join(dir, "empty.txt"), "");
  put(join(dir, "binary.txt"), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) % 256)));
  const pdf = makePdf([["Some text in a PDF that is cut short."]]);
  put(join(dir, "truncated.pdf"), pdf.subarray(0, Math.floor(pdf.length / 2)));
  put(join(dir, "locked.pdf"), makePdf([["secret"]], { encrypt: true }));
  const docx = makeDocx([{ p: "never read" }]);
  put(join(dir, "corrupt.docx"), docx.subarray(0, docx.length - 40));
  put(join(dir, "latin1.txt"), Buffer.from("Caf\xe9 cr\xe8me and na\xefve r\xe9sum\xe9 text, long enough to keep.", "latin1"));
  put(join(dir, "garbage.txt"), "#$%^&*()_+{}|:<>?~`-=[]\\;',./ ".repeat(20));
  mkdirSync(join(dir, "loop"), { recursive: true });
  symlinkSync("..", join(dir, "loop", "up"));
  symlinkSync("missing-target.md", join(dir, "dangling.md"));
  put(join(dir, "unreadable.md"), "# Secret\n\nYou should not be able to read this file at all.\n");
  // 200 MB on one line, written in 1 MB chunks.
  const fd = openSync(join(dir, "huge.txt"), "w");
  const chunk = Buffer.alloc(1 << 20, "a");
  for (let i = 0; i < 200; i++) writeSync(fd, chunk);
  closeSync(fd);

  // Root reads chmod-000 files anyway, so the permission error is injected; the real case runs as non-root.
  const denied = join(dir, "unreadable.md");
  const io: IngestIO = {
    async readFile(path, maxBytes) {
      if (path === denied) throw Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
      const b = readFileSync(path);
      return b.subarray(0, maxBytes);
    },
  };
  const m = await ingest({ inputs: [dir, join(root, "does-not-exist")], out: join(root, "ds-bad"), cwd: root, io, cacheDir: null });
  const reason = (s: string) => m.files.find((f) => f.source === `bad/${s}`)?.reason ?? m.skipped.find((f) => f.source.startsWith(`bad/${s}`))?.reason;
  assert.equal(reason("empty.txt"), "empty file");
  assert.match(reason("binary.txt")!, /^binary content/);
  assert.match(reason("truncated.pdf")!, /^invalid or truncated PDF/);
  assert.equal(reason("locked.pdf"), "password-protected PDF");
  assert.match(reason("corrupt.docx")!, /^corrupt DOCX/);
  assert.match(reason("huge.txt")!, /^too large \(200\.0 MiB > 64\.0 MiB/);
  assert.equal(reason("unreadable.md"), "unreadable (EACCES)");
  assert.match(reason("loop/up")!, /already visited/);
  assert.match(reason("dangling.md")!, /broken or unreadable link: ENOENT/);
  assert.match(m.skipped.find((s) => s.source === "does-not-exist")!.reason, /not found/);
  const latin = m.files.find((f) => f.source === "bad/latin1.txt")!;
  assert.equal(latin.status, "ok");
  assert.deepEqual(latin.notes, ["invalid UTF-8, decoded as windows-1252"]);
  const r = rows(join(root, "ds-bad"));
  assert.ok(r.some((x) => x.text.startsWith("Café crème and naïve résumé")));
  assert.ok(r.some((x) => x.source === "bad/good.md"));
  assert.ok(!r.some((x) => x.source === "bad/garbage.txt"));
  assert.equal(m.removals.lowTextRatioSections, 1);
  assert.equal(m.counts.documents, 2);
  assert.equal(m.counts.filesSkipped, 10);
  assert.ok(m.counts.warnings >= 10);

  await t.test(
    "a chmod-000 file, for real",
    { skip: process.getuid?.() === 0 ? "running as root, which reads chmod-000 files; covered above by an injected EACCES" : false },
    async () => {
      const p = join(root, "perm", "secret.md");
      put(p, "# Secret\n\nunreadable\n");
      chmodSync(p, 0);
      const mm = await ingest({ inputs: [join(root, "perm")], out: join(root, "ds-perm"), cwd: root, cacheDir: null });
      assert.equal(mm.files[0].reason, "unreadable (EACCES)");
    },
  );

  const none = await ingest({ inputs: [join(dir, "empty.txt")], out: join(root, "ds-none"), cwd: root, cacheDir: null });
  assert.equal(none.counts.documents, 0);
});

test("re-ingesting re-reads only the changed file", async () => {
  const dir = join(root, "inc");
  for (const n of ["one", "two", "three"]) put(join(dir, `${n}.md`), `# ${n}\n\nThe ${n} file has its own paragraph about topic ${n}, long enough.\n`);
  const out = join(root, "ds-inc");
  const phases: string[] = [];
  const first = await ingest({ inputs: [dir], out, cwd: root, progressIntervalMs: 0, onProgress: (p) => phases.push(`${p.phase} ${p.files}/${p.filesTotal}`) });
  assert.deepEqual([...new Set(phases)], ["scan 0/0", "extract 1/3", "extract 2/3", "extract 3/3", "clean 1/3", "clean 2/3", "clean 3/3", "done 3/3"]);
  assert.deepEqual(
    first.files.map((f) => [f.read, f.cached]),
    [
      [true, false],
      [true, false],
      [true, false],
    ],
  );
  assert.equal(first.counts.filesParsed, 3);
  put(join(dir, "two.md"), `# two\n\nThe two file changed: a new paragraph about something else entirely.\n`);
  utimesSync(join(dir, "two.md"), new Date(), new Date(Date.now() + 5000));
  const second = await ingest({ inputs: [dir], out, cwd: root });
  // Sorted: one, three, two.
  assert.deepEqual(
    second.files.map((f) => [f.source, f.read, f.cached]),
    [
      ["inc/one.md", false, true],
      ["inc/three.md", false, true],
      ["inc/two.md", true, false],
    ],
  );
  assert.equal(second.counts.filesRead, 1);
  assert.equal(second.counts.filesParsed, 1);
  assert.equal(second.cache.pruned, 1, "the old extraction of two.md is pruned");
  assert.ok(rows(out).some((x) => x.text.includes("The two file changed")));
  // Touching a file without changing it: read again (mtime changed) but not parsed.
  utimesSync(join(dir, "one.md"), new Date(), new Date(Date.now() + 9000));
  const third = await ingest({ inputs: [dir], out, cwd: root });
  assert.deepEqual(
    third.files.map((f) => [f.read, f.cached]),
    [
      [true, true],
      [false, true],
      [false, true],
    ],
  );
  assert.equal(third.counts.filesParsed, 0);
});

test("a trained tokenizer sees the training documents only; BOS separates when there is no EOS", async () => {
  const dir = join(root, "train-tok");
  for (let i = 0; i < 6; i++) put(join(dir, `doc${i}.md`), `# Doc ${i}\n\nDocument number ${i} talks about its own subject at some length.\n`);
  const seen: string[] = [];
  const m = await ingest({
    inputs: [dir],
    out: join(root, "ds-train-tok"),
    cwd: root,
    cacheDir: null,
    valFraction: 0.34,
    vocabSize: 300,
    async trainTokenizer(texts, vocabSize) {
      assert.equal(vocabSize, 300);
      for await (const t of texts) seen.push(t);
      return { vocabSize: 300, eosId: undefined, bosId: 299, encode: (s: string) => Array.from(Buffer.from(s)), save: () => undefined };
    },
  });
  assert.equal(m.counts.valDocuments, 2);
  assert.equal(seen.length, 4);
  const valTexts = rows(join(root, "ds-train-tok"))
    .filter((r) => m.split.val.includes(r.doc))
    .map((r) => r.text);
  assert.ok(valTexts.length === 2 && valTexts.every((t) => !seen.includes(t)));
  assert.deepEqual(m.tokenizer && [m.tokenizer.trained, m.tokenizer.separator, m.tokenizer.separatorId], [true, "bos", 299]);
  const val = ShardSet.open(join(root, "ds-train-tok"), "val");
  assert.equal(val.read(0, 1)[0], 299, "each document starts with BOS");
  assert.equal(
    val.count,
    valTexts.reduce((a, t) => a + Buffer.byteLength(t) + 1, 0),
  );
  val.close();
});

test("the 18F handbook ingests into sensible sections", async (t) => {
  const shared = sharedDir();
  if (!shared) {
    t.skip("../shared/corpora is absent; skipping the 18F handbook test");
    return;
  }
  const out = join(root, "ds-18f");
  // Sources (and so document ids and the train/val split) are relative to cwd: the shared folder, so
  // the split is the same wherever the repository and its temporary directory are.
  const m = await ingest({ inputs: [join(shared, "corpora")], out, cwd: shared, tokenizer: byteTokenizer, cacheDir: null });
  assert.ok(m.counts.filesFound >= 240, `files found: ${m.counts.filesFound}`);
  assert.ok(m.counts.documents >= 220, `documents: ${m.counts.documents}`);
  assert.ok(m.counts.sections > 3 * m.counts.documents, `sections: ${m.counts.sections}`);
  const r = rows(out);
  // Markup survives only inside code examples, on the pages that document the handbook's own markup.
  const markup = r.filter((x) => /\]\(http|^---$|^title:|\{%/m.test(x.text)).map((x) => x.source.replace(/.*pages\//, ""));
  assert.ok(markup.length > 0 && markup.every((s) => s.startsWith("updating-the-handbook/")), `markup left in ${markup.join(", ")}`);
  const vltp = r.filter((x) => x.source.endsWith("travel-and-leave/voluntary-leave-transfer-program.md"));
  assert.ok(vltp.some((x) => x.headingPath === "Voluntary Leave Transfer Program › To receive donated hours › Eligibility"));
  const train = ShardSet.open(out, "train");
  const val = ShardSet.open(out, "val");
  assert.equal(train.count, m.tokens!.train);
  assert.ok(val.count > 0 && train.count > 10 * val.count);
  const w = train.read(train.count - 1, 1);
  assert.equal(w[0], 256, "the stream ends with EOS");
  train.close();
  val.close();
});

test("extraction on worker threads gives the same dataset as on the calling thread", async () => {
  const src = join(root, "corpus-workers");
  buildCorpus(src);
  // Add files that fail in extraction, so skips travel back from the workers too.
  const pdf = makePdf([["Some text in a PDF that is cut short."]]);
  put(join(src, "bad", "truncated.pdf"), pdf.subarray(0, Math.floor(pdf.length / 2)));
  put(join(src, "bad", "locked.pdf"), makePdf([["secret"]], { encrypt: true }));
  const docx = makeDocx([{ p: "never read" }]);
  put(join(src, "bad", "corrupt.docx"), docx.subarray(0, docx.length - 40));
  put(join(src, "bad", "empty.txt"), "");
  const base = { inputs: [src], cwd: root, tokenizer: byteTokenizer, redact: ["emails" as const], valFraction: 0.2, seed: 3 };
  const serial = await ingest({ ...base, out: join(root, "ds-serial"), cacheDir: join(root, "cache-serial"), workers: 0 });
  const pooled = await ingest({ ...base, out: join(root, "ds-pooled"), cacheDir: join(root, "cache-pooled"), workers: 2 });
  assert.equal(readFileSync(join(root, "ds-pooled", "documents.jsonl"), "utf8"), readFileSync(join(root, "ds-serial", "documents.jsonl"), "utf8"));
  assert.deepEqual(readFileSync(join(root, "ds-pooled", "train-00000.bin")), readFileSync(join(root, "ds-serial", "train-00000.bin")));
  const strip = (m: Manifest) => m.files.map((f) => ({ source: f.source, status: f.status, reason: f.reason, cached: f.cached, documents: f.documents }));
  assert.deepEqual(strip(pooled), strip(serial));
  assert.deepEqual(pooled.removals, serial.removals);
  // The comparison covers boilerplate removal and near duplicates (screened on the workers in pass 2).
  assert.ok(pooled.removals.boilerplateLines > 0 && pooled.removals.nearDuplicateDocuments > 0, JSON.stringify(pooled.removals));
  assert.ok(
    pooled.files.some((f) => f.status === "skipped" && /truncated|Invalid PDF|PDF/i.test(f.reason ?? "")),
    JSON.stringify(strip(pooled).filter((f) => f.status === "skipped")),
  );
  // The workers wrote the cache: a second pooled run reuses every entry.
  const again = await ingest({ ...base, out: join(root, "ds-pooled-2"), cacheDir: join(root, "cache-pooled"), workers: 2 });
  assert.ok(
    again.files.filter((f) => f.status === "ok").every((f) => !f.read),
    "nothing re-read",
  );
  assert.equal(readFileSync(join(root, "ds-pooled-2", "documents.jsonl"), "utf8"), readFileSync(join(root, "ds-serial", "documents.jsonl"), "utf8"));
});
