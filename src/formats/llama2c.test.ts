import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { FormatError } from "../errors.ts";
import { readLlama2c } from "./llama2c.ts";
import { halfToInterleaved, interleavedToHalf } from "./rope-permute.ts";

const shared = join(import.meta.dirname, "..", "..", "..", "shared");
const stories = join(shared, "models", "stories260K", "stories260K.bin");
const dir = mkdtempSync(join(tmpdir(), "slm-l2c-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("rope row permutations are inverses and move pairs as documented", () => {
  const heads = 2,
    hd = 4,
    cols = 3;
  const w = Float32Array.from({ length: heads * hd * cols }, (_, i) => i);
  const h = interleavedToHalf(w, heads, hd, cols);
  // head 0: old rows 0,1,2,3 (pairs (0,1),(2,3)) → new order 0,2,1,3
  assert.deepEqual(Array.from(h.subarray(0, 12)), [0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11]);
  assert.deepEqual(halfToInterleaved(h, heads, hd, cols), w);
});

test("reads the real stories260K checkpoint", { skip: existsSync(stories) ? false : `needs ${stories} (../shared is absent)` }, () => {
  const { config, tensors } = readLlama2c(stories);
  assert.deepEqual(
    [config.dModel, config.ffnDim, config.nLayers, config.nHeads, config.nKvHeads, config.vocabSize, config.maxSeqLen, config.tieEmbeddings],
    [64, 172, 5, 8, 4, 512, 512, true],
  );
  assert.equal(tensors.size, 2 + 9 * 5);
  assert.deepEqual(tensors.get("model.layers.4.self_attn.k_proj.weight")!.shape, [32, 64]);
  let total = 0;
  for (const t of tensors.values()) total += t.data.length;
  assert.ok(total > 250_000 && total < 300_000, `${total} parameters`);
  for (const t of tensors.values()) for (const v of t.data) assert.ok(Number.isFinite(v));
});

test("truncated, padded and nonsense files are FormatErrors", { skip: existsSync(stories) ? false : `needs ${stories}` }, () => {
  const raw = readFileSync(stories);
  const cases: [string, Uint8Array, RegExp][] = [
    ["short", raw.subarray(0, 20), /too short/],
    ["truncated", raw.subarray(0, raw.length - 4), /file is \d+ bytes; a llama2.c checkpoint/],
    ["padded", Buffer.concat([raw, Buffer.alloc(4)]), /file is \d+ bytes/],
    [
      "zero-dim",
      (() => {
        const b = Buffer.from(raw);
        b.writeInt32LE(0, 0);
        return b;
      })(),
      /dim = 0 is out of range/,
    ],
    [
      "odd-heads",
      (() => {
        const b = Buffer.from(raw);
        b.writeInt32LE(3, 16);
        return b;
      })(),
      /n_kv_heads/,
    ],
  ];
  for (const [name, bytes, re] of cases) {
    const p = join(dir, `${name}.bin`);
    writeFileSync(p, bytes);
    assert.throws(
      () => readLlama2c(p),
      (e: unknown) => e instanceof FormatError && re.test(e.message),
      name,
    );
  }
});
