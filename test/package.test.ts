// The package as a user gets it: `npm pack` (which builds dist/ through the
// prepack script), install the tarball into a fresh temporary project,
// offline, and use it there with no loader: plain JavaScript imports
// "slmkit", loads a model and generates (same tokens as the sources give),
// runs an ingest on the extraction worker and a server on the inference
// worker (both from dist/), a TypeScript project type-checks the examples
// against the shipped declarations, and `npx slm --help` works.
//
// What it does not cover, and where that is covered instead:
// - Dependencies come from the local npm cache, pinned by a lock file made
//   from ours (their production entries), so the project's install resolves
//   no versions of its own; `npm ci` (CI's first step) fills the cache.
// - The install runs with --ignore-scripts, then slmkit's own install script
//   with SLM_ADDON_FROM pointing at this checkout's build/: it copies the
//   addon only when its stamp records the same native sources, Node ABI and
//   platform, else it builds. So the node-gyp build itself is exercised by
//   `npm ci` of the repository, not here (it costs 2-3 minutes on 2 cores).
// - better-sqlite3 is not compiled in the temporary project (its install
//   script is skipped), so the index / ask path is not run from the package;
//   examples/examples.test.ts runs it from the sources.
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { tinyByteLevel } from "../src/formats/testing.ts";
import { createModel, generate, presetConfig, saveModelDir } from "../src/index.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const work = mkdtempSync(join(tmpdir(), "slm-package-"));
const proj = join(work, "project");
const pkgDir = join(proj, "node_modules", "slmkit");
const modelDir = join(work, "tiny-model");
after(() => rmSync(work, { recursive: true, force: true }));

/** npm through the same npm that runs the tests when there is one. */
function npm(args: string[], cwd: string, timeout = 280_000): SpawnSyncReturns<string> {
  const cli = process.env.npm_execpath;
  const [cmd, pre] = cli?.endsWith(".js") ? [process.execPath, [cli]] : ["npm", []];
  return spawnSync(cmd, [...pre, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" },
    timeout,
  });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function nodeIn(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, args, { cwd, encoding: "utf8", timeout: 120_000, env: { ...process.env, ...env, NODE_OPTIONS: "" } });
}

before(async () => {
  // A tiny model for the consumer to load, and the greedy tokens the sources give on it.
  const tok = await tinyByteLevel(400);
  const model = createModel(presetConfig("nano", tok.vocabSize, { nLayers: 1, dModel: 32, nHeads: 2, nKvHeads: 2, headDim: 16, ffnDim: 64 }), 5);
  saveModelDir(modelDir, model, { tokenizer: tok });

  // 1. Pack (prepack builds dist/).
  // The build is a full tsc run: ~40 s on 2 quiet cores, several times that on a busy machine.
  const packed = ok(npm(["pack", "--json", "--pack-destination", work], root, 400_000), "npm pack");
  const file = (JSON.parse(packed.slice(packed.indexOf("["))) as { filename: string }[])[0]!.filename;
  const tarball = join(work, file);
  assert.ok(existsSync(tarball), `no tarball at ${tarball}`);

  // 2. A fresh project depending on the tarball, its lock pinned to our production dependencies.
  mkdirSync(proj);
  const spec = `file:../${file}`;
  const ours = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean }> };
  const packages: Record<string, unknown> = {
    "": { name: "consumer", version: "1.0.0", dependencies: { slmkit: spec } },
    "node_modules/slmkit": {
      version: ours.version,
      resolved: spec,
      hasInstallScript: true,
      license: ours.license,
      dependencies: ours.dependencies,
      bin: ours.bin,
      engines: ours.engines,
    },
  };
  for (const [k, v] of Object.entries(lock.packages)) if (k !== "" && !v.dev) packages[k] = v;
  writeFileSync(
    join(proj, "package.json"),
    JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module", dependencies: { slmkit: spec } }, null, 2),
  );
  writeFileSync(join(proj, "package-lock.json"), JSON.stringify({ name: "consumer", version: "1.0.0", lockfileVersion: 3, requires: true, packages }, null, 2));
  ok(
    npm(["ci", "--offline", "--ignore-scripts"], proj),
    "npm ci --offline of the tarball (the dependencies must be in the npm cache: run `npm ci` in the repository first)",
  );
  assert.ok(!existsSync(join(pkgDir, "src")), "the package must not ship src/");

  // 3. slmkit's install script, given this checkout's addon.
  const out = ok(nodeIn(pkgDir, ["scripts/install.mjs"], { SLM_ADDON_FROM: join(root, "build") }), "slmkit's install script");
  assert.match(out, /native addon copied from|built/);
});

test("plain JavaScript imports slmkit with no loader, loads a model and generates the tokens the sources give", async () => {
  const m = (await import("../src/index.ts")).loadModel(modelDir);
  const prompt = m.tokenizer!.encode("The handbook says");
  const [want] = await generate(m.model, [prompt], { maxTokens: 8 });
  const script = `import("slmkit").then(async (s) => { const m = s.loadModel(${JSON.stringify(modelDir)}); const [r] = await s.generate(m.model, [m.tokenizer.encode("The handbook says")], { maxTokens: 8 }); console.log(JSON.stringify(r.ids)); })`;
  const r = nodeIn(proj, ["-e", script]);
  assert.deepEqual(JSON.parse(ok(r, 'node -e import("slmkit")').trim()), want!.ids);
  assert.doesNotMatch(r.stderr, /native addon unavailable/, "the installed package must load its native addon");
});

test("from the package: ingest runs its extraction worker, the server its inference worker and web UI", () => {
  const script = `
    import { ingest, startServer } from "slmkit";
    import { join } from "node:path";
    const m = await ingest({ inputs: [join("node_modules", "slmkit", "examples", "handbook")], out: "dataset", workers: 1 });
    const srv = await startServer({ modelDir: ${JSON.stringify(modelDir)}, port: 0, threads: 1 });
    try {
      const page = await fetch(srv.url + "/");
      const c = await fetch(srv.url + "/v1/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: srv.card.id, prompt: "Leave", max_tokens: 3, temperature: 0 }) });
      const body = await c.json();
      console.log(JSON.stringify({ documents: m.counts.documents, page: page.status, html: (await page.text()).includes("<html"), completion: c.status, tokens: body.usage?.completion_tokens }));
    } finally { await srv.close(); }`;
  writeFileSync(join(proj, "serve.mjs"), script);
  const got = JSON.parse(
    ok(nodeIn(proj, ["serve.mjs"]), "ingest + server from the package")
      .trim()
      .split("\n")
      .at(-1)!,
  );
  assert.ok(got.documents > 10, `ingested ${got.documents} documents`);
  assert.equal(got.page, 200);
  assert.equal(got.html, true);
  assert.equal(got.completion, 200);
  assert.ok(got.tokens >= 1 && got.tokens <= 3);
});

test("a TypeScript project type-checks the examples against the shipped declarations, and a misuse is an error", () => {
  for (const f of ["generate.ts", "train-chat.ts", "ask.ts"]) copyFileSync(join(pkgDir, "examples", f), join(proj, f));
  writeFileSync(
    join(proj, "misuse.ts"),
    `import { generate, createModel, presetConfig } from "slmkit";\n// @ts-expect-error maxTokens is a number\nawait generate(createModel(presetConfig("nano", 300)), [[1]], { maxTokens: "4" });\n`,
  );
  writeFileSync(
    join(proj, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ["node"],
        typeRoots: [join(root, "node_modules", "@types")],
      },
      include: ["*.ts"],
    }),
  );
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  // misuse.ts's @ts-expect-error fails the check (TS2578) if that call type-checks: the declarations are real types, not any.
  ok(nodeIn(proj, [tsc, "-p", "."]), "tsc against the package's declarations");
});

test("npx slm --help and a command run from the installed package", () => {
  const help = ok(npm(["exec", "--offline", "--", "slm", "--help"], proj), "npx slm --help");
  assert.match(help, /Usage: slm <command>/);
  const gen = ok(
    npm(["exec", "--offline", "--", "slm", "generate", "--model", modelDir, "--prompt", "Leave", "--max-tokens", "3", "--temperature", "0", "--json"], proj),
    "npx slm generate",
  );
  const r = JSON.parse(gen.trim().split("\n").at(-1)!) as { ids: number[]; usage: { completion_tokens: number } };
  assert.ok(r.ids.length >= 1 && r.ids.length <= 3, gen);
});
