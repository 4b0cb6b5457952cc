// The whole tree is formatted and linted by Biome (biome.json; docs/contributing.md says why
// the rules that are off are off). `npm run format` fixes what can be fixed automatically.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const root = join(import.meta.dirname, "..");
const biome = join(root, "node_modules", "@biomejs", "biome", "bin", "biome");

test("biome ci: every file formatted, no lint findings", { skip: !existsSync(biome) && "Biome is not installed (npm ci installs it)" }, () => {
  const r = spawnSync(process.execPath, [biome, "ci", "--colors=off", "--max-diagnostics=20", "."], { cwd: root, encoding: "utf8" });
  assert.equal(r.status, 0, `biome ci failed (run \`npm run format\`, then fix what is left):\n${r.stdout}${r.stderr}`);
});
