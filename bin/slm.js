#!/usr/bin/env node
// The `slm` command. In a clone (src/ present) it runs the TypeScript sources
// through tsx, so there is no build step to forget after an edit; the
// installed package has no src/ and runs the JavaScript built into dist/ at
// `npm pack` (scripts/build.mjs), with no loader.
import { existsSync } from "node:fs";

const source = new URL("../src/cli/main.ts", import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import("../dist/cli/main.js"));
}
process.exitCode = await main(process.argv.slice(2));
