// Index build and open: round trip of sections and provenance, BM25 (whole
// sections and passages) and vector queries on the tiny handbook, and clear errors for missing, corrupt or
// foreign files and bad datasets.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import Database from "better-sqlite3";

import { FormatError, NotFoundError, ConfigError } from "../errors.ts";
import { HashEmbedder } from "./embed.ts";
import { PASSAGE_SENTENCES, SectionIndex, buildIndex, sectionPassages, sourceWords } from "./index-db.ts";
import { TINY_HANDBOOK, writeTinyDataset } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-index-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const ds = writeTinyDataset(join(dir, "ds"));
const indexPath = join(dir, "tiny.index");
const info = buildIndex({ dataset: ds, out: indexPath, embedder: new HashEmbedder(64) });

test("buildIndex stores every section with its provenance and the embedder spec", () => {
  assert.equal(info.sections, TINY_HANDBOOK.length);
  assert.equal(info.documents, 4);
  const idx = SectionIndex.open(indexPath);
  try {
    assert.deepEqual(idx.info.embedder, { kind: "hash", dim: 64 });
    for (let i = 0; i < TINY_HANDBOOK.length; i++) {
      const s = idx.section(i + 1);
      assert.equal(s.source, TINY_HANDBOOK[i]!.source);
      assert.deepEqual(s.heading, TINY_HANDBOOK[i]!.heading);
      assert.equal(s.text, TINY_HANDBOOK[i]!.text);
    }
    assert.equal(idx.sectionById("d001#1")?.headingPath, "Travel › Per diems");
    assert.equal(idx.sectionById("nope#9"), undefined);
    assert.throws(() => idx.section(999), NotFoundError);
  } finally {
    idx.close();
  }
});

test("BM25 ranks the section holding the question's rare words first; stems match word forms", () => {
  const idx = SectionIndex.open(indexPath);
  try {
    assert.equal(idx.section(idx.bm25("How much is the meal allowance in Oslo?", 3)[0]!.rowid).headingPath, "Travel › Per diems");
    // "reporting" and "laptops" match "Report" and "laptop" through the porter tokenizer.
    assert.equal(idx.section(idx.bm25("reporting lost laptops", 3)[0]!.rowid).headingPath, "Passwords › Lost devices");
    assert.deepEqual(idx.bm25("what is the", 3), []);
    const hits = idx.bm25("leave", 10);
    assert.ok(hits.length >= 3 && hits.every((h, i) => i === 0 || h.score <= hits[i - 1]!.score), "scores descend");
  } finally {
    idx.close();
  }
});

test("passages: overlapping runs of sentences after the heading line; a short section is one passage", () => {
  assert.equal(PASSAGE_SENTENCES, 3);
  assert.deepEqual(sectionPassages("Leave\nOne. Two. Three. Four.", 3), ["One. Two. Three.", "Two. Three. Four."]);
  assert.deepEqual(sectionPassages("Leave\nOne. Two.", 3), ["One. Two."]);
  assert.deepEqual(sectionPassages("Just one line", 3), ["Just one line"]);
  assert.deepEqual(sectionPassages("  \n ", 3), [], "an empty section has no passage");
});

test("passage BM25 finds an answer deep in a long section that whole-section BM25 ranks below short ones", () => {
  const filler = Array.from({ length: 40 }, (_, i) => `Staff may arrange item ${i} of the general office routine with their team lead.`).join(" ");
  const sections = [
    {
      source: "hb/policies.md",
      heading: ["Policies", "General"],
      text: `General\n${filler} Jury service leave is paid at full salary for up to ten days. ${filler}`,
    },
    { source: "hb/court.md", heading: ["Court"], text: "Court\nJury summons letters go to the office manager." },
    { source: "hb/pay.md", heading: ["Pay"], text: "Pay\nSalary is paid monthly." },
    { source: "hb/service.md", heading: ["Service"], text: "Service\nLong service is celebrated with a paid lunch." },
    { source: "hb/days.md", heading: ["Days"], text: "Days\nTen days of leave carry over." },
  ];
  const out = join(dir, "long.index");
  buildIndex({ dataset: writeTinyDataset(join(dir, "long-ds"), sections), out, embedder: new HashEmbedder(64) });
  const idx = SectionIndex.open(out);
  try {
    const q = "Is jury service leave paid at full salary, and for how many days?";
    const whole = idx.bm25(q, 5).map((h) => idx.section(h.rowid).source);
    const passages = idx.passageBm25(q, 5).map((h) => idx.section(h.rowid).source);
    assert.notEqual(whole[0], "hb/policies.md", `whole sections: ${whole.join(", ")}`);
    assert.equal(passages[0], "hb/policies.md", `passages: ${passages.join(", ")}`);
    assert.equal(new Set(passages).size, passages.length, "each section once, at its best passage");
    const s = idx.passageBm25(q, 5).map((h) => h.score);
    assert.ok(
      s.every((x, i) => i === 0 || x <= s[i - 1]!),
      "scores descend",
    );
    assert.deepEqual(idx.passageBm25("what is the", 3), []);
  } finally {
    idx.close();
  }
});

test("vector search returns the section itself nearest to its own text", () => {
  const idx = SectionIndex.open(indexPath);
  const emb = new HashEmbedder(64);
  try {
    const s = idx.section(5);
    const near = idx.nearest(emb.embed([`${s.headingPath}\n${s.text}`])[0]!, 3);
    assert.equal(near[0]!.rowid, 5);
    assert.ok(near[0]!.distance < 1e-5);
    assert.throws(() => idx.nearest(new Float32Array(8), 3), ConfigError);
  } finally {
    idx.close();
  }
});

test("idf: rare stems weigh more than common ones, unknown stems the most", () => {
  const idx = SectionIndex.open(indexPath);
  try {
    assert.ok(idx.idf("oslo") > idx.idf("leav"));
    assert.ok(idx.idf("zzzz") > idx.idf("oslo"));
  } finally {
    idx.close();
  }
});

test("open: missing file, directory, corrupt bytes, foreign SQLite and wrong version are clear errors", () => {
  assert.throws(() => SectionIndex.open(join(dir, "absent.index")), NotFoundError);
  assert.throws(() => SectionIndex.open(dir), ConfigError);
  const junk = join(dir, "junk.index");
  writeFileSync(junk, Buffer.from("this is not a database at all, just text padding it out ".repeat(80)));
  assert.throws(
    () => SectionIndex.open(junk),
    (e: unknown) => e instanceof FormatError && /not a readable slm index/.test(e.message),
  );
  const foreign = join(dir, "foreign.sqlite");
  const db = new Database(foreign);
  db.exec("CREATE TABLE t (x)");
  db.close();
  assert.throws(() => SectionIndex.open(foreign), FormatError);
  const old = join(dir, "old.index");
  buildIndex({ dataset: ds, out: old, embedder: new HashEmbedder(16) });
  const w = new Database(old);
  w.prepare("UPDATE meta SET value = '99' WHERE key = 'version'").run();
  w.close();
  assert.throws(() => SectionIndex.open(old), /index version 99/);
  // A truncated index (half its pages gone).
  const cut = join(dir, "cut.index");
  const bytes = readFileSync(indexPath);
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 3)));
  assert.throws(() => SectionIndex.open(cut), FormatError);
});

test("build: bad datasets fail with the file and line; no partial index is left", () => {
  assert.throws(() => buildIndex({ dataset: join(dir, "none"), out: join(dir, "x.index"), embedder: new HashEmbedder(16) }), NotFoundError);
  const bad = writeTinyDataset(join(dir, "bad"));
  writeFileSync(join(bad, "documents.jsonl"), '{"id":"a#0","source":"a.md","heading":["A"],"text":"fine text here"}\n{"id":"a#1","source":"a.md"}\n');
  assert.throws(() => buildIndex({ dataset: bad, out: join(dir, "bad.index"), embedder: new HashEmbedder(16) }), /documents\.jsonl:2: field "text"/);
  writeFileSync(join(bad, "documents.jsonl"), "{oops\n");
  assert.throws(() => buildIndex({ dataset: bad, out: join(dir, "bad.index"), embedder: new HashEmbedder(16) }), /documents\.jsonl:1: not valid JSON/);
  assert.throws(() => SectionIndex.open(join(dir, "bad.index")), NotFoundError);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes(".tmp-")),
    [],
  );
});

test("sourceWords turns a path into words for the heading column", () => {
  assert.equal(sourceWords("pages/travel-and-leave/leave.md"), "travel and leave leave");
});
