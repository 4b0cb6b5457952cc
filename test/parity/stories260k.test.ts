// Real-weights parity: llama2.c's stories260K checkpoint (read from ../shared)
// imported by loadModel and decoded greedily from BOS for 200 tokens must give
// exactly the token ids of the independent PyTorch reference
// (tools/reference/stories260k_greedy.py, which keeps llama2.c's pairwise RoPE
// instead of our rotate-half permutation) stored in
// test/fixtures/stories260k/greedy-200.json. Skips with a message when the
// checkpoint is absent; fails clearly when the file differs from the one the
// fixture was made from. Knows nothing of the tokenizer (ids only).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { loadModel } from "../../src/formats/hf-dir.ts";
import { generate } from "../../src/infer/generate.ts";

const repoRoot = join(import.meta.dirname, "..", "..");
const fixture = JSON.parse(readFileSync(join(repoRoot, "test", "fixtures", "stories260k", "greedy-200.json"), "utf8")) as {
  prompt: number[];
  ids: number[];
  sha256: string;
};

test("stories260K from ../shared imports and its greedy ids from BOS equal the PyTorch reference for 200 tokens", async (t) => {
  // ../shared from the repo root (CI), or ../../shared from a worktree under /work/wt.
  const candidates = [join(repoRoot, "..", "shared"), join(repoRoot, "..", "..", "shared")].map((d) => join(d, "models", "stories260K", "stories260K.bin"));
  const path = candidates.find((p) => existsSync(p));
  if (!path) return t.skip(`stories260K.bin not found (looked for ${candidates.join(", ")}); this test needs ../shared`);
  const sha = createHash("sha256").update(readFileSync(path)).digest("hex");
  assert.equal(
    sha,
    fixture.sha256,
    `${path} has sha256 ${sha}, but the fixture was made from ${fixture.sha256}: a different file; regenerate with /usr/bin/python3 tools/reference/stories260k_greedy.py`,
  );
  assert.equal(fixture.ids.length, 200);

  const { model, config } = loadModel(path);
  assert.equal(config.bosTokenId, 1);
  // No stop tokens: the reference decoded 200 tokens without stopping.
  const [r] = await generate(model, [fixture.prompt], { maxTokens: 200, sampling: { temperature: 0 }, stopTokenIds: [] });
  const ids = r!.ids;
  let same = 0;
  while (same < Math.min(ids.length, fixture.ids.length) && ids[same] === fixture.ids[same]) same++;
  assert.equal(
    same,
    fixture.ids.length,
    `first difference at generated token ${same}: ours ${JSON.stringify(ids.slice(same, same + 5))}, PyTorch ${JSON.stringify(fixture.ids.slice(same, same + 5))}`,
  );
  assert.equal(ids.length, 200);
});
