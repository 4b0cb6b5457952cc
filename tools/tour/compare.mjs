#!/usr/bin/env node
// Compares two tour runs made by tools/tour/run.sh (e.g. before and after a
// restructuring) and prints a readable report of what differs: per step the
// exit code, stdout and stderr, and the files the step wrote. What varies
// from run to run on its own is normalised away first: durations, rates,
// ETAs, dates, memory figures, the run's own directories and temp paths.
// JSON is compared field by field with such fields masked by name; a
// safetensors file tensor by tensor, an index through `sqlite3 .dump`, the
// distillation teacher cache by header and records. Differences recorded
// with their reason in a --known file are listed apart from new ones.
//
// It does not know what the outputs should be, only whether two runs agree.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const USAGE = `Usage: node tools/tour/compare.mjs [options] A B

Compares two tour directories written by tools/tour/run.sh (A: before, B: after)
and prints every difference left after normalising what varies between runs
(durations, rates, ETAs, dates, memory, the runs' own paths, temp paths).
Steps are matched by name. Exit code 0 when the runs agree (or differ only as
the --known file explains), 1 when they differ otherwise, 2 on a usage error.

Options:
  --known FILE        differences already explained (e.g. tools/tour/known-differences.json):
                      a step whose differences are exactly the recorded ones is listed with
                      its reason instead of as a new difference
  --show-known        print the known differences' lines too
  --write-known FILE  write every differing step's lines to FILE (reasons kept from --known,
                      else TODO) to record a comparison once its differences are explained
  --max-lines N       most diff lines shown per output or file (default 40)
  --quiet             no diff lines, only what differs

Example (BEFORE: a worktree of the older commit, see tools/tour/run.sh --help):
  tools/tour/run.sh --repo BEFORE /tmp/tour/before && tools/tour/run.sh /tmp/tour/after
  node tools/tour/compare.mjs --known tools/tour/known-differences.json /tmp/tour/before /tmp/tour/after
`;

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const opts = { maxLines: 40, quiet: false, known: undefined, writeKnown: undefined, showKnown: false, dirs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (a === "--max-lines") {
      opts.maxLines = Number(argv[++i]);
      if (!Number.isInteger(opts.maxLines) || opts.maxLines < 0) usageError("--max-lines takes a whole number");
    } else if (a === "--quiet") opts.quiet = true;
    else if (a === "--known") opts.known = argv[++i] ?? usageError("--known takes a file");
    else if (a === "--write-known") opts.writeKnown = argv[++i] ?? usageError("--write-known takes a file");
    else if (a === "--show-known") opts.showKnown = true;
    else if (a.startsWith("-")) usageError(`unknown option ${a}`);
    else opts.dirs.push(a);
  }
  if (opts.dirs.length !== 2) usageError("give two tour directories, A and B");
  for (const d of opts.dirs) {
    if (!existsSync(join(d, "steps.tsv"))) usageError(`${d} has no steps.tsv (not a directory written by tools/tour/run.sh)`);
  }
  return opts;
}

function usageError(message) {
  process.stderr.write(`compare.mjs: ${message}\n\n${USAGE}`);
  process.exit(2);
}

// ---------------------------------------------------------------- reading a run

function readTsv(file) {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => l.split("\t"));
}

function readRun(dir) {
  const meta = Object.fromEntries(readTsv(join(dir, "meta.txt")).map(([k, ...v]) => [k, v.join("\t")]));
  const steps = new Map();
  for (const [n, name, rc, seconds] of readTsv(join(dir, "steps.tsv")).slice(1)) {
    const base = join(dir, `${n.padStart(3, "0")}-${name}`);
    const read = (ext) => (existsSync(base + ext) ? readFileSync(base + ext, "utf8") : "");
    const files = readTsv(`${base}.files`).map(([path, size, sha]) => ({ path, size: Number(size), sha }));
    const rcFile = read(".rc").trim();
    steps.set(name, { n: Number(n), name, rc: rcFile || rc, seconds: Number(seconds), cmd: read(".cmd").trim(), out: read(".out"), err: read(".err"), files });
  }
  return { dir, meta, steps, work: join(dir, "work") };
}

// ---------------------------------------------------------------- normalising

/** JSON keys whose values vary between identical runs (timings, rates, memory, dates). */
const VARYING_KEY =
  /^(ms|seconds|createdAt|created_at|timestamp|date)$|^(elapsed|eta)([A-Z_]\w*)?$|Ms$|Seconds$|(PerS|elapsedS|_s)$|(PerSec|_per_sec)$|Rss|rss|^latency/;

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Replaces the run's own directories and leftover temp paths by placeholders. */
function normalisePaths(text, run) {
  let t = text;
  const pairs = [
    [run.meta.out && join(run.meta.out, "work"), "<WORK>"],
    [run.meta.out, "<OUT>"],
    [run.meta.repo, "<REPO>"],
  ];
  for (const [path, mark] of pairs) if (path) t = t.replace(new RegExp(escapeRegExp(path), "g"), mark);
  t = t.replace(/\/tmp\/[^\s"'`)\]]+/g, "<TMP>");
  t = t.replace(/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?\b/g, "<DATE>");
  return t;
}

/** Durations and rates in human-readable lines ("in 42.7s (1.4k tok/s)", "eta 3.0s", "10 ms"). */
function normaliseTimings(line) {
  return line
    .replace(/\b\d+(\.\d+)?\s?[kKMG]?\s?(tok|tokens|B|MB|GB|KB|it|pairs|steps|q|questions|docs|files|ex|examples)\/s\b/g, "<RATE>")
    .replace(/\beta\s+\S+/gi, "eta <DUR>")
    .replace(/\b\d+(\.\d+)?\s?(ms|s|min|h)\b/g, "<DUR>")
    .replace(/\b\d+m\d+(\.\d+)?s\b/g, "<DUR>")
    .replace(/\b(peak|max)( RSS| memory)?:? \d+(\.\d+)? ?(MB|MiB|GB|GiB)\b/gi, "$1$2 <MEM>")
    .replace(/\bRSS \d+(\.\d+)? ?(MB|MiB|GB|GiB)\b/g, "RSS <MEM>")
    .replace(/latency.*/i, (rest) => rest.replace(/\d+(\.\d+)?/g, "<N>"));
}

function maskJson(value) {
  if (Array.isArray(value)) return value.map(maskJson);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = VARYING_KEY.test(k) && v !== null ? "<varies>" : maskJson(v);
    return out;
  }
  return value;
}

function parseJsonLine(line) {
  const s = line.trim();
  if (!(s.startsWith("{") || s.startsWith("["))) return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/**
 * Lines of a text with paths, dates and (unless timings is false: help texts, whose "90s" is
 * text) timings normalised; JSON (whole, or line by line) masked by key.
 */
function normalise(text, run, { timings = true } = {}) {
  const t = normalisePaths(text, run);
  if (/^\s*[{[]/.test(t) && t.includes("\n")) {
    try {
      return JSON.stringify(maskJson(JSON.parse(t)), null, 2).split("\n");
    } catch {
      // Not one JSON document: JSON lines or text, below.
    }
  }
  const lines = t.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.map((line) => {
    const parsed = parseJsonLine(line);
    if (parsed !== undefined) return JSON.stringify(maskJson(parsed));
    return timings ? normaliseTimings(line) : line;
  });
}

// ---------------------------------------------------------------- diffing

/** Line diff by longest common subsequence: [{op: "=", "-", "+", line}]. */
function diffLines(a, b) {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) endA--, endB--;
  const ma = a.slice(start, endA);
  const mb = b.slice(start, endB);
  const ops = a.slice(0, start).map((line) => ({ op: "=", line }));
  if (ma.length * mb.length > 4_000_000) {
    // Too large for the table: removed then added.
    for (const line of ma) ops.push({ op: "-", line });
    for (const line of mb) ops.push({ op: "+", line });
  } else {
    const w = mb.length + 1;
    const lcs = new Uint32Array((ma.length + 1) * w);
    for (let i = ma.length - 1; i >= 0; i--) {
      for (let j = mb.length - 1; j >= 0; j--) {
        lcs[i * w + j] = ma[i] === mb[j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < ma.length || j < mb.length) {
      if (i < ma.length && j < mb.length && ma[i] === mb[j]) ops.push({ op: "=", line: ma[i++] }), j++;
      else if (i < ma.length && (j === mb.length || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])) ops.push({ op: "-", line: ma[i++] });
      else ops.push({ op: "+", line: mb[j++] });
    }
  }
  for (const line of a.slice(endA)) ops.push({ op: "=", line });
  return ops;
}

/** Field-level differences of two JSON values: ["path: a → b"]. */
function jsonFieldDiffs(a, b, path = "") {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const bothObjects = a && b && typeof a === "object" && typeof b === "object" && Array.isArray(a) === Array.isArray(b);
  if (!bothObjects) return [`${path || "(value)"}: ${short(a)} → ${short(b)}`];
  const out = [];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  for (const k of keys) {
    const p = path ? `${path}.${k}` : k;
    if (!(k in b)) out.push(`${p}: removed (was ${short(a[k])})`);
    else if (!(k in a)) out.push(`${p}: added (${short(b[k])})`);
    else out.push(...jsonFieldDiffs(a[k], b[k], p));
  }
  if (!Array.isArray(a) && out.length === 0) out.push(`${path || "(object)"}: same fields, other order`);
  return out;
}

function short(v) {
  const s = v === undefined ? "undefined" : JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/** Readable lines for a diff: removed/added lines, and for paired JSON lines the fields that changed. */
function describeDiff(ops, maxLines) {
  const lines = [];
  let changed = 0;
  for (let k = 0; k < ops.length; k++) {
    if (ops[k].op === "=") continue;
    // A run of removals followed by a run of additions: pair them up.
    const removed = [];
    const added = [];
    while (k < ops.length && ops[k].op === "-") removed.push(ops[k++].line);
    while (k < ops.length && ops[k].op === "+") added.push(ops[k++].line);
    k--;
    changed += Math.max(removed.length, added.length);
    for (let i = 0; i < Math.max(removed.length, added.length); i++) {
      const a = removed[i];
      const b = added[i];
      const ja = a === undefined ? undefined : parseJsonLine(a);
      const jb = b === undefined ? undefined : parseJsonLine(b);
      if (ja !== undefined && jb !== undefined) {
        const label = ja.type ?? jb.type;
        for (const d of jsonFieldDiffs(ja, jb)) lines.push(`  ~ ${label ? `{type:${label}} ` : ""}${d}`);
      } else {
        if (a !== undefined) lines.push(`  - ${clip(a)}`);
        if (b !== undefined) lines.push(`  + ${clip(b)}`);
      }
    }
  }
  const shown = lines.slice(0, maxLines);
  if (lines.length > maxLines) shown.push(`  … ${lines.length - maxLines} more diff lines`);
  return { changed, lines: shown };
}

function clip(s) {
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}

// ---------------------------------------------------------------- files

const TEXT_FILE = /\.(json|jsonl|html|txt|md|tsv|csv)$/;

function readWorkFile(run, path) {
  const p = join(run.work, path);
  return existsSync(p) ? readFileSync(p) : undefined;
}

/** Tensor by tensor comparison of two safetensors files (dtype, shape, bytes; F32 max |a-b|). */
function compareSafetensors(bufA, bufB) {
  const header = (buf) => {
    const n = Number(buf.readBigUInt64LE(0));
    return { json: JSON.parse(buf.subarray(8, 8 + n).toString("utf8")), base: 8 + n };
  };
  let ha;
  let hb;
  try {
    ha = header(bufA);
    hb = header(bufB);
  } catch {
    return ["not readable as safetensors"];
  }
  const names = (h) => Object.keys(h.json).filter((k) => k !== "__metadata__");
  const out = [];
  const na = names(ha);
  const nb = names(hb);
  const onlyA = na.filter((k) => !(k in hb.json));
  const onlyB = nb.filter((k) => !(k in ha.json));
  if (onlyA.length) out.push(`tensors only in A: ${onlyA.join(", ")}`);
  if (onlyB.length) out.push(`tensors only in B: ${onlyB.join(", ")}`);
  if (JSON.stringify(ha.json.__metadata__ ?? null) !== JSON.stringify(hb.json.__metadata__ ?? null)) {
    out.push(`metadata: ${short(ha.json.__metadata__)} → ${short(hb.json.__metadata__)}`);
  }
  let same = 0;
  const differ = [];
  for (const k of na.filter((x) => x in hb.json)) {
    const ta = ha.json[k];
    const tb = hb.json[k];
    if (ta.dtype !== tb.dtype || JSON.stringify(ta.shape) !== JSON.stringify(tb.shape)) {
      differ.push(`${k}: ${ta.dtype}${JSON.stringify(ta.shape)} → ${tb.dtype}${JSON.stringify(tb.shape)}`);
      continue;
    }
    const da = bufA.subarray(ha.base + ta.data_offsets[0], ha.base + ta.data_offsets[1]);
    const db = bufB.subarray(hb.base + tb.data_offsets[0], hb.base + tb.data_offsets[1]);
    if (da.equals(db)) {
      same++;
      continue;
    }
    let detail = "bytes differ";
    if (ta.dtype === "F32") {
      const fa = new Float32Array(da.buffer.slice(da.byteOffset, da.byteOffset + da.byteLength));
      const fb = new Float32Array(db.buffer.slice(db.byteOffset, db.byteOffset + db.byteLength));
      let max = 0;
      let count = 0;
      for (let i = 0; i < fa.length; i++) {
        const d = Math.abs(fa[i] - fb[i]);
        if (fa[i] !== fb[i]) count++;
        if (d > max || Number.isNaN(d)) max = d;
      }
      detail = `${count} of ${fa.length} values differ, max |A-B| ${max.toExponential(2)}`;
    }
    differ.push(`${k}: ${detail}`);
  }
  if (differ.length === 0 && out.length === 0) out.push("tensors identical (header or padding differs)");
  else if (differ.length > 0) out.push(`${differ.length} of ${same + differ.length} common tensors differ`, ...differ.slice(0, 6).map((d) => `  ${d}`));
  if (differ.length > 6) out.push(`  … ${differ.length - 6} more`);
  return out;
}

/** The distillation teacher cache (src/train/teacher-cache.ts): a JSON header naming the teacher's path, then records. */
function compareTeacherCache(a, b, A, B) {
  const split = (buf, run) => {
    const len = buf.readUInt32LE(8);
    const header = normalisePaths(buf.subarray(12, 12 + len).toString("utf8"), run);
    return { version: buf.readUInt32LE(4), header, body: buf.subarray((12 + len + 7) & ~7) };
  };
  const ca = split(a, A);
  const cb = split(b, B);
  const out = [];
  if (ca.version !== cb.version) out.push(`version ${ca.version} → ${cb.version}`);
  // dataset.fingerprint hashes the dataset's manifest.json, which records when it was made: it varies.
  const header = (h) => {
    const j = JSON.parse(h);
    if (j.dataset?.fingerprint) j.dataset.fingerprint = "<varies>";
    return j;
  };
  out.push(...jsonFieldDiffs(header(ca.header), header(cb.header)).map((d) => `header ${d}`));
  if (!ca.body.equals(cb.body)) out.push(`records differ (${ca.body.length} → ${cb.body.length} bytes, first at byte ${firstDifference(ca.body, cb.body)})`);
  return out.length === 0 ? ["same after normalising (timings, paths, dates)"] : [`teacher cache: ${out[0]}`, ...out.slice(1)];
}

function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Lines describing how one file differs between the runs (hashes already differ). */
function describeFile(path, A, B, maxLines) {
  const a = readWorkFile(A, path);
  const b = readWorkFile(B, path);
  if (!a || !b) return ["(no longer in work/ to compare)"];
  if (TEXT_FILE.test(path)) {
    const { changed, lines } = describeDiff(diffLines(normalise(a.toString("utf8"), A), normalise(b.toString("utf8"), B)), maxLines);
    if (changed === 0) return ["same after normalising (timings, paths, dates)"];
    return [`${changed} line(s) differ after normalising`, ...lines];
  }
  if (path.endsWith(".safetensors")) return compareSafetensors(a, b);
  if (a.subarray(0, 4).toString("latin1") === "SLTK" && b.subarray(0, 4).toString("latin1") === "SLTK") return compareTeacherCache(a, b, A, B);
  if (a.subarray(0, 16).toString("latin1") === "SQLite format 3\0") {
    const dump = (run) => spawnSync("sqlite3", [join(run.work, path), ".dump"], { encoding: "utf8", maxBuffer: 1 << 30 });
    const da = dump(A);
    const db = dump(B);
    if (da.status === 0 && db.status === 0) {
      const { changed, lines } = describeDiff(diffLines(normalise(da.stdout, A), normalise(db.stdout, B)), maxLines);
      if (changed === 0) return ["same after normalising (timings, paths, dates)"];
      return [`SQLite: ${changed} line(s) of \`sqlite3 .dump\` differ after normalising`, ...lines];
    }
  }
  return [`binary: ${a.length} → ${b.length} bytes, first difference at byte ${firstDifference(a, b)}`];
}

// ---------------------------------------------------------------- report

/** What differs in one step, as report lines (diff excerpts cut at maxLines each). */
function stepReport(sa, sb, A, B, maxLines) {
  const report = [];
  if (sa.rc !== sb.rc) report.push(`exit code: ${sa.rc} → ${sb.rc}`);
  const cmdA = normalisePaths(sa.cmd, A);
  const cmdB = normalisePaths(sb.cmd, B);
  if (cmdA !== cmdB) report.push(`command: ${cmdA} → ${cmdB}`);
  for (const stream of ["out", "err"]) {
    const timings = !/^(help|version)/.test(sa.name);
    const { changed, lines } = describeDiff(diffLines(normalise(sa[stream], A, { timings }), normalise(sb[stream], B, { timings })), maxLines);
    if (changed > 0) report.push(`std${stream}: ${changed} line(s) differ`, ...lines);
  }
  const filesA = new Map(sa.files.map((f) => [f.path, f]));
  const filesB = new Map(sb.files.map((f) => [f.path, f]));
  const wroteOnlyA = [...filesA.keys()].filter((p) => !filesB.has(p));
  const wroteOnlyB = [...filesB.keys()].filter((p) => !filesA.has(p));
  if (wroteOnlyA.length) report.push(`files written only in A: ${wroteOnlyA.join(", ")}`);
  if (wroteOnlyB.length) report.push(`files written only in B: ${wroteOnlyB.join(", ")}`);
  let identical = 0;
  let normalisedSame = 0;
  for (const [path, fa] of filesA) {
    const fb = filesB.get(path);
    if (!fb) continue;
    if (fa.sha === fb.sha) {
      identical++;
      continue;
    }
    const detail = describeFile(path, A, B, maxLines);
    if (detail.length === 1 && detail[0].startsWith("same after normalising")) {
      normalisedSame++;
      continue;
    }
    report.push(`file ${path} (${fa.size} → ${fb.size} bytes): ${detail[0]}`, ...detail.slice(1).map((l) => `  ${l}`));
  }
  return { report, identical, normalisedSame };
}

/**
 * Known differences (--known FILE): {"steps": {NAME: {"reason": "…", "diff": [report lines]}}}.
 * A step whose whole report equals the recorded one is explained by its reason; any other
 * change in that step shows as new.
 */
function readKnown(file) {
  if (!file) return {};
  let json;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    usageError(`--known ${file}: ${e.message}`);
  }
  if (!json || typeof json.steps !== "object") usageError(`--known ${file}: expected {"steps": {NAME: {"reason", "diff"}}}`);
  return json.steps;
}

function compare(opts) {
  const [A, B] = opts.dirs.map(readRun);
  const known = readKnown(opts.known);
  const say = (s = "") => process.stdout.write(`${s}\n`);
  const names = [...A.steps.keys()];
  for (const k of B.steps.keys()) if (!A.steps.has(k)) names.push(k);
  names.sort((x, y) => (A.steps.get(x)?.n ?? B.steps.get(x).n + 0.5) - (A.steps.get(y)?.n ?? B.steps.get(y).n + 0.5));

  say("Tour comparison");
  for (const [label, run] of [
    ["A", A],
    ["B", B],
  ]) {
    say(`  ${label}: ${run.dir}  repo ${run.meta.repo ?? "?"}  commit ${(run.meta.commit ?? "?").slice(0, 12)}  (${run.meta.dirty ?? "?"})`);
  }
  say("  normalised: durations, rates, ETAs, dates, memory figures, the runs' own paths, temp paths;");
  say(`  JSON fields masked by name: ${VARYING_KEY.source}`);
  if (opts.known) say(`  known differences: ${opts.known}`);
  say();

  const same = [];
  const differ = [];
  const explained = [];
  const record = {};
  const onlyA = [];
  const onlyB = [];
  for (const name of names) {
    const sa = A.steps.get(name);
    const sb = B.steps.get(name);
    if (!sa || !sb) {
      (sa ? onlyA : onlyB).push(name);
      continue;
    }
    const full = stepReport(sa, sb, A, B, Number.POSITIVE_INFINITY);
    if (full.report.length === 0) {
      const filesNote = sa.files.length === 0 ? "" : ` (files: ${full.identical} byte-identical, ${full.normalisedSame} same after normalising)`;
      same.push(`${name}${filesNote}`);
      continue;
    }
    const k = known[name];
    record[name] = { reason: k?.reason ?? "TODO: say why (the commit or issue that changed it), or call it a regression", diff: full.report };
    const header = `${name}: ${normalisePaths(sb.cmd, B)}`;
    if (k && JSON.stringify(k.diff) === JSON.stringify(full.report)) {
      explained.push([header, k.reason, full.report]);
      continue;
    }
    const shown = stepReport(sa, sb, A, B, opts.maxLines).report;
    differ.push([header, k ? [`(differs from the known difference recorded for this step: ${k.reason})`, ...shown] : shown]);
  }

  for (const [header, report] of differ) {
    say(`== ${header}`);
    for (const l of opts.quiet ? report.filter((x) => !x.startsWith(" ")) : report) say(`  ${l}`);
    say();
  }
  if (explained.length) {
    say(`Known differences (${opts.known}): ${explained.length}`);
    for (const [header, reason, report] of explained) {
      say(`  ${header.split(":")[0]}: ${reason}`);
      if (opts.showKnown) for (const l of report) say(`      ${l}`);
    }
    say();
  }
  if (onlyA.length) say(`Steps only in A: ${onlyA.join(", ")}`);
  if (onlyB.length) say(`Steps only in B: ${onlyB.join(", ")}`);
  say(`Steps the same in both: ${same.length}`);
  for (const s of same) say(`  ${s}`);
  say();
  if (opts.writeKnown) {
    writeAtomic(opts.writeKnown, `${JSON.stringify({ a: A.meta.commit, b: B.meta.commit, steps: record }, null, 2)}\n`);
    say(`Wrote the ${Object.keys(record).length} differing steps to ${opts.writeKnown} (fill in each reason).`);
  }
  say(
    `Summary: ${names.length} steps; ${same.length} same, ${explained.length} known differences, ${differ.length} new differences, ` +
      `${onlyA.length} only in A, ${onlyB.length} only in B.`,
  );
  return differ.length + onlyA.length + onlyB.length === 0 ? 0 : 1;
}

function writeAtomic(file, text) {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

process.exitCode = compare(parseArgs(process.argv.slice(2)));
