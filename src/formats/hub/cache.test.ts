import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { hubSettings, parseRepoRef, repoFolderName, repoIdFromFolder } from "./cache.ts";

const work = mkdtempSync(join(tmpdir(), "slm-hubcache-"));
after(() => rmSync(work, { recursive: true, force: true }));

test("settings come from the same variables as huggingface_hub, with its defaults and precedence", () => {
  const none = hubSettings({ HF_TOKEN_PATH: join(work, "no-token") });
  assert.equal(none.cacheDir, join(homedir(), ".cache", "huggingface", "hub"));
  assert.equal(none.endpoint, "https://huggingface.co");
  assert.equal(none.offline, false);
  assert.equal(none.token, undefined);
  assert.equal(hubSettings({ XDG_CACHE_HOME: "/x", HF_TOKEN_PATH: "/nope" }).cacheDir, "/x/huggingface/hub");
  assert.equal(hubSettings({ HF_HOME: "/h", XDG_CACHE_HOME: "/x" }).cacheDir, "/h/hub");
  assert.equal(hubSettings({ HF_HOME: "/h", HUGGINGFACE_HUB_CACHE: "/legacy" }).cacheDir, "/legacy");
  assert.equal(hubSettings({ HF_HOME: "/h", HF_HUB_CACHE: "/c", HUGGINGFACE_HUB_CACHE: "/legacy" }).cacheDir, "/c");
  assert.equal(hubSettings({ HF_ENDPOINT: "http://127.0.0.1:9/" }).endpoint, "http://127.0.0.1:9");
  for (const v of ["1", "true", "ON", "yes"]) assert.equal(hubSettings({ HF_HUB_OFFLINE: v }).offline, true, v);
  for (const v of ["0", "", "false"]) assert.equal(hubSettings({ HF_HUB_OFFLINE: v }).offline, false, v);
  assert.equal(hubSettings({ TRANSFORMERS_OFFLINE: "1" }).offline, true);
  // the token: HF_TOKEN, else the file huggingface-cli login writes under HF_HOME
  mkdirSync(join(work, "home"), { recursive: true });
  writeFileSync(join(work, "home", "token"), "hf_from_file\n");
  assert.equal(hubSettings({ HF_HOME: join(work, "home") }).token, "hf_from_file");
  assert.equal(hubSettings({ HF_HOME: join(work, "home"), HF_TOKEN: "hf_env" }).token, "hf_env");
});

test("model references: org/name[:revision][/file]; paths and URLs are not references", () => {
  assert.deepEqual(parseRepoRef("Qwen/Qwen2.5-0.5B-Instruct"), { repoId: "Qwen/Qwen2.5-0.5B-Instruct", revision: "main" });
  assert.deepEqual(parseRepoRef("org/name:v1.0"), { repoId: "org/name", revision: "v1.0" });
  assert.deepEqual(parseRepoRef("org/name:refs/pr/3"), { repoId: "org/name", revision: "refs/pr/3" });
  assert.deepEqual(parseRepoRef("org/name/sub/m-Q4_K_M.gguf"), { repoId: "org/name", revision: "main", file: "sub/m-Q4_K_M.gguf" });
  assert.deepEqual(parseRepoRef("org/name:dev/m.gguf"), { repoId: "org/name", revision: "dev", file: "m.gguf" });
  for (const s of ["./runs/x", "/abs/path", "../x/y", "~/m", "http://host/x", "a//b", "org/../x", "org/na--me", "gpt2", "org/name/../x", ""]) {
    assert.equal(parseRepoRef(s), undefined, s);
  }
  assert.deepEqual(parseRepoRef("gpt2", true), { repoId: "gpt2", revision: "main" });
  assert.equal(repoFolderName("org/name"), "models--org--name");
  assert.equal(repoIdFromFolder("models--org--name"), "org/name");
  assert.equal(repoIdFromFolder("datasets--org--name"), undefined);
});
