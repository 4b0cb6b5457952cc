import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";

import { ConfigError, FormatError, NotFoundError, SlmError, UsageError } from "../../errors.ts";
import type { CausalLM } from "../../models/index.ts";
import { Tape } from "../../tensor/index.ts";
import { loadModel } from "../hf-dir.ts";
import { repoDir, resolveCachedModel, type HubSettings } from "./cache.ts";
import { globToRegExp, pullModel, type PullEvent } from "./pull.ts";
import { FakeHub, tinyRepos } from "./testing.ts";

const work = mkdtempSync(join(tmpdir(), "slm-hub-"));
let hub: FakeHub;
let models: Map<string, CausalLM>;
let files: Map<string, Record<string, Uint8Array | string>>;
after(async () => {
  await hub?.close();
  rmSync(work, { recursive: true, force: true });
});
before(async () => {
  const r = await tinyRepos(join(work, "src"));
  models = r.models;
  files = new Map(r.repos.map((x) => [x.id, x.revisions.main!]));
  hub = await FakeHub.start(r.repos);
});

let n = 0;
/** Settings with a fresh, empty cache. */
function fresh(over: Partial<HubSettings> = {}): HubSettings {
  return { cacheDir: join(work, `cache-${n++}`), endpoint: hub.url, offline: false, ...over };
}
const noWait = { backoffMs: () => 0 };
const sha256 = (d: Uint8Array | string) => createHash("sha256").update(d).digest("hex");
const gitSha1 = (d: Uint8Array | string) => {
  const b = typeof d === "string" ? Buffer.from(d) : d;
  return createHash("sha1").update(`blob ${b.length}\0`).update(b).digest("hex");
};
/** loadModel with HF_HUB_CACHE pointing at a test cache. */
function load(spec: string, settings: HubSettings) {
  const old = process.env.HF_HUB_CACHE;
  process.env.HF_HUB_CACHE = settings.cacheDir;
  try {
    return loadModel(spec);
  } finally {
    if (old === undefined) delete process.env.HF_HUB_CACHE;
    else process.env.HF_HUB_CACHE = old;
  }
}
const logits = (m: CausalLM) => m.forward(new Tape({ grad: false }), Int32Array.from([1, 5, 200, 17, 9]), 1, 5).data.slice();
/** Body requests (GET on /resolve/ or /cdn/) since index `from`. */
const bodyGets = (from: number) => hub.requests.slice(from).filter((r) => r.method === "GET" && (r.path.includes("/resolve/") || r.path.startsWith("/cdn/")));
const shard1 = () => sha256(files.get("tiny/llama-sharded")!["model-00001-of-00002.safetensors"] as Uint8Array);

test("pull lays out the cache like huggingface_hub (blobs by etag, relative symlinks, refs) and the models load from it", async () => {
  const settings = fresh();
  for (const id of ["tiny/llama-sharded", "tiny/qwen2", "tiny/gpt2", "tiny/mistral", "tiny/qwen3", "tiny/gemma3"]) {
    const r = await pullModel(id, { settings, ...noWait });
    const repo = repoDir(settings.cacheDir, id);
    assert.equal(repo, join(settings.cacheDir, `models--${id.replace("/", "--")}`));
    assert.equal(readFileSync(join(repo, "refs", "main"), "utf8"), hub.commit(id));
    assert.equal(r.snapshot, join(repo, "snapshots", hub.commit(id)));
    for (const [path, data] of Object.entries(files.get(id)!)) {
      const pointer = join(r.snapshot, path);
      if (path === "pytorch_model.bin") {
        assert.ok(!existsSync(pointer), "a default pull skips PyTorch weights when safetensors exist");
        continue;
      }
      const etag = path.endsWith(".safetensors") ? sha256(data) : gitSha1(data);
      assert.ok(lstatSync(pointer).isSymbolicLink(), path);
      assert.equal(readlinkSync(pointer), `../../blobs/${etag}`, path);
      assert.deepEqual(readFileSync(pointer), Buffer.from(data));
    }
    assert.deepEqual(
      readdirSync(join(repo, "blobs")).filter((f) => f.endsWith(".incomplete")),
      [],
    );
    const m = load(id, settings);
    assert.equal(m.source.repo, id);
    assert.equal(m.source.commit, hub.commit(id));
    assert.deepEqual(logits(m.model), logits(models.get(id)!), id);
  }
  assert.ok(existsSync(join(r0(settings), "model.safetensors.index.json")));
  function r0(s: HubSettings) {
    return join(repoDir(s.cacheDir, "tiny/llama-sharded"), "snapshots", hub.commit("tiny/llama-sharded"));
  }
});

test("a second pull makes one metadata request and no request for file bodies", async () => {
  const settings = fresh();
  const first = await pullModel("tiny/llama-sharded", { settings, ...noWait });
  assert.ok(first.received > 0);
  const mark = hub.requests.length;
  const events: PullEvent[] = [];
  const second = await pullModel("tiny/llama-sharded", { settings, onEvent: (e) => events.push(e) });
  assert.equal(second.received, 0);
  assert.ok(second.files.every((f) => f.cached));
  assert.deepEqual(bodyGets(mark), []);
  assert.deepEqual(
    hub.requests.slice(mark).map((r) => r.path),
    ["/api/models/tiny/llama-sharded/revision/main"],
  );
  assert.equal((events[0] as Extract<PullEvent, { type: "listed" }>).toDownload, 0);
});

test("a connection cut mid-file resumes with a Range request, without fetching the first part again", async () => {
  const settings = fresh();
  const size = (files.get("tiny/llama-sharded")!["model-00001-of-00002.safetensors"] as Uint8Array).length;
  const cutAt = Math.floor(size * 0.6);
  hub.cutOnce(`/cdn/${shard1()}`, cutAt);
  const mark = hub.requests.length;
  const events: PullEvent[] = [];
  const r = await pullModel("tiny/llama-sharded", { settings, ...noWait, onEvent: (e) => events.push(e) });
  const gets = hub.requests.slice(mark).filter((x) => x.path === `/cdn/${shard1()}`);
  assert.equal(gets.length, 2);
  assert.equal(gets[0]!.range, undefined);
  assert.equal(gets[0]!.sent, cutAt);
  assert.equal(gets[1]!.range, `bytes=${cutAt}-`);
  assert.equal(gets[1]!.sent, size - cutAt, "the second request sends only the rest");
  assert.ok(
    events.some((e) => e.type === "retry" && /closed|aborted|ECONNRESET|socket/i.test(e.reason)),
    JSON.stringify(events.filter((e) => e.type === "retry")),
  );
  assert.deepEqual(logits(loadModel(join(r.snapshot)).model), logits(models.get("tiny/llama-sharded")!));
});

test("a pull that gives up keeps the partial blob (never in place); the next pull resumes from it", async () => {
  const settings = fresh();
  const size = (files.get("tiny/llama-sharded")!["model-00001-of-00002.safetensors"] as Uint8Array).length;
  const cutAt = Math.floor(size * 0.6);
  hub.cutOnce(`/cdn/${shard1()}`, cutAt);
  await assert.rejects(
    pullModel("tiny/llama-sharded", { settings, maxAttempts: 1, ...noWait }),
    (e: unknown) => e instanceof SlmError && e.code === "IO" && /download failed after 1 attempt/.test(e.message) && /resume/.test(e.hint ?? ""),
  );
  const blobs = join(repoDir(settings.cacheDir, "tiny/llama-sharded"), "blobs");
  assert.equal(statSync(join(blobs, `${shard1()}.incomplete`)).size, cutAt);
  assert.ok(!existsSync(join(blobs, shard1())));
  assert.ok(!existsSync(join(repoDir(settings.cacheDir, "tiny/llama-sharded"), "refs", "main")), "refs/main is written only when every file is in place");
  const mark = hub.requests.length;
  const r = await pullModel("tiny/llama-sharded", { settings, ...noWait });
  const gets = hub.requests.slice(mark).filter((x) => x.path === `/cdn/${shard1()}`);
  assert.deepEqual(
    gets.map((g) => [g.range, g.sent]),
    [[`bytes=${cutAt}-`, size - cutAt]],
  );
  assert.equal(r.files.find((f) => f.path.startsWith("model-00001"))!.resumedFrom, cutAt);
  assert.ok(!existsSync(join(blobs, `${shard1()}.incomplete`)));
});

test("a flipped byte is caught by the checksum (sha256 for LFS, git sha1 for small files) and downloaded again; twice is an error", async () => {
  const settings = fresh();
  const cfg = files.get("tiny/qwen2")!["config.json"]!;
  hub.flipOnce(`/cdn/${sha256(files.get("tiny/qwen2")!["model.safetensors"] as Uint8Array)}`);
  hub.flipOnce("/tiny/qwen2/resolve/", 3);
  const events: PullEvent[] = [];
  const mark = hub.requests.length;
  await pullModel("tiny/qwen2", { settings, ...noWait, onEvent: (e) => events.push(e) });
  const retries = events.filter((e) => e.type === "retry") as Array<Extract<PullEvent, { type: "retry" }>>;
  assert.equal(retries.filter((e) => /checksum mismatch/.test(e.reason)).length, 2, JSON.stringify(retries));
  assert.ok(retries.some((e) => e.path === "model.safetensors" && /sha256/.test(e.reason)));
  assert.ok(retries.some((e) => /git-sha1/.test(e.reason)));
  assert.equal(bodyGets(mark).filter((r) => r.path.startsWith("/cdn/")).length, 2);
  const blobs = join(repoDir(settings.cacheDir, "tiny/qwen2"), "blobs");
  assert.deepEqual(readFileSync(join(blobs, gitSha1(cfg))), Buffer.from(cfg));
  assert.deepEqual(
    logits(loadModel(join(repoDir(settings.cacheDir, "tiny/qwen2"), "snapshots", hub.commit("tiny/qwen2"))).model),
    logits(models.get("tiny/qwen2")!),
  );

  const again = fresh();
  const etag = sha256(files.get("tiny/gpt2")!["model.safetensors"] as Uint8Array);
  hub.flipOnce(`/cdn/${etag}`);
  hub.flipOnce(`/cdn/${etag}`);
  await assert.rejects(
    pullModel("tiny/gpt2", { settings: again, ...noWait }),
    (e: unknown) => e instanceof FormatError && /do not match the Hub's checksum twice/.test(e.message),
  );
  const gblobs = join(repoDir(again.cacheDir, "tiny/gpt2"), "blobs");
  assert.ok(!existsSync(join(gblobs, etag)) && !existsSync(join(gblobs, `${etag}.incomplete`)));
});

test("401 / 404 / gated / bad token / missing revision give clear errors", async () => {
  await assert.rejects(
    pullModel("nobody/nothing", { settings: fresh() }),
    (e: unknown) =>
      e instanceof NotFoundError &&
      /repository nobody\/nothing not found on http:\/\/127\.0\.0\.1:\d+, or it needs a token \(401: Repository not found\)/.test(e.message) &&
      /HF_TOKEN/.test(e.hint ?? ""),
  );
  await assert.rejects(
    pullModel("nobody/nothing", { settings: fresh({ token: hub.token }) }),
    (e: unknown) => e instanceof NotFoundError && /not found .*\(404/.test(e.message) && /may not have access/.test(e.hint ?? ""),
  );
  await assert.rejects(
    pullModel("tiny/gated", { settings: fresh() }),
    (e: unknown) =>
      e instanceof ConfigError &&
      /tiny\/gated is a gated repository: downloading it needs a token/.test(e.message) &&
      /accept the model's terms at .*\/tiny\/gated, then set HF_TOKEN/.test(e.hint ?? ""),
  );
  await assert.rejects(
    pullModel("tiny/qwen2", { settings: fresh({ token: "hf_wrong" }) }),
    (e: unknown) => e instanceof ConfigError && /rejected HF_TOKEN/.test(e.message),
  );
  await assert.rejects(
    pullModel("tiny/qwen2:nope", { settings: fresh() }),
    (e: unknown) => e instanceof NotFoundError && /revision "nope" not found in tiny\/qwen2/.test(e.message),
  );
  await assert.rejects(
    pullModel("tiny/qwen2", { settings: fresh(), include: ["*.gguf"] }),
    (e: unknown) => e instanceof NotFoundError && /no file of tiny\/qwen2@main matches '\*\.gguf'/.test(e.message) && /config\.json/.test(e.hint ?? ""),
  );
  await assert.rejects(pullModel("not a repo", { settings: fresh() }), UsageError);
  const r = await pullModel("tiny/gated", { settings: fresh({ token: hub.token }), ...noWait });
  assert.ok(r.files.length > 0);
  assert.ok(
    hub.requests.filter((x) => x.path.startsWith("/cdn/")).every((x) => !x.auth),
    "the token is not sent to the CDN's origin",
  );
});

test("an unreachable endpoint is an IO error with a hint, at once (a refused connection is not retried)", async () => {
  const dead = await FakeHub.start();
  const url = dead.url;
  await dead.close();
  let retries = 0; // counted through the backoff hook, not timed (tests do not time things)
  await assert.rejects(
    pullModel("tiny/qwen2", { settings: fresh({ endpoint: url }), backoffMs: () => (retries++, 0) }),
    (e: unknown) => e instanceof SlmError && e.code === "IO" && /cannot reach .*ECONNREFUSED/.test(e.message) && /HF_HUB_OFFLINE/.test(e.hint ?? ""),
  );
  assert.equal(retries, 0, "a refused connection is not retried");
});

test("a download lock held by a live process stops a second pull; one left by a dead process is taken over", async () => {
  const settings = fresh();
  const etag = sha256(files.get("tiny/qwen2")!["model.safetensors"] as Uint8Array);
  const lockPath = join(settings.cacheDir, ".locks", "models--tiny--qwen2", `${etag}.slm.lock`);
  mkdirSync(dirname(lockPath), { recursive: true });
  writeFileSync(lockPath, String(process.ppid));
  await assert.rejects(
    pullModel("tiny/qwen2", { settings, ...noWait }),
    (e: unknown) => e instanceof SlmError && new RegExp(`another slm process \\(pid ${process.ppid}\\)`).test(e.message),
  );
  const deadPid = spawnSync(process.execPath, ["-e", ""]).pid!;
  writeFileSync(lockPath, String(deadPid));
  const r = await pullModel("tiny/qwen2", { settings, ...noWait });
  assert.ok(r.files.some((f) => f.path === "model.safetensors" && !f.cached));
  assert.ok(!existsSync(lockPath), "the lock is released");
});

test("--include '*Q4_K_M.gguf' pulls that GGUF alone; several GGUFs need a choice", async () => {
  const settings = fresh();
  await assert.rejects(
    pullModel("tiny/gguf", { settings }),
    (e: unknown) => e instanceof UsageError && /2 GGUF files/.test(e.message) && /--include '\*Q4_K_M\.gguf'|--include '\*Q8_0\.gguf'/.test(e.hint ?? ""),
  );
  const mark = hub.requests.length;
  const r = await pullModel("tiny/gguf", { settings, include: ["*Q4_K_M.gguf"], ...noWait });
  assert.deepEqual(
    r.files.map((f) => f.path),
    ["tiny-Q4_K_M.gguf"],
  );
  assert.equal(bodyGets(mark).filter((x) => x.path.startsWith("/cdn/")).length, 1);
  assert.deepEqual(readdirSync(r.snapshot), ["tiny-Q4_K_M.gguf"]);
  const resolved = resolveCachedModel("tiny/gguf", settings)!;
  assert.equal(resolved.path, join(r.snapshot, "tiny-Q4_K_M.gguf"));
  // the reference can name the file; then it alone is pulled
  await pullModel("tiny/gguf/tiny-Q8_0.gguf", { settings, ...noWait });
  assert.throws(
    () => resolveCachedModel("tiny/gguf", settings),
    (e: unknown) => e instanceof UsageError && /2 GGUF files/.test(e.message) && /tiny\/gguf\/tiny-Q4_K_M\.gguf/.test(e.hint ?? ""),
  );
  assert.equal(resolveCachedModel("tiny/gguf/tiny-Q8_0.gguf", settings)!.path, join(r.snapshot, "tiny-Q8_0.gguf"));
});

test("offline mode answers from the cache alone", async () => {
  const settings = fresh();
  await pullModel("tiny/qwen2", { settings, ...noWait });
  const mark = hub.requests.length;
  const r = await pullModel("tiny/qwen2", { settings: { ...settings, offline: true } });
  assert.equal(hub.requests.length, mark, "no request at all");
  assert.equal(r.offline, true);
  assert.deepEqual(r.files.map((f) => f.path).sort(), [
    "README.md",
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
  ]);
  assert.equal(r.files.find((f) => f.path === "model.safetensors")!.etag, sha256(files.get("tiny/qwen2")!["model.safetensors"] as Uint8Array));
  await assert.rejects(
    pullModel("tiny/gpt2", { settings: { ...settings, offline: true } }),
    (e: unknown) => e instanceof NotFoundError && /offline mode: tiny\/gpt2@main is not in the cache/.test(e.message) && /HF_HUB_OFFLINE/.test(e.hint ?? ""),
  );
  assert.throws(
    () => resolveCachedModel("tiny/gpt2", settings),
    (e: unknown) => e instanceof NotFoundError && /not in the Hugging Face cache/.test(e.message) && /slm pull tiny\/gpt2/.test(e.hint ?? ""),
  );
});

test("a cache laid out by huggingface_hub's rules (built here) is used as is: loads, and a pull fetches no bodies", async () => {
  const settings = fresh();
  const id = "tiny/qwen2";
  const repo = repoDir(settings.cacheDir, id);
  const commit = hub.commit(id);
  mkdirSync(join(repo, "blobs"), { recursive: true });
  mkdirSync(join(repo, "refs"), { recursive: true });
  mkdirSync(join(repo, "snapshots", commit), { recursive: true });
  for (const [path, data] of Object.entries(files.get(id)!)) {
    if (path === "README.md") continue; // a Python user who fetched only some files
    const etag = path.endsWith(".safetensors") ? sha256(data) : gitSha1(data);
    writeFileSync(join(repo, "blobs", etag), data);
    symlinkSync(`../../blobs/${etag}`, join(repo, "snapshots", commit, path));
  }
  writeFileSync(join(repo, "refs", "main"), commit);
  assert.deepEqual(logits(load(id, settings).model), logits(models.get(id)!));
  const mark = hub.requests.length;
  const r = await pullModel(id, { settings, ...noWait });
  assert.deepEqual(
    bodyGets(mark).map((x) => x.path),
    [`/tiny/qwen2/resolve/${commit}/README.md`],
    "only the file Python had not fetched",
  );
  assert.deepEqual(
    r.files.filter((f) => !f.cached).map((f) => f.path),
    ["README.md"],
  );
  // --verify re-hashes what is cached: a blob corrupted on disk (same size) is found and replaced
  const etag = sha256(files.get(id)!["model.safetensors"] as Uint8Array);
  const blob = join(repo, "blobs", etag);
  const bytes = readFileSync(blob);
  bytes[100] = bytes[100]! ^ 1;
  writeFileSync(blob, bytes);
  const plain = hub.requests.length;
  await pullModel(id, { settings, ...noWait });
  assert.deepEqual(bodyGets(plain), [], "without --verify, a blob of the right size is trusted");
  const events: PullEvent[] = [];
  const mark2 = hub.requests.length;
  const v = await pullModel(id, { settings, verify: true, ...noWait, onEvent: (e) => events.push(e) });
  assert.ok(events.some((e) => e.type === "retry" && /cached blob does not match/.test(e.reason)));
  assert.deepEqual(
    bodyGets(mark2)
      .filter((x) => x.path.startsWith("/cdn/"))
      .map((x) => x.path),
    [`/cdn/${etag}`],
  );
  assert.deepEqual(
    v.files.filter((f) => !f.cached).map((f) => f.path),
    ["model.safetensors"],
  );
  assert.equal(sha256(readFileSync(blob)), etag);
});

test("a listing without blob ids falls back to a HEAD per file (X-Linked-Etag / ETag)", async () => {
  hub.noBlobsInListing = true;
  try {
    const settings = fresh();
    const mark = hub.requests.length;
    const r = await pullModel("tiny/gpt2", { settings, ...noWait });
    assert.equal(hub.requests.slice(mark).filter((x) => x.method === "HEAD").length, 4);
    const st = r.files.find((f) => f.path === "model.safetensors")!;
    assert.equal(st.lfs, true);
    assert.equal(st.etag, sha256(files.get("tiny/gpt2")!["model.safetensors"] as Uint8Array));
    assert.deepEqual(logits(loadModel(r.snapshot).model), logits(models.get("tiny/gpt2")!));
  } finally {
    hub.noBlobsInListing = false;
  }
});

test("a hostile listing (a path or etag that would leave the cache, a bad size) is refused before anything is written", async () => {
  const cases: Array<[(s: Record<string, unknown>) => Record<string, unknown>, RegExp]> = [
    [(s) => ({ ...s, rfilename: "../../evil.json" }), /bad file name "\.\.\/\.\.\/evil\.json"/],
    [(s) => ({ ...s, lfs: undefined, blobId: "../../../x" }), /unusable etag "\.\.\/\.\.\/\.\.\/x"/],
    [(s) => ({ ...s, lfs: undefined, size: -5 }), /bad size -5/],
  ];
  try {
    for (const [tamper, message] of cases) {
      hub.tamperListing = (sib) => sib.map((s, i) => (i === 0 ? tamper(s) : s));
      const settings = fresh();
      await assert.rejects(pullModel("tiny/gpt2", { settings }), (e: unknown) => e instanceof FormatError && message.test(e.message));
      assert.ok(!existsSync(settings.cacheDir), "nothing written");
    }
  } finally {
    hub.tamperListing = undefined;
  }
});

test("include patterns follow fnmatch: * crosses /, [..] sets, a trailing / is a folder", () => {
  assert.ok(globToRegExp("*Q4_K_M.gguf").test("sub/model-Q4_K_M.gguf"));
  assert.ok(!globToRegExp("*Q4_K_M.gguf").test("model-Q4_K_S.gguf"));
  assert.ok(globToRegExp("model-0000[12]-*").test("model-00002-of-00002.safetensors"));
  assert.ok(globToRegExp("onnx/").test("onnx/model.onnx"));
  assert.ok(globToRegExp("a+b(1).json").test("a+b(1).json"));
});
