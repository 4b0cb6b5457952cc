// npm's install hook: builds the native addon with node-gyp, unless
// build/Release/slm.node was already built from exactly these sources for
// this Node ABI and platform. Why: `npx slm …` in a clone installs the
// package into npx's cache as a link to the clone and runs this hook again;
// without the check, the first `npx slm demo` after `npm ci` spent 2.5–5
// minutes rebuilding an addon that was already there. `--force` (used by
// `npm run build:native`) or SLM_FORCE_BUILD=1 always rebuilds. SLM_ADDON_FROM
// (below) copies a matching addon built elsewhere.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const addon = join(root, "build", "Release", "slm.node");
const stampFile = join(root, "build", "slm-build.json");

/** Every file the build reads, in a fixed order. */
function sources() {
  const out = [join(root, "binding.gyp")];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(join(root, "native"));
  return out;
}

function fingerprint() {
  const h = createHash("sha256");
  h.update(`${process.versions.modules} ${process.platform} ${process.arch} ${process.version}\n`);
  for (const f of sources()) h.update(relative(root, f)).update("\0").update(readFileSync(f)).update("\0");
  return h.digest("hex");
}

const want = fingerprint();
let have = null;
try {
  have = JSON.parse(readFileSync(stampFile, "utf8")).fingerprint;
} catch {
  // no stamp: build
}
const force = process.argv.includes("--force") || process.env.SLM_FORCE_BUILD === "1";
if (!force && have === want && existsSync(addon) && statSync(addon).size > 0) {
  console.log("slmkit: native addon is up to date (build/Release/slm.node); `npm run build:native` rebuilds it");
  process.exit(0);
}

// SLM_ADDON_FROM=DIR: take an addon already built elsewhere (DIR/Release/slm.node
// with DIR/slm-build.json), when its stamp records exactly this fingerprint (same
// binding.gyp and native/ sources, Node ABI, platform and Node version);
// otherwise build as usual. Why: the packed-package test installs the tarball
// into a fresh project and would spend 2-3 minutes rebuilding the addon that
// `npm ci` built minutes before from the same sources.
const from = process.env.SLM_ADDON_FROM;
if (!force && from) {
  let theirs = null;
  try {
    theirs = JSON.parse(readFileSync(join(from, "slm-build.json"), "utf8")).fingerprint;
  } catch {
    // no stamp there: build
  }
  const built = join(from, "Release", "slm.node");
  if (theirs === want && existsSync(built)) {
    mkdirSync(dirname(addon), { recursive: true });
    copyFileSync(built, addon);
    writeFileSync(stampFile, `${JSON.stringify({ fingerprint: want, builtAt: new Date().toISOString(), copiedFrom: from })}\n`);
    console.log(`slmkit: native addon copied from ${from} (same sources, Node ABI and platform)`);
    process.exit(0);
  }
  console.log(`slmkit: SLM_ADDON_FROM=${from} holds no addon built from these sources for this Node; building`);
}

// npm passes its bundled node-gyp's path to scripts; fall back to one on PATH.
const gyp = process.env.npm_config_node_gyp;
const r = gyp
  ? spawnSync(process.execPath, [gyp, "rebuild"], { cwd: root, stdio: "inherit" })
  : spawnSync("node-gyp", ["rebuild"], { cwd: root, stdio: "inherit", shell: process.platform === "win32" });
if (r.error) {
  console.error(`slmkit: could not run node-gyp: ${r.error.message}`);
  process.exit(1);
}
if (r.status !== 0) process.exit(r.status ?? 1);
writeFileSync(stampFile, `${JSON.stringify({ fingerprint: want, builtAt: new Date().toISOString() })}\n`);
