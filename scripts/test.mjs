// Runs every *.test.ts under src/, test/, bench/ and examples/ with node's test runner
// (through tsx), as one run so the closing summary counts all of them. A test
// that runs over 5 minutes fails (a hung kernel or server must not stall CI).
// Extra arguments are passed on: `npm test -- --test-name-pattern=matmul`.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function find(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e === "node_modules" || e.startsWith(".")) continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) find(p, out);
    else if (e.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
const explicit = args.filter((a) => !a.startsWith("-"));
const flags = args.filter((a) => a.startsWith("-"));
const files = explicit.length > 0 ? explicit : ["src", "test", "bench", "examples"].flatMap((d) => find(d, [])).sort();
if (files.length === 0) {
  console.error("no test files found");
  process.exit(1);
}
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", "--test-timeout=300000", ...flags, ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
