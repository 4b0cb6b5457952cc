// Retrieval: RRF arithmetic, the three modes on the tiny handbook, and the
// confidence score separating answerable from off-topic questions.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { ConfigError } from "../errors.ts";
import { HashEmbedder } from "./embed.ts";
import { SectionIndex, buildIndex } from "./index-db.ts";
import { retrieve, rrf, termCoverage } from "./retrieve.ts";
import { writeTinyDataset } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-retrieve-"));
const emb = new HashEmbedder(128);
buildIndex({ dataset: writeTinyDataset(join(dir, "ds")), out: join(dir, "t.index"), embedder: emb });
const idx = SectionIndex.open(join(dir, "t.index"));
after(() => {
  idx.close();
  rmSync(dir, { recursive: true, force: true });
});

test("rrf: scores are sums of 1/(k + rank); an id in both lists beats ids in one", () => {
  const f = rrf(
    [
      [7, 3, 5],
      [3, 9],
    ],
    60,
  );
  assert.deepEqual(
    f.map((x) => x.id),
    [3, 7, 9, 5],
  );
  assert.ok(Math.abs(f[0]!.score - (1 / 62 + 1 / 61)) < 1e-12);
  assert.deepEqual(f[0]!.ranks, [2, 1]);
  assert.deepEqual(f[1]!.ranks, [1, null]);
  assert.ok(Math.abs(f[2]!.score - 1 / 62) < 1e-12);
  // Equal scores and best ranks: the earlier list wins (9 is first in list 2, 4 first in list 1).
  assert.deepEqual(
    rrf([[4], [9]], 60).map((x) => x.id),
    [4, 9],
  );
  assert.deepEqual(
    rrf([[9], [4]], 60).map((x) => x.id),
    [9, 4],
  );
  // An id repeated within one list counts once.
  assert.deepEqual(
    rrf([[1, 1, 2]], 60).map((x) => [x.id, x.ranks[0]]),
    [
      [1, 1],
      [2, 3],
    ],
  );
});

test("each mode finds the per-diem section for a meal-allowance question", () => {
  for (const mode of ["bm25", "vector", "hybrid"] as const) {
    const r = retrieve(idx, "What is the meal allowance per day in Oslo?", { mode, k: 3, embedder: emb });
    assert.equal(r.hits[0]!.section.headingPath, "Travel › Per diems", mode);
    assert.equal(r.mode, mode);
    assert.ok(r.hits.length <= 3);
  }
  const h = retrieve(idx, "What is the meal allowance per day in Oslo?", { mode: "hybrid", k: 5, embedder: emb });
  assert.ok(h.hits[0]!.bm25Rank !== null && h.hits[0]!.vectorRank !== null);
});

test("bm25 mode fuses whole-section and passage rankings; passages: false is whole sections alone", () => {
  const q = "How do I report a lost laptop or phone?";
  const whole = idx.bm25(q, 50).map((h) => h.rowid),
    pass = idx.passageBm25(q, 50).map((h) => h.rowid);
  const r = retrieve(idx, q, { mode: "bm25", k: 5 });
  assert.deepEqual(
    r.hits.map((h) => h.section.rowid),
    rrf([whole, pass])
      .slice(0, 5)
      .map((f) => f.id),
  );
  assert.deepEqual(
    r.hits.map((h) => h.bm25Rank),
    r.hits.map((_, i) => i + 1),
  );
  assert.deepEqual(
    retrieve(idx, q, { mode: "bm25", k: 5, passages: false }).hits.map((h) => h.section.rowid),
    whole.slice(0, 5),
  );
  // Hybrid fuses that BM25 ranking with the vectors'.
  const vec = idx.nearest(emb.embed([q])[0]!, 50).map((h) => h.rowid);
  const lex = rrf([whole, pass]).map((f) => f.id);
  assert.deepEqual(
    retrieve(idx, q, { mode: "hybrid", k: 5, embedder: emb }).hits.map((h) => h.section.rowid),
    rrf([lex, vec])
      .slice(0, 5)
      .map((f) => f.id),
  );
});

test("confidence: high when the question's words are in a top section, low for an off-topic question", () => {
  const on = retrieve(idx, "How many characters must a password have?", { mode: "hybrid", embedder: emb });
  assert.ok(on.confidence > 0.9, `on-topic ${on.confidence}`);
  const off = retrieve(idx, "What is the sabbatical policy for engineers?", { mode: "hybrid", embedder: emb });
  assert.ok(off.confidence < 0.5, `off-topic ${off.confidence}`);
  assert.ok(off.coverage.some((c) => c.term === "sabbatical" && !c.found));
  assert.equal(retrieve(idx, "what is the", { mode: "bm25" }).confidence, 0);
});

test("termCoverage weighs by idf", () => {
  const c = termCoverage({ idf: (t) => (t === "rare" ? 9 : 1) }, "rare common", "a common word");
  assert.ok(Math.abs(c.score - 1 / 10) < 1e-12);
});

test("vector modes need an embedder of the index's width", () => {
  assert.throws(() => retrieve(idx, "leave", { mode: "vector" }), ConfigError);
  assert.throws(() => retrieve(idx, "leave", { mode: "hybrid", embedder: new HashEmbedder(32) }), /128/);
  assert.throws(() => retrieve(idx, "leave", { mode: "fuzzy" as never }), /bm25, vector, hybrid/);
});
