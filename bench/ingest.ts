// Ingestion throughput and memory: generates N MB of Markdown and text files
// (deterministic, streamed to a temp dir and reused between runs), ingests
// them in a fresh child process, and prints MB/s (wall clock and per CPU
// second, since a busy shared machine slows the wall clock) and peak RSS
// beside the targets (>= 20 MB/s for md/txt, peak RSS < 1 GB at 1 GB of input).
// The targets are printed as targets (met or not), never as a ratio: no run
// measured them. The measured baseline, in the same run and also in a fresh
// process, is a read-only pass over the same files (read each file, decode it
// as UTF-8, count its lines): what any ingester pays before doing any work, so
// `vsReadOnly` says how far ingestion is from the I/O floor on this machine now.
//   node --import tsx bench/ingest.ts [--size-mb 1024] [--tokenize] [--keep]
// --tokenize adds a byte-level stand-in tokenizer (ids = UTF-8 bytes, EOS 256).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { ingest } from "../src/data/ingest.ts";
import { Rng } from "../src/util/rng.ts";

const TARGET_MBPS = 20;
const TARGET_RSS_MB = 1024;
const FILE_BYTES = 1 << 20; // about 1 MB per generated file

function vocabulary(rng: Rng, n: number): string[] {
  const letters = "etaoinshrdlcumwfgypbvkjxqz";
  return Array.from({ length: n }, () => {
    const len = 2 + rng.int(8);
    let w = "";
    for (let i = 0; i < len; i++) w += letters[Math.min(25, Math.floor(-Math.log(1 - rng.uniform()) * 5))];
    return w;
  });
}

/** Writes about sizeMb MB of .md and .txt files into dir; every 40th file repeats an earlier one. */
function generate(dir: string, sizeMb: number, seed: number): void {
  const rng = new Rng(seed);
  const vocab = vocabulary(rng, 4000);
  const sentence = () => {
    const n = 8 + rng.int(14);
    let s = vocab[rng.int(vocab.length)];
    s = s[0].toUpperCase() + s.slice(1);
    for (let i = 1; i < n; i++) s += ` ${vocab[Math.floor(vocab.length * rng.uniform() ** 2)]}`;
    return s + (rng.int(10) === 0 ? "?" : ".");
  };
  const paragraph = () => Array.from({ length: 3 + rng.int(5) }, sentence).join(" ");
  const files = Math.max(1, Math.round((sizeMb * 1048576) / FILE_BYTES));
  const copies: string[] = [];
  for (let f = 0; f < files; f++) {
    const md = f % 2 === 0;
    const sub = join(dir, `part-${String(f % 16).padStart(2, "0")}`);
    mkdirSync(sub, { recursive: true });
    let body: string;
    if (f % 40 === 39 && copies.length > 0) body = copies[rng.int(copies.length)];
    else {
      const parts: string[] = [];
      let size = 0;
      let h = 0;
      if (md) parts.push(`---\ntitle: Generated page ${f}\n---\n`);
      while (size < FILE_BYTES) {
        let p: string;
        if (md && size % 7 === 0) p = `${"#".repeat(2 + (h++ % 3))} ${sentence().slice(0, 40)}`;
        else if (md && rng.int(8) === 0) p = Array.from({ length: 3 + rng.int(4) }, () => `- ${sentence()}`).join("\n");
        else p = paragraph();
        parts.push(p);
        size += p.length + 2;
      }
      parts.push("Generated for the slmkit ingestion benchmark. All rights reserved.");
      body = `${parts.join("\n\n")}\n`;
      if (copies.length < 8) copies.push(body);
    }
    writeFileSync(join(sub, `file-${String(f).padStart(5, "0")}.${md ? "md" : "txt"}`), body);
  }
  writeFileSync(join(dir, ".complete"), String(files));
}

async function child(src: string, out: string, tokenize: boolean): Promise<void> {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const m = await ingest({
    inputs: [src],
    out,
    cacheDir: null,
    tokenizer: tokenize ? { vocabSize: 257, eosId: 256, encode: (s) => Array.from(Buffer.from(s, "utf8")), save: () => undefined } : undefined,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(
    `${JSON.stringify({
      seconds,
      cpuSeconds,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      inputBytes: m.bytes.input,
      documents: m.counts.documents,
      sections: m.counts.sections,
      removals: m.removals,
      tokens: m.tokens,
    })}\n`,
  );
}

/** The baseline: reads every generated file, decodes it and counts its lines; nothing else. */
function readOnly(src: string): void {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let bytes = 0,
    lines = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((x, y) => (x.name < y.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".md") || e.name.endsWith(".txt")) {
        const buf = readFileSync(p);
        bytes += buf.length;
        const text = buf.toString("utf8");
        for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) lines++;
      }
    }
  };
  walk(src);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  process.stdout.write(`${JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, inputBytes: bytes, lines })}\n`);
}

const { values: a } = parseArgs({
  options: {
    "size-mb": { type: "string", default: "256" },
    tokenize: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    child: { type: "string" },
    out: { type: "string" },
    "read-only": { type: "boolean", default: false },
  },
});
if (a.child && a["read-only"]) {
  readOnly(a.child);
} else if (a.child) {
  await child(a.child, a.out!, a.tokenize!);
} else {
  const sizeMb = Number(a["size-mb"]);
  const src = join(tmpdir(), `slm-bench-ingest-${sizeMb}mb`);
  if (!existsSync(join(src, ".complete"))) {
    rmSync(src, { recursive: true, force: true });
    const g0 = Date.now();
    generate(src, sizeMb, 1234);
    process.stderr.write(`generated ${sizeMb} MB in ${((Date.now() - g0) / 1000).toFixed(1)} s at ${src}\n`);
  }
  const out = join(tmpdir(), `slm-bench-ingest-out-${process.pid}`);
  const self = fileURLToPath(import.meta.url);
  // The read-only baseline first, in its own fresh process, over the same files (so both runs find them in the page cache).
  const base = spawnSync(process.execPath, ["--import", "tsx", self, "--child", src, "--read-only"], { encoding: "utf8", maxBuffer: 1 << 20 });
  const r = spawnSync(process.execPath, ["--import", "tsx", self, "--child", src, "--out", out, ...(a.tokenize ? ["--tokenize"] : [])], {
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  rmSync(out, { recursive: true, force: true });
  if (!a.keep) rmSync(src, { recursive: true, force: true });
  for (const x of [base, r]) {
    if (x.status !== 0) {
      process.stderr.write(x.stderr);
      process.exit(1);
    }
  }
  const res = JSON.parse(r.stdout.trim().split("\n").pop()!);
  const ro = JSON.parse(base.stdout.trim().split("\n").pop()!);
  const mbps = res.inputBytes / 1048576 / res.seconds;
  const roMbps = ro.inputBytes / 1048576 / ro.seconds;
  console.log(
    JSON.stringify({
      bench: "ingest",
      sizeMb,
      tokenize: a.tokenize,
      seconds: Number(res.seconds.toFixed(2)),
      cpuSeconds: Number(res.cpuSeconds.toFixed(2)),
      mbPerSecond: Number(mbps.toFixed(1)),
      // Throughput per CPU-second: what the run gives on an idle machine (the pipeline is single-threaded).
      mbPerCpuSecond: Number((res.inputBytes / 1048576 / res.cpuSeconds).toFixed(1)),
      loadAverage: Number(loadavg()[0].toFixed(2)),
      // Measured in this run: the read-only pass over the same files (fresh process).
      baseline: {
        what: "read + UTF-8 decode + count lines, same files, fresh process",
        mbPerSecond: Number(roMbps.toFixed(1)),
        mbPerCpuSecond: Number((ro.inputBytes / 1048576 / ro.cpuSeconds).toFixed(1)),
      },
      vsReadOnly: Number((mbps / roMbps).toFixed(3)),
      // Targets (not measured): the goal the wall-clock figure is held to.
      targetMbPerSecond: TARGET_MBPS,
      meetsTarget: mbps >= TARGET_MBPS,
      peakRssMb: Math.round(res.maxRssMb),
      rssTargetMb: TARGET_RSS_MB,
      meetsRssTarget: res.maxRssMb < TARGET_RSS_MB,
      documents: res.documents,
      sections: res.sections,
      removals: res.removals,
      tokens: res.tokens,
    }),
  );
}
