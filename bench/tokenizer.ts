// Tokenizer benchmark: encode throughput of ours vs js-tiktoken (same text,
// same vocabulary, same process) and BPE training speed / peak RSS on the
// 18F handbook and on generated text (25 MB and 100 MB, streamed from a
// seeded word model, never held in memory). Each case runs in a fresh child
// process. Usage: node --import tsx bench/tokenizer.ts [--json] [--quick]
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

import { Rng } from "../src/util/rng.ts";
import { listInputFiles, trainBpe } from "../src/tokenizer/train.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// ../shared from the repo root (CI); from a git worktree under /work/wt, two levels up.
const handbook =
  [join(root, "..", "shared"), join(root, "..", "..", "shared")].map((d) => join(d, "corpora", "18f-handbook", "pages")).find((d) => existsSync(d)) ??
  join(root, "..", "shared", "corpora", "18f-handbook", "pages");

interface Row {
  case: string;
  [k: string]: unknown;
}

/** Deterministic text from a seeded word model: Zipf-distributed words from syllables, sentences, paragraphs. */
async function* generated(totalBytes: number, seed = 1): AsyncGenerator<string> {
  const rng = new Rng(seed);
  const syll = ["ka", "to", "ri", "men", "sa", "lo", "vi", "nex", "da", "po", "ur", "el", "qua", "zi", "ber", "ton", "ish", "ga"];
  const words: string[] = [];
  for (let i = 0; i < 20000; i++) {
    let w = "";
    const n = 1 + rng.int(4);
    for (let k = 0; k < n; k++) w += syll[rng.int(syll.length)];
    words.push(w);
  }
  const cdf: number[] = [];
  let acc = 0;
  for (let i = 0; i < words.length; i++) cdf.push((acc += 1 / (i + 1)));
  const pick = () => {
    const x = rng.uniform() * acc;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return words[lo]!;
  };
  let made = 0;
  while (made < totalBytes) {
    let doc = "";
    while (doc.length < 8192) {
      const n = 5 + rng.int(15);
      let s = pick();
      s = s[0]!.toUpperCase() + s.slice(1);
      for (let i = 1; i < n; i++) s += (rng.int(12) === 0 ? ", " : " ") + pick();
      doc += s + (rng.int(6) === 0 ? ".\n\n" : ". ") + (rng.int(20) === 0 ? `${rng.int(100000)} ` : "");
    }
    made += doc.length;
    yield doc;
  }
}

function readHandbook(): string | null {
  if (!existsSync(handbook)) return null;
  return listInputFiles([handbook])
    .map((f) => readFileSync(f, "utf8"))
    .join("\n");
}

async function runCase(name: string): Promise<Row> {
  if (name.startsWith("encode-")) {
    const [, enc, which] = name.split("-") as [string, "cl100k_base" | "o200k_base", "mixed" | "handbook"];
    const { loadTiktoken, mixedSample } = await import("../test/tokenizer/loaders.ts");
    const { getEncoding } = await import("js-tiktoken");
    let text: string;
    if (which === "mixed") {
      const s = mixedSample();
      text = s.repeat(Math.ceil(5_000_000 / s.length));
    } else {
      const h = readHandbook();
      if (h === null) return { case: name, skipped: "no handbook corpus" };
      text = h.repeat(Math.max(1, Math.ceil(5_000_000 / h.length)));
    }
    const mb = Buffer.byteLength(text) / 1e6;
    const ours = loadTiktoken(enc);
    const ref = getEncoding(enc);
    const warm = text.slice(0, 200_000);
    ours.encode(warm, { allowedSpecial: "none" });
    ref.encode(warm, [], []);
    const time = (f: () => number[]) => {
      const t0 = performance.now();
      const ids = f();
      return { s: (performance.now() - t0) / 1000, n: ids.length, ids };
    };
    const a = time(() => ours.encode(text, { allowedSpecial: "none" }));
    const b = time(() => ref.encode(text, [], []));
    const same = a.n === b.n && a.ids.every((x, i) => x === b.ids[i]);
    return {
      case: name,
      MB: +mb.toFixed(2),
      oursMBs: +(mb / a.s).toFixed(2),
      tiktokenMBs: +(mb / b.s).toFixed(2),
      ratio: +(b.s / a.s).toFixed(2),
      identicalIds: same,
    };
  }
  if (name.startsWith("train-")) {
    const what = name.slice(6);
    const t0 = performance.now();
    let mb: number;
    let source: string[] | AsyncIterable<string>;
    if (what === "handbook") {
      if (!existsSync(handbook)) return { case: name, skipped: "no handbook corpus" };
      source = [handbook];
      mb = listInputFiles([handbook]).reduce((s, f) => s + readFileSync(f).length, 0) / 1e6;
    } else {
      mb = Number(what.replace("MB", ""));
      source = generated(mb * 1e6);
    }
    let countDone = 0;
    const tok = await trainBpe(source, {
      vocabSize: 16384,
      onProgress: (p) => {
        if (p.phase === "merge" && countDone === 0) countDone = performance.now();
      },
    });
    const s = (performance.now() - t0) / 1000;
    const countS = ((countDone || performance.now()) - t0) / 1000;
    return {
      case: name,
      MB: +mb.toFixed(1),
      vocab: tok.vocabSize,
      seconds: +s.toFixed(1),
      countMBs: +(mb / countS).toFixed(2),
      overallMBs: +(mb / s).toFixed(2),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  }
  throw new Error(`unknown case ${name}`);
}

const args = process.argv.slice(2);
const caseIdx = args.indexOf("--case");
if (caseIdx >= 0) {
  const row = await runCase(args[caseIdx + 1]!);
  process.stdout.write(`${JSON.stringify(row)}\n`);
} else {
  const json = args.includes("--json");
  const cases = [
    "encode-cl100k_base-mixed",
    "encode-o200k_base-mixed",
    "encode-cl100k_base-handbook",
    "encode-o200k_base-handbook",
    "train-handbook",
    "train-25MB",
    "train-100MB",
  ];
  const quick = args.includes("--quick");
  for (const c of quick ? cases.slice(0, 5) : cases) {
    const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--case", c], { encoding: "utf8", maxBuffer: 1 << 24 });
    const line = r.stdout.trim().split("\n").pop() ?? "";
    let row: Row;
    try {
      row = JSON.parse(line);
    } catch {
      row = { case: c, error: (r.stderr || r.stdout).slice(-500) };
    }
    if (json) process.stdout.write(`${JSON.stringify(row)}\n`);
    else
      process.stdout.write(
        `${Object.entries(row)
          .map(([k, v]) => `${k}=${v}`)
          .join("  ")}\n`,
      );
  }
}
