// The `slm pull` acceptance run, against the fake Hub on 127.0.0.1 (no
// network): a ~55 MB sharded safetensors repository (a random Llama, d 384,
// 6 layers, vocab 8192, three F32 shards) pulled by the real CLI (node
// bin/slm.js, in child processes, HF_HOME in a temp directory):
//   0. the baseline: `slm --version` (process start-up, which every step pays);
//   1. a clean pull (time and MB/s over loopback);
//   2. a connection cut at 60% of the repository's bytes: the same run retries
//      with a Range request; bytes sent twice are counted;
//   3. the client killed (SIGKILL) at 60%, then pulled again: the second run
//      resumes from blobs/<etag>.incomplete;
//   4. one flipped byte: caught by the sha256 check and the shard fetched again;
//   5. a second pull of a complete cache: requests made, file bodies among them;
//   6. the pulled model, loaded by org/name: `slm generate --model bench/pull55`.
// Prints a table and one JSON line.
//
//   node --import tsx bench/pull.ts
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { FakeHub, filesOfDir, shardModelDir, tinyModel } from "../src/formats/hub/testing.ts";
import { saveModelDir } from "../src/formats/hf-dir.ts";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const work = mkdtempSync(join(tmpdir(), "slm-bench-pull-"));
const ID = "bench/pull55";

function slm(
  args: string[],
  env: Record<string, string>,
  onSpawn?: (kill: () => void) => void,
): Promise<{ code: number | null; signal: string | null; out: string; err: string; ms: number }> {
  return new Promise((res) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [join(repoRoot, "bin", "slm.js"), ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    onSpawn?.(() => child.kill("SIGKILL"));
    child.on("close", (code, signal) => res({ code, signal, out, err, ms: performance.now() - t0 }));
  });
}

const mb = (b: number) => +(b / 1048576).toFixed(2);
const sha256 = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");

try {
  // The repository.
  const src = join(work, "src");
  const model = tinyModel("llama", 7, {
    dModel: 384,
    nLayers: 6,
    nHeads: 6,
    nKvHeads: 6,
    headDim: 64,
    ffnDim: 1024,
    maxSeqLen: 256,
    vocabSize: 8192,
    tieEmbeddings: true,
  });
  saveModelDir(src, model);
  shardModelDir(src, 3);
  const files = filesOfDir(src);
  const hub = await FakeHub.start([{ id: ID, revisions: { main: files } }]);
  const shardNames = Object.keys(files)
    .filter((f) => f.endsWith(".safetensors"))
    .sort();
  const sizes = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, (v as Uint8Array).length]));
  const total = Object.values(sizes).reduce((a, b) => a + b, 0);
  // The file and offset at 60% of the repository's bytes, in the order a pull fetches (the listing's order).
  const order = Object.keys(files).sort();
  let acc = 0;
  let cutFile = "",
    cutAt = 0;
  for (const f of order) {
    if (acc + sizes[f]! >= 0.6 * total) {
      cutFile = f;
      cutAt = Math.floor(0.6 * total - acc);
      break;
    }
    acc += sizes[f]!;
  }
  const cdnPath = (f: string) => `/cdn/${sha256(files[f] as Uint8Array)}`;
  // Bytes of file bodies sent since a mark (the metadata listing, ~1 kB a pull, is not counted).
  const sentSince = (mark: number) =>
    hub.requests
      .slice(mark)
      .filter((r) => r.path.startsWith("/cdn/") || r.path.includes("/resolve/"))
      .reduce((a, r) => a + r.sent, 0);
  const envFor = (name: string) => ({ HF_HOME: join(work, name), HF_ENDPOINT: hub.url, HF_HUB_OFFLINE: "", HF_TOKEN: "" });
  const rows: Array<Record<string, unknown>> = [];

  // 0. the baseline: starting the CLI at all (node + tsx + our modules)
  const startup = await slm(["--version"], envFor("none"));
  rows.push({ step: "baseline: slm --version", seconds: +(startup.ms / 1000).toFixed(2) });

  // 1. clean pull
  let mark = hub.requests.length;
  const clean = await slm(["pull", ID], envFor("clean"));
  if (clean.code !== 0) throw new Error(`clean pull failed: ${clean.err}`);
  rows.push({
    step: "clean pull",
    seconds: +(clean.ms / 1000).toFixed(2),
    sentMB: mb(sentSince(mark)),
    repoMB: mb(total),
    MBps: +(mb(total) / (clean.ms / 1000)).toFixed(1),
  });

  // 2. a cut at 60%, resumed in the same run
  mark = hub.requests.length;
  hub.cutOnce(cdnPath(cutFile), cutAt);
  const cut = await slm(["pull", ID], envFor("cut"));
  if (cut.code !== 0) throw new Error(`pull with a cut failed: ${cut.err}`);
  const cutReqs = hub.requests.slice(mark).filter((r) => r.path === cdnPath(cutFile));
  rows.push({
    step: `cut at 60% (${cutFile} byte ${cutAt})`,
    seconds: +(cut.ms / 1000).toFixed(2),
    sentMB: mb(sentSince(mark)),
    reDownloadedBytes: sentSince(mark) - total,
    resumedWith: cutReqs[1]?.range ?? "none",
  });

  // 3. the client killed at 60%, then a second run
  mark = hub.requests.length;
  let kill: () => void = () => {};
  hub.stallOnce(cdnPath(cutFile), cutAt, () => setTimeout(() => kill(), 50));
  const killed = await slm(["pull", ID], envFor("killed"), (k) => (kill = k));
  const before = sentSince(mark);
  const mark2 = hub.requests.length;
  const resumed = await slm(["pull", ID], envFor("killed"));
  if (resumed.code !== 0) throw new Error(`resumed pull failed: ${resumed.err}`);
  const resumedReq = hub.requests.slice(mark2).find((r) => r.path === cdnPath(cutFile));
  rows.push({
    step: "killed at 60%, run again",
    firstRun: `${killed.signal ?? killed.code} after ${mb(before)} MB`,
    seconds: +(resumed.ms / 1000).toFixed(2),
    secondRunSentMB: mb(sentSince(mark2)),
    reDownloadedBytes: before + sentSince(mark2) - total,
    resumedWith: resumedReq?.range ?? "none",
  });

  // 4. a flipped byte
  mark = hub.requests.length;
  hub.flipOnce(cdnPath(shardNames[1]!));
  const flip = await slm(["pull", ID], envFor("flip"));
  if (flip.code !== 0) throw new Error(`pull with a flipped byte failed: ${flip.err}`);
  const blob = readFileSync(join(work, "flip", "hub", "models--bench--pull55", "snapshots", hub.commit(ID), shardNames[1]!));
  rows.push({
    step: `flipped byte in ${shardNames[1]}`,
    seconds: +(flip.ms / 1000).toFixed(2),
    detected: /checksum mismatch/.test(flip.err),
    sentMB: mb(sentSince(mark)),
    extraMB: mb(sentSince(mark) - total),
    blobVerified: sha256(blob) === sha256(files[shardNames[1]!] as Uint8Array),
  });

  // 5. a second pull of a complete cache
  mark = hub.requests.length;
  const second = await slm(["pull", ID], envFor("clean"));
  const reqs = hub.requests.slice(mark);
  rows.push({
    step: "second pull",
    seconds: +(second.ms / 1000).toFixed(2),
    requests: reqs.length,
    bodyRequests: reqs.filter((r) => r.method === "GET" && (r.path.startsWith("/cdn/") || r.path.includes("/resolve/"))).length,
    bodyBytes: sentSince(mark),
    paths: reqs.map((r) => r.path),
  });

  // 6. the model by its Hub name
  const gen = await slm(["generate", "--model", ID, "--prompt-ids", "1,2,3", "--max-tokens", "4", "--temperature", "0", "--json"], envFor("clean"));
  rows.push({
    step: `slm generate --model ${ID}`,
    seconds: +(gen.ms / 1000).toFixed(2),
    ok: gen.code === 0,
    ids: gen.code === 0 ? JSON.parse(gen.out.trim().split("\n").at(-1)!).ids : gen.err.trim(),
  });

  await hub.close();
  console.log(`repository ${ID}: ${Object.keys(files).length} files, ${mb(total)} MB (${shardNames.length} shards); load average ${loadavg()[0]!.toFixed(2)}`);
  for (const r of rows)
    console.log(
      "  " +
        Object.entries(r)
          .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)
          .join(", "),
    );
  console.log(JSON.stringify({ bench: "pull", repoBytes: total, rows }));
} finally {
  rmSync(work, { recursive: true, force: true });
}
