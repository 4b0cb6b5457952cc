// Teacher cache (layout, sampler alignment, reuse, interrupted builds, corrupt
// files), top-k selection, student-from-teacher layers, the vocabulary check,
// and distill() end to end on tiny models made here.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { ConfigError, FormatError } from "../errors.ts";
import { ShardSet } from "../data/shards.ts";
import { createModel, presetConfig } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import { writePatternSplit } from "./testing.ts";
import { WindowSampler } from "./batches.ts";
import { checkSameVocabulary, distill, studentFromTeacher } from "./distill.ts";
import { TeacherCache, buildTeacherCache, topK, type CacheSpec } from "./teacher-cache.ts";

const root = mkdtempSync(join(tmpdir(), "slm-distill-"));
after(() => rmSync(root, { recursive: true, force: true }));

const V = 64;
writePatternSplit(root, "train", 4000, 1, V);
writePatternSplit(root, "val", 600, 2, V);
const trainSet = ShardSet.open(root, "train");
const valSet = ShardSet.open(root, "val");
after(() => {
  trainSet.close();
  valSet.close();
});

const tiny = (layers: number, seed: number) => createModel(presetConfig("nano", V, { nLayers: layers, maxSeqLen: 32 }), seed);
const spec = (o: Partial<CacheSpec> = {}): CacheSpec => ({ batch: 2, seqLen: 16, seed: 3, batches: 5, k: 6, logitType: "f32", temperature: 2, ...o });

test("topK returns the k largest of each row, sorted", () => {
  const r = new Rng(4);
  const rows = 7,
    v = 50,
    k = 5;
  const x = new Float32Array(rows * v).map(() => r.normal());
  const ids = new Int32Array(rows * k),
    vals = new Float32Array(rows * k);
  topK(x, rows, v, k, ids, vals);
  for (let i = 0; i < rows; i++) {
    const want = Array.from(x.subarray(i * v, (i + 1) * v))
      .map((val, id) => ({ val, id }))
      .sort((a, b) => b.val - a.val)
      .slice(0, k);
    assert.deepEqual(
      Array.from(ids.subarray(i * k, (i + 1) * k)),
      want.map((w) => w.id),
    );
    assert.deepEqual(
      Array.from(vals.subarray(i * k, (i + 1) * k)),
      want.map((w) => Math.fround(w.val)),
    );
  }
});

test("the cache holds the teacher's top-k at exactly the sampler's positions", async () => {
  const teacher = tiny(2, 1);
  const path = join(root, "c1.bin");
  const res = await buildTeacherCache({ path, teacher, teacherName: "t", train: trainSet, datasetFingerprint: "fp", spec: spec() });
  assert.equal(res.scored, 5);
  assert.ok(!existsSync(`${path}.partial`));
  const cache = TeacherCache.open(path);
  const sampler = new WindowSampler(trainSet, 2, 16, 3);
  const tape = new Tape({ grad: false });
  const ids = new Int32Array(32 * 6),
    vals = new Float32Array(32 * 6);
  for (let b = 0; b < 5; b++) {
    const batch = sampler.next();
    const got = cache.read(b, batch.inputs);
    tape.reset();
    const logits = teacher.forward(tape, batch.inputs, 2, 16);
    topK(logits.data, 32, V, 6, ids, vals);
    assert.deepEqual(got.ids, ids);
    assert.deepEqual(got.logits, vals);
    for (let row = 0; row < 32; row++) {
      let sum = 0;
      for (let x = 0; x < V; x++) sum += Math.exp(logits.data[row * V + x]! / 2);
      assert.ok(Math.abs(got.lse[row]! - Math.log(sum)) < 1e-4, `lse at T = 2, row ${row}`);
    }
  }
  // Other positions than the ones scored: a clear error.
  const wrong = sampler.next();
  assert.throws(() => cache.read(0, wrong.inputs), /scored on other token positions/);
  assert.throws(() => cache.read(5, wrong.inputs), /holds 5 batches/);
  cache.close();
  // Built again with the same header: reused, not rescored.
  const again = await buildTeacherCache({ path, teacher, teacherName: "t", train: trainSet, datasetFingerprint: "fp", spec: spec() });
  assert.equal(again.scored, 0);
  assert.equal(again.reused, 5);
  // Another teacher (same name): rebuilt.
  const retrained = await buildTeacherCache({ path, teacher: tiny(2, 9), teacherName: "t", train: trainSet, datasetFingerprint: "fp", spec: spec() });
  assert.equal(retrained.scored, 5);
  // Another seed: rebuilt.
  const other = await buildTeacherCache({ path, teacher, teacherName: "t", train: trainSet, datasetFingerprint: "fp", spec: spec({ seed: 4 }) });
  assert.equal(other.scored, 5);
});

test("an interrupted build leaves only a .partial, and resuming it gives the same file", async () => {
  const teacher = tiny(2, 2);
  const fresh = join(root, "fresh.bin"),
    resumed = join(root, "resumed.bin");
  await buildTeacherCache({ path: fresh, teacher, teacherName: "t", train: trainSet, datasetFingerprint: "fp", spec: spec({ logitType: "f16" }) });
  const ac = new AbortController();
  await assert.rejects(
    buildTeacherCache({
      path: resumed,
      teacher,
      teacherName: "t",
      train: trainSet,
      datasetFingerprint: "fp",
      spec: spec({ logitType: "f16" }),
      signal: ac.signal,
      onProgress: (p) => p.done === 3 && ac.abort(),
    }),
    /stopped after 3 of 5/,
  );
  assert.ok(!existsSync(resumed));
  assert.ok(existsSync(`${resumed}.partial`));
  assert.throws(() => TeacherCache.open(resumed), /interrupted/);
  const r = await buildTeacherCache({ path: resumed, teacher, teacherName: "t", train: trainSet, datasetFingerprint: "fp", spec: spec({ logitType: "f16" }) });
  assert.equal(r.reused, 3);
  assert.equal(r.scored, 2);
  assert.deepEqual(readFileSync(resumed), readFileSync(fresh));
  // f16 logits are within half precision of the f32 ones.
  const f32 = join(root, "f32.bin");
  await buildTeacherCache({ path: f32, teacher, teacherName: "t", train: trainSet, datasetFingerprint: "fp", spec: spec() });
  const a = TeacherCache.open(resumed),
    b = TeacherCache.open(f32);
  const batch = new WindowSampler(trainSet, 2, 16, 3).next();
  const la = a.read(0, batch.inputs).logits.slice(),
    lb = b.read(0, batch.inputs).logits;
  for (let i = 0; i < la.length; i++) assert.ok(Math.abs(la[i]! - lb[i]!) <= 1e-3 * Math.abs(lb[i]!) + 1e-4);
  a.close();
  b.close();
});

test("corrupt caches are FormatErrors", () => {
  const p = join(root, "bad.bin");
  writeFileSync(p, Buffer.from("NOPE0000000000000000"));
  assert.throws(
    () => TeacherCache.open(p),
    (e: unknown) => e instanceof FormatError && /not a teacher cache/.test(e.message),
  );
  const good = readFileSync(join(root, "c1.bin"));
  writeFileSync(p, good.subarray(0, good.length - 10));
  assert.throws(() => TeacherCache.open(p), /a cache of 5 batches has/);
});

test("a student from every 2nd teacher layer copies embeddings, layers 0, 2, norm and head", () => {
  const teacher = tiny(4, 5);
  const s = studentFromTeacher(teacher, 2);
  assert.equal(s.config.nLayers, 2);
  const tp = new Map(teacher.namedParameters());
  for (const [name, p] of s.namedParameters()) {
    const from = name.replace(/layers\.1\./, "layers.2.");
    assert.deepEqual(p.data, tp.get(from)!.data, name);
  }
  // Same forward as the teacher when every layer is kept.
  const same = studentFromTeacher(teacher, 1);
  const ids = new Int32Array(8).map((_, i) => (i * 5) % V);
  const g = new Tape({ grad: false });
  assert.deepEqual(same.forward(g, ids, 1, 8).data.slice(), teacher.forward(new Tape({ grad: false }), ids, 1, 8).data.slice());
});

test("different vocabularies are a ConfigError naming both", () => {
  assert.throws(
    () => checkSameVocabulary({ name: "runs/teacher/model", vocabSize: 8192 }, { name: "data/hb", vocabSize: 4096 }),
    (e: unknown) =>
      e instanceof ConfigError && /runs\/teacher\/model/.test(e.message) && /8192/.test(e.message) && /4096/.test(e.message) && /data\/hb/.test(e.message),
  );
});

test("distill trains the student from the cache and writes metrics and a summary", async () => {
  const teacher = tiny(2, 6);
  const student = tiny(1, 7);
  const runDir = join(root, "run");
  const before = student.namedParameters()[0]![1].data.slice();
  const s = await distill({
    teacher,
    teacherName: "teacher",
    student,
    train: trainSet,
    val: valSet,
    datasetFingerprint: "fp",
    runDir,
    config: { batch: 2, seqLen: 16, maxSteps: 4, evalEvery: 2, evalBatches: 2, logEvery: 1, checkpointEvery: 0 },
    distill: { topK: 8, alpha: 0.7, temperature: 2, divergence: "js" },
  });
  assert.notDeepEqual(student.namedParameters()[0]![1].data, before);
  assert.equal(s.student.steps, 4);
  assert.ok(s.student.params < s.teacher.params);
  assert.ok(Number.isFinite(s.student.valLoss!) && Number.isFinite(s.teacher.valLoss!));
  assert.equal(s.teacher.cacheBatchesScored, 4);
  assert.ok(s.teacher.tokensPerSec! > 0 && s.maxRssMiB > 0 && s.cache.bytes === statSync(join(runDir, "teacher-cache.bin")).size);
  const lines = readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const steps = lines.filter((l) => l.type === "step");
  assert.equal(steps.length, 4);
  for (const l of steps) assert.ok(Number.isFinite(l.divergence) && Number.isFinite(l.ce));
  assert.equal(lines.at(-1).type, "distill_summary");
  assert.equal(lines.at(-2).type, "summary"); // the trainer's own
  assert.ok(existsSync(join(runDir, "summary.json")));
  // A student of another vocabulary is refused before any work.
  const other = createModel(presetConfig("nano", V * 2, { nLayers: 1, maxSeqLen: 32 }), 1);
  await assert.rejects(
    distill({
      teacher,
      teacherName: "teacher",
      student: other,
      train: trainSet,
      datasetFingerprint: "fp",
      runDir: join(root, "run2"),
      config: { maxSteps: 1 },
      distill: {},
    }),
    /tokenizers differ/,
  );
});

test("a Gemma 3 student keeps each kept layer's attention kind (layer_types)", () => {
  const teacher = createModel(
    {
      modelType: "gemma3_text",
      vocabSize: 40,
      dModel: 16,
      nLayers: 3,
      nHeads: 2,
      nKvHeads: 1,
      headDim: 8,
      ffnDim: 24,
      maxSeqLen: 16,
      normEps: 1e-6,
      ropeTheta: 1e6,
      tieEmbeddings: true,
      qkvBias: false,
      oBias: false,
      mlpBias: false,
      slidingWindow: 4,
      ropeLocalTheta: 1e4,
      queryPreAttnScalar: 8,
      layerTypes: ["sliding_attention", "sliding_attention", "full_attention"],
    },
    1,
  );
  assert.deepEqual(studentFromTeacher(teacher, 2).config.layerTypes, ["sliding_attention", "full_attention"]);
});
