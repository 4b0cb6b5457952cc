// CLI tests of `slm pull`, `slm models` and org/name model references
// (`--model org/name`, `--pull`) against the fake Hub on 127.0.0.1, with
// HF_HOME in a temp directory and HF_ENDPOINT pointing at the fake.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";

import { loadModel } from "../formats/hf-dir.ts";
import { FakeHub, tinyRepos } from "../formats/hub/testing.ts";
import { modelCard } from "../serve/local-backend.ts";
import { runCli } from "./testing.ts";
import { modelRefsInArgs } from "./model-ref.ts";

const work = mkdtempSync(join(tmpdir(), "slm-cli-pull-"));
let hub: FakeHub;
const saved = {
  HF_HOME: process.env.HF_HOME,
  HF_ENDPOINT: process.env.HF_ENDPOINT,
  HF_HUB_OFFLINE: process.env.HF_HUB_OFFLINE,
  HF_TOKEN: process.env.HF_TOKEN,
  HF_HUB_CACHE: process.env.HF_HUB_CACHE,
};
before(async () => {
  hub = await FakeHub.start((await tinyRepos(join(work, "src"))).repos);
  process.env.HF_HOME = join(work, "hf");
  process.env.HF_ENDPOINT = hub.url;
  for (const k of ["HF_HUB_OFFLINE", "HF_TOKEN", "HF_HUB_CACHE"]) delete process.env[k];
});
after(async () => {
  await hub?.close();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(work, { recursive: true, force: true });
});

const run = (argv: string[], input?: string[]) => runCli(argv, { input });
const bodyGets = (from: number) => hub.requests.slice(from).filter((r) => r.method === "GET" && (r.path.includes("/resolve/") || r.path.startsWith("/cdn/")));

test("slm pull prints the snapshot path; a second pull downloads nothing; slm models lists it", async () => {
  const r = await run(["pull", "tiny/llama-sharded"]);
  assert.equal(r.code, 0, r.err);
  const snapshot = join(work, "hf", "hub", "models--tiny--llama-sharded", "snapshots", hub.commit("tiny/llama-sharded"));
  assert.equal(r.out.trim(), snapshot);
  assert.match(r.err, /tiny\/llama-sharded@main \([0-9a-f]{7}\): 6 files, [\d.]+ kB: [\d.]+ kB to download/);
  assert.match(r.err, /pulled tiny\/llama-sharded@main .*6 files/);
  const mark = hub.requests.length;
  const again = await run(["pull", "tiny/llama-sharded", "--json"]);
  assert.equal(again.code, 0, again.err);
  assert.deepEqual(bodyGets(mark), []);
  const result = JSON.parse(again.out.trim().split("\n").at(-1)!);
  assert.equal(result.type, "result");
  assert.equal(result.received, 0);
  assert.equal(result.snapshot, snapshot);

  assert.equal((await run(["pull", "tiny/gguf", "--include", "*Q4_K_M.gguf", "--quiet"])).code, 0);
  const list = await run(["models"]);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, /^REPOSITORY\s+REVISION\s+COMMIT\s+SIZE\s+ARCH\s+QUANT\s+FORMAT$/m);
  assert.match(
    list.out,
    new RegExp(`^tiny/llama-sharded\\s+main\\s+${hub.commit("tiny/llama-sharded").slice(0, 7)}\\s+[\\d.]+ kB\\s+llama\\s+F32\\s+safetensors$`, "m"),
  );
  assert.match(list.out, /^tiny\/gguf\s+main\s+[0-9a-f]{7}\s+[\d.]+ kB\s+llama\s+Q4_K_M\s+gguf$/m);
  assert.match(list.err, /2 repositories/);
  const json = JSON.parse((await run(["models", "gguf", "--json"])).out);
  assert.deepEqual(
    json.repos.map((x: { repoId: string }) => x.repoId),
    ["tiny/gguf"],
  );
  assert.deepEqual(json.repos[0].snapshots[0].files, ["tiny-Q4_K_M.gguf"]);
});

test("--model org/name reads the cache; not cached, it says how to pull; --pull pulls first", async () => {
  const gen = ["generate", "--model", "tiny/qwen2", "--prompt-ids", "1,2,3", "--max-tokens", "3", "--temperature", "0", "--json"];
  const miss = await run(gen);
  assert.equal(miss.code, 1);
  assert.match(miss.err, /tiny\/qwen2: no such file or directory, and tiny\/qwen2 is not in the Hugging Face cache/);
  assert.match(miss.err, /hint: .*slm pull tiny\/qwen2`, or add --pull/);
  const pulled = await run([...gen, "--pull"]);
  assert.equal(pulled.code, 0, pulled.err);
  assert.match(pulled.err, /pulled tiny\/qwen2@main/);
  const ids = JSON.parse(pulled.out.trim().split("\n").at(-1)!);
  const cached = await run(gen);
  assert.equal(cached.code, 0, cached.err);
  assert.deepEqual(JSON.parse(cached.out.trim().split("\n").at(-1)!).ids, ids.ids, "the same model from the cache");
  // served under its Hub id
  assert.equal(modelCard(loadModel("tiny/qwen2")).id, "tiny/qwen2");
  // --pull without a network: the cached snapshot is used, with a warning
  const endpoint = process.env.HF_ENDPOINT;
  const dead = await FakeHub.start();
  process.env.HF_ENDPOINT = dead.url;
  await dead.close();
  try {
    const offline = await run([...gen, "--pull"]);
    assert.equal(offline.code, 0, offline.err);
    assert.match(offline.err, /--pull: cannot reach .*ECONNREFUSED; using the cached tiny\/qwen2/);
  } finally {
    process.env.HF_ENDPOINT = endpoint;
  }
  // GGUF repository: the single pulled file is the model
  const g = await run(["export", "tiny/gguf", "--format", "hf", "--out", join(work, "from-gguf")]);
  assert.equal(g.code, 0, g.err);
  assert.ok(existsSync(join(work, "from-gguf", "config.json")));
});

test("errors: missing repository (401 → token hint), gated, offline, several GGUFs", async () => {
  const missing = await run(["pull", "nobody/nothing"]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /repository nobody\/nothing not found .*needs a token/);
  assert.match(missing.err, /hint: .*HF_TOKEN/);
  const gated = await run(["pull", "tiny/gated"]);
  assert.equal(gated.code, 1);
  assert.match(gated.err, /gated repository/);
  process.env.HF_TOKEN = hub.token;
  try {
    assert.equal((await run(["pull", "tiny/gated", "--quiet"])).code, 0);
  } finally {
    delete process.env.HF_TOKEN;
  }
  const several = await run(["pull", "tiny/gguf", "--all", "--quiet"]);
  assert.equal(several.code, 0);
  const pick = await run(["generate", "--model", "tiny/gguf", "--prompt-ids", "1", "--max-tokens", "1"]);
  assert.equal(pick.code, 2);
  assert.match(pick.err, /2 GGUF files .*name the one to use/);
  assert.match(pick.err, /tiny\/gguf\/tiny-Q/);
  process.env.HF_HUB_OFFLINE = "1";
  try {
    const mark = hub.requests.length;
    const off = await run(["pull", "tiny/gpt2"]);
    assert.equal(off.code, 1);
    assert.match(off.err, /offline mode: tiny\/gpt2@main is not in the cache/);
    const ok = await run(["pull", "tiny/qwen2"]);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.err, /\[offline\]/);
    assert.equal(hub.requests.length, mark);
  } finally {
    delete process.env.HF_HUB_OFFLINE;
  }
  const usage = await run(["pull"]);
  assert.equal(usage.code, 2);
  assert.ok(!readFileSync(join(work, "hf", "hub", "models--tiny--qwen2", "refs", "main"), "utf8").includes("\n"));
});

test("the README tour offline: chat with org/name, and serve it (pulled first with --pull) under its Hub id", async () => {
  const chat = await run(["chat", "--model", "tiny/qwen2", "--pull", "--temperature", "0", "--max-tokens", "4"], ["hello there\n", "/exit\n"]);
  assert.equal(chat.code, 0, chat.err);
  assert.match(chat.err, /pulled tiny\/qwen2@main/);
  assert.ok(chat.stream.length > 0, "a reply was streamed");
  // `slm serve --model org/name --pull` in a child process, as a user runs it
  rmSync(join(work, "hf", "hub", "models--tiny--qwen2"), { recursive: true, force: true });
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, "..", "..", "bin", "slm.js"), "serve", "--model", "tiny/qwen2", "--pull", "--port", "0", "--quiet"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } },
  );
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const m = /^slm serve: (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
        if (m) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`slm serve exited with ${code}: ${err}`)));
    });
    const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string }> };
    assert.deepEqual(
      models.data.map((m) => m.id),
      ["tiny/qwen2"],
    );
    assert.match(err, /pulled tiny\/qwen2@main .*6 files, [\d.]+ kB, [\d.]+ kB downloaded/);
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
});

test("which arguments --pull treats as models", () => {
  assert.deepEqual(modelRefsInArgs("generate", ["--model", "a/b", "--prompt", "x/y"]), ["a/b"]);
  assert.deepEqual(modelRefsInArgs("finetune", ["--base=a/b:dev", "--data", "c/d", "--out", "e/f"]), ["a/b:dev"]);
  assert.deepEqual(modelRefsInArgs("export", ["--format", "gguf", "a/b/m.gguf", "--out", "x/y.gguf"]), ["a/b/m.gguf"]);
  assert.deepEqual(modelRefsInArgs("generate", ["--model", work]), [], "an existing local path is not a reference");
});
