// CLI tests of `slm serve`'s flag checks that need no model: a bad
// --prompt-cache-mb is a usage error (exit 2) reported before anything is
// loaded. Serving itself is tested in src/serve/server.test.ts (the real
// `slm serve` binary included).
import assert from "node:assert/strict";
import { test } from "node:test";

import { UsageError } from "../errors.ts";
import { runCli } from "./testing.ts";
import { promptCacheFlag } from "./serve.ts";

const run = (argv: string[]) => runCli(argv);

test("--prompt-cache-mb: MiB as bytes, 0 = off; a bad value is a usage error (exit 2) before the model is loaded", async () => {
  assert.equal(promptCacheFlag(undefined), undefined);
  assert.equal(promptCacheFlag("0"), 0);
  assert.equal(promptCacheFlag("64"), 64 * 2 ** 20);
  assert.equal(promptCacheFlag("0.5"), 2 ** 19);
  for (const bad of ["-1", "lots", "", "Infinity"]) assert.throws(() => promptCacheFlag(bad), UsageError, bad);
  for (const bad of ["--prompt-cache-mb=-1", "--prompt-cache-mb=lots", "--prompt-cache-mb=2x"]) {
    const r = await run(["serve", "--model", "/nonexistent/model", "--port", "0", bad]);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /--prompt-cache-mb must be a number of MiB >= 0/);
  }
});
