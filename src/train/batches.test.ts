import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { ShardSet, ShardWriter } from "../data/shards.ts";
import { WindowSampler, validationBatches } from "./batches.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-batches-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// A stream where token i is i % 1000, split over several small shards.
const w = new ShardWriter({ dir, split: "train", vocabSize: 1000, maxTokensPerShard: 700 });
w.write(Array.from({ length: 5000 }, (_, i) => i % 1000));
w.close();

test("training windows: targets are inputs shifted by one, windows are contiguous runs of the stream", () => {
  const set = ShardSet.open(dir, "train");
  const s = new WindowSampler(set, 4, 16, 1);
  for (let step = 0; step < 20; step++) {
    const b = s.next();
    for (let r = 0; r < 4; r++) {
      for (let t = 0; t < 16; t++) {
        const x = b.inputs[r * 16 + t]!,
          y = b.targets[r * 16 + t]!;
        assert.equal(y, (x + 1) % 1000, "target is the next token");
        if (t > 0) assert.equal(x, (b.inputs[r * 16 + t - 1]! + 1) % 1000);
      }
    }
  }
  set.close();
});

test("the sampler state resumes the exact data order", () => {
  const set = ShardSet.open(dir, "train");
  const a = new WindowSampler(set, 2, 8, 42);
  for (let i = 0; i < 5; i++) a.next();
  const saved = a.state();
  const wantNext = Array.from({ length: 3 }, () => Array.from(a.next().inputs));
  const b = new WindowSampler(set, 2, 8, 999);
  b.restore(saved);
  const gotNext = Array.from({ length: 3 }, () => Array.from(b.next().inputs));
  assert.deepEqual(gotNext, wantNext);
  assert.equal(b.tokensDrawn, 8 * 2 * 8);
  set.close();
});

test("validation windows are fixed, non-overlapping and end with a short batch", () => {
  const set = ShardSet.open(dir, "train");
  // Batches reuse one buffer: read each before asking for the next.
  const batches: { n: number; first: number }[] = [];
  for (const b of validationBatches(set, 3, 100, 100)) batches.push({ n: b.batch, first: b.inputs[0]! });
  // 4999 / 100 = 49 windows → 16 batches of 3 and one of 1
  assert.equal(batches.length, 17);
  assert.equal(batches.at(-1)!.n, 1);
  assert.deepEqual(
    batches.slice(0, 2).map((b) => b.first),
    [0, 300],
  );
  assert.equal([...validationBatches(set, 3, 100, 2)].length, 2);
  set.close();
});

test("a split shorter than one window is a usage error", () => {
  const set = ShardSet.open(dir, "train");
  assert.throws(() => new WindowSampler(set, 1, 5000, 0), /fewer than one window/);
  set.close();
});
