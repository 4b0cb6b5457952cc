// The domain assistant end to end, timed: ingest the 18F handbook (and train
// its tokenizer) -> index it -> pretrain a nano language model on it (`slm
// train`) -> train the extractive reader from that decoder on synthetic
// questions from the documents (`slm train-reader --init-from`) -> `slm eval qa` on our
// 18F set and the corpus's own qa.jsonl. Then the same pipeline, unchanged, on
// two handbooks of our own, Northwind (examples/handbook) and the Harbourview
// library (examples/library-handbook; questions phrased away from the
// documents' words), and on any handbook given with --handbook: its own reader,
// that reader alone (--baseline-weight 0), the 18F reader and the extractive
// baseline on each. Runs the real CLI (node bin/slm.js) in child processes and
// prints each step's wall time and a table of the figures.
// Needs ../shared/corpora/18f-handbook.
//
//   node --import tsx bench/assistant.ts [--shared ../shared] [--out /tmp/slm-assistant] [--skip-train]
//        [--pretrain 7m] [--budget 5m] [--synthetic 6000] [--preset nano] [--init-from MODEL_DIR]
//        [--handbook DIR --questions QA.jsonl [--unanswerable U.jsonl] [--name NAME]]... [--only 18f,northwind,library,NAME]
// --pretrain 0 skips pretraining (the reader starts from random weights, or from --init-from).
// --handbook adds a handbook of your own (a folder of documents) with its question set: the same
// pipeline, unchanged, trains its reader, and it is evaluated like the others. Repeatable: the i-th
// --questions, --name (and --unanswerable, given for every --handbook or none) go with the i-th
// --handbook. --only limits the handbooks trained and evaluated to those named (an added handbook
// by its --name in lower case, default "extra1", "extra2"…); the 18F reader is still evaluated on
// the others when it is in --out from an earlier run.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: v } = parseArgs({
  options: {
    shared: { type: "string" },
    out: { type: "string" },
    budget: { type: "string" },
    synthetic: { type: "string" },
    preset: { type: "string" },
    "init-from": { type: "string" },
    "skip-train": { type: "boolean" },
    pretrain: { type: "string" },
    handbook: { type: "string", multiple: true },
    questions: { type: "string", multiple: true },
    unanswerable: { type: "string", multiple: true },
    name: { type: "string", multiple: true },
    only: { type: "string" },
  },
});
const handbookDirs = v.handbook ?? [];
if (
  (v.questions ?? []).length !== handbookDirs.length ||
  (v.unanswerable && v.unanswerable.length !== handbookDirs.length) ||
  (v.name && v.name.length !== handbookDirs.length)
) {
  console.error(
    "bench/assistant: each --handbook needs its --questions QA.jsonl (lines: question, answer, answer_aliases, source_path); --unanswerable and --name, if given, once per --handbook",
  );
  process.exit(2);
}
const extras = handbookDirs.map((dir, i) => {
  const name = v.name?.[i] ?? `Extra${i + 1}`;
  return {
    name,
    key: name.toLowerCase().replace(/[^a-z0-9]+/g, "-"),
    docs: resolve(dir),
    q: resolve(v.questions![i]!),
    u: v.unanswerable ? resolve(v.unanswerable[i]!) : null,
  };
});
const KEYS = ["18f", "northwind", "library", ...extras.map((e) => e.key)];
const only = v.only ? v.only.split(",").map((x) => x.trim()) : null;
for (const k of only ?? []) {
  if (!KEYS.includes(k)) {
    console.error(`bench/assistant: --only takes ${KEYS.join(", ")}; got "${k}"`);
    process.exit(2);
  }
}
const wanted = (key: string) => !only || only.includes(key);
const shared = resolve(v.shared ?? join(repo, "..", "shared"));
const corpus = join(shared, "corpora", "18f-handbook");
const out = resolve(v.out ?? "/tmp/slm-assistant");
const budget = v.budget ?? "5m";
const pretrain = v.pretrain ?? "7m";
const synthetic = v.synthetic ?? "6000";
if (!existsSync(corpus)) {
  console.error(`bench/assistant: ${corpus} is absent; nothing to run`);
  process.exit(0);
}
mkdirSync(out, { recursive: true });

const times: { step: string; s: number; training: boolean }[] = [];
function slm(step: string, args: string[], opts: { cwd?: string; training?: boolean } = {}): string {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(repo, "bin", "slm.js"), ...args], { cwd: opts.cwd ?? out, encoding: "utf8", maxBuffer: 1 << 28 });
  const s = (performance.now() - t0) / 1000;
  times.push({ step, s, training: opts.training ?? false });
  console.error(`[${step}] ${s.toFixed(1)} s (load ${loadavg()[0]!.toFixed(1)})`);
  if (r.status !== 0) {
    console.error(r.stderr);
    throw new Error(`${step}: slm ${args.join(" ")} exited with ${r.status}`);
  }
  return r.stdout;
}

const reader = join(out, "reader");
const handbooks = [
  { name: "18F", key: "18f", docs: "pages", cwd: corpus, reader },
  { name: "Northwind", key: "northwind", docs: "handbook", cwd: join(repo, "examples"), reader: join(out, "reader-northwind") },
  { name: "Library", key: "library", docs: "library-handbook", cwd: join(repo, "examples"), reader: join(out, "reader-library") },
  // Ingested from the folder holding it, as a user would (`slm ingest handbook`): the source labels are then
  // "handbook/…", not a path from the bench's output folder whose words ("work", "scratch") would join every
  // section's heading column.
  ...extras.map((e) => ({ name: e.name, key: e.key, docs: basename(e.docs), cwd: dirname(e.docs), reader: join(out, `reader-${e.key}`) })),
].filter((h) => wanted(h.key));
/** The pipeline: documents -> dataset + tokenizer -> index -> language model -> reader. */
function pipeline(name: string, docs: string, cwd: string, ds: string, index: string, readerDir: string, training: boolean): void {
  const lm = `${readerDir}-lm`;
  for (const d of [ds, readerDir, lm]) rmSync(d, { recursive: true, force: true });
  slm(`${name}: ingest + tokenizer`, ["ingest", docs, "--out", ds, "--vocab-size", "8192"], { cwd, training });
  slm(`${name}: index`, ["index", ds, "--out", index], { training });
  let init = v["init-from"] ? ["--init-from", resolve(v["init-from"])] : ["--preset", v.preset ?? "nano"];
  if (pretrain !== "0" && !v["init-from"]) {
    // --early-stop 3: a small handbook is learnt by heart within minutes; keep the best-validation weights.
    slm(
      `${name}: pretrain language model (${v.preset ?? "nano"}, ${pretrain})`,
      ["train", "--data", ds, "--preset", v.preset ?? "nano", "--time-budget", pretrain, "--early-stop", "3", "--out", lm],
      { training },
    );
    init = ["--init-from", join(lm, "model")];
  }
  slm(
    `${name}: train reader (${synthetic} synthetic questions, ${budget} of steps)`,
    ["train-reader", "--index", index, "--out", readerDir, ...init, "--synthetic", synthetic, "--time-budget", budget],
    { training },
  );
}
if (!v["skip-train"]) {
  for (const h of handbooks) pipeline(h.name, h.docs, h.cwd, join(out, h.key), join(out, `${h.key}.index`), h.reader, h.key === "18f");
}

interface Summary {
  accuracy: number;
  falseNotFound: number;
  citationCorrect: number | null;
  recall: Record<string, Record<string, number>>;
  answerMode: string;
  unanswerable: { notFoundRate: number } | null;
  latencyMs: { mean: number; p95: number };
}
const sets = [
  { name: "18F ours (44)", index: "18f.index", q: join(repo, "examples/qa/18f-handbook.jsonl"), u: join(repo, "examples/qa/18f-unanswerable.jsonl") },
  { name: "18F qa.jsonl (40)", index: "18f.index", q: join(corpus, "qa.jsonl"), u: join(repo, "examples/qa/18f-unanswerable.jsonl") },
  { name: "Northwind (40)", index: "northwind.index", q: join(repo, "examples/qa/handbook.jsonl"), u: join(repo, "examples/qa/handbook-unanswerable.jsonl") },
  {
    name: "Library (40)",
    index: "library.index",
    q: join(repo, "examples/qa/library-handbook.jsonl"),
    u: join(repo, "examples/qa/library-handbook-unanswerable.jsonl"),
  },
  ...extras.map((e) => ({ name: `${e.name} (${lineCount(e.q)})`, index: `${e.key}.index`, q: e.q, u: e.u })),
].filter((set) => handbooks.some((h) => `${h.key}.index` === set.index));
function lineCount(path: string): number {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "").length;
}
const answerers = (set: { index: string }) => {
  const own = handbooks.find((h) => `${h.key}.index` === set.index)!;
  return [
    ...(own.key === "18f"
      ? [
          { name: "reader", tag: "reader", args: ["--model", reader] },
          { name: "reader alone (--baseline-weight 0)", tag: "reader-alone", args: ["--model", reader, "--baseline-weight", "0"] },
        ]
      : [
          { name: `reader trained on ${own.name}`, tag: "reader-own", args: ["--model", own.reader] },
          { name: `reader trained on ${own.name}, alone`, tag: "reader-own-alone", args: ["--model", own.reader, "--baseline-weight", "0"] },
          ...(existsSync(join(reader, "reader.json")) ? [{ name: "reader trained on 18F", tag: "reader-18f", args: ["--model", reader] }] : []),
        ]),
    { name: "extractive baseline", tag: "baseline", args: [] as string[] },
  ];
};
const rows: string[] = [];
const pct = (x: number | null | undefined) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`);
for (const set of sets) {
  for (const a of answerers(set)) {
    const tag = `${set.name.split(" (")[0]!.replace(/\W+/g, "-")}-${a.tag}`;
    const s = JSON.parse(
      slm(`eval ${set.name}: ${a.name}`, [
        "eval",
        "qa",
        "--index",
        join(out, set.index),
        "--questions",
        set.q,
        ...(set.u ? ["--unanswerable", set.u] : []),
        ...a.args,
        "--json",
        "--out",
        join(out, "reports", tag),
      ]),
    ) as Summary;
    rows.push(
      `| ${set.name} | ${a.name} | ${pct(s.recall[s.answerMode]?.["@3"])} / ${pct(s.recall.hybrid?.["@3"])} | ${pct(s.accuracy)} | ${pct(s.citationCorrect)} | ${pct(s.falseNotFound)} | ${pct(s.unanswerable?.notFoundRate)} | ${s.latencyMs.mean.toFixed(0)} / ${s.latencyMs.p95.toFixed(0)} ms |`,
    );
  }
}
const trainS = times.filter((t) => t.training).reduce((a, t) => a + t.s, 0);
let info: Record<string, unknown> = {};
try {
  info = JSON.parse(readFileSync(join(reader, "reader.json"), "utf8"));
} catch {
  /* no reader */
}
console.log(
  `\nmachine: ${cpus().length} cores, load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(
      " ",
    )}; 18F reader ${String(info.params ?? "?")} parameters, ${String(info.steps ?? "?")} steps, synthetic validation accuracy@1 ${pct(info.valAccuracy as number | null)}`,
);
console.log("\n| step | wall time |\n|---|---|");
for (const t of times) console.log(`| ${t.step} | ${t.s.toFixed(1)} s |`);
if (trainS > 0) console.log(`| **18F: documents to trained reader, in all** | **${(trainS / 60).toFixed(1)} min** |`);
for (const h of handbooks.filter((x) => x.key !== "18f")) {
  const s = times.filter((t) => t.step.startsWith(`${h.name}:`)).reduce((a, t) => a + t.s, 0);
  if (s > 0) console.log(`| ${h.name}: documents to trained reader, in all | ${(s / 60).toFixed(1)} min |`);
}
console.log(
  "\n| set | answerer | recall@3 (answering retrieval / hybrid) | accuracy | cites gold | false not-found | unanswerable → not found | latency mean / p95 |\n|---|---|---|---|---|---|---|---|",
);
for (const r of rows) console.log(r);
