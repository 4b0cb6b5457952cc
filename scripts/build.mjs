// Builds the package's JavaScript (`npm run build`; `npm pack` runs it as
// `prepack`): tsc compiles src/ (tests and test helpers excluded,
// tsconfig.build.json) to JavaScript with declarations, rewriting the .ts
// import specifiers to .js, then the files that are not TypeScript (the web
// UI, worker entries, fitted weights) are copied beside the output. Built in
// a temporary directory and renamed over dist/, so a failed build never
// leaves half a dist/. Development does not need it: bin/slm.js and the
// tests run the sources through tsx.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const src = join(root, "src");
const out = join(root, "dist");
const tmp = join(root, `.dist.tmp-${process.pid}`);

/** Files under src/ that tsc does not emit but the built package reads. */
function assets(dir, acc = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) assets(p, acc);
    else if (!e.name.endsWith(".ts")) acc.push(p);
  }
  return acc;
}

rmSync(tmp, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const r = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json"), "--outDir", tmp], { cwd: root, stdio: "inherit" });
if (r.status !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  console.error("slmkit build: tsc failed");
  process.exit(r.status ?? 1);
}
let copied = 0;
for (const f of assets(src)) {
  const to = join(tmp, relative(src, f));
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(f, to);
  copied++;
}
const old = existsSync(out) ? `${tmp}.old` : null;
if (old) renameSync(out, old);
renameSync(tmp, out);
if (old) rmSync(old, { recursive: true, force: true });
console.log(`slmkit build: dist/ from src/ (${copied} files copied beside the compiled ones)`);
