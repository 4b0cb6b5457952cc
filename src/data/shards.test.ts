// Token shards: round trip, rollover, cross-shard windows, and header validation.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { FormatError } from "../errors.ts";
import { Rng } from "../util/rng.ts";
import { DTYPE_U16, DTYPE_U32, ShardReader, ShardSet, ShardWriter, dtypeForVocab } from "./shards.ts";

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "slm-shards-"));
}

test("dtype follows the vocabulary size", () => {
  assert.equal(dtypeForVocab(257), DTYPE_U16);
  assert.equal(dtypeForVocab(65536), DTYPE_U16);
  assert.equal(dtypeForVocab(65537), DTYPE_U32);
});

for (const vocab of [300, 100000]) {
  test(`round trip with rollover, vocab ${vocab}`, () => {
    const dir = tmp();
    try {
      const rng = new Rng(7);
      const ids: number[] = [];
      for (let i = 0; i < 2500; i++) ids.push(rng.int(vocab));
      const w = new ShardWriter({ dir, split: "train", vocabSize: vocab, maxTokensPerShard: 1000, bufferTokens: 64 });
      w.write(ids.slice(0, 777));
      w.write(ids.slice(777));
      const shards = w.close();
      assert.deepEqual(
        shards.map((s) => [s.file, s.count]),
        [
          ["train-00000.bin", 1000],
          ["train-00001.bin", 1000],
          ["train-00002.bin", 500],
        ],
      );
      assert.deepEqual(readdirSync(dir).sort(), ["train-00000.bin", "train-00001.bin", "train-00002.bin"]);
      const bpt = vocab <= 65536 ? 2 : 4;
      assert.equal(readFileSync(join(dir, "train-00000.bin")).length, 32 + 1000 * bpt);

      const one = ShardReader.open(join(dir, "train-00001.bin"));
      assert.equal(one.count, 1000);
      assert.deepEqual(Array.from(one.read(10, 20)), ids.slice(1010, 1030));
      assert.throws(() => one.read(990, 11), /outside/);
      one.close();

      const set = ShardSet.open(dir, "train");
      assert.equal(set.count, 2500);
      assert.deepEqual(Array.from(set.read(0, 2500)), ids);
      const out = new Uint32Array(65);
      assert.deepEqual(Array.from(set.read(980, 65, out)), ids.slice(980, 1045)); // crosses a boundary
      assert.deepEqual(Array.from(set.read(995, 1010)), ids.slice(995, 2005)); // crosses two
      set.close();
      assert.equal(ShardSet.open(dir, "val").count, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("the writer rejects ids outside the vocabulary", () => {
  const dir = tmp();
  try {
    const w = new ShardWriter({ dir, split: "val", vocabSize: 10 });
    assert.throws(() => w.write([1, 2, 10]), /token id 10 .*outside \[0, 10\)/);
    assert.throws(() => w.write([-1]), /outside/);
    assert.throws(() => w.write([1.5]), /outside/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the reader names what is wrong with a bad header", () => {
  const dir = tmp();
  try {
    const w = new ShardWriter({ dir, split: "train", vocabSize: 300 });
    w.write([1, 2, 3, 4]);
    w.close();
    const good = readFileSync(join(dir, "train-00000.bin"));
    const p = join(dir, "bad.bin");
    const cases: [string, (b: Buffer) => Buffer, RegExp][] = [
      ["magic", (b) => (b.write("XXXX", 0, "ascii"), b), /bad magic "XXXX"/],
      ["version", (b) => (b.writeUInt32LE(9, 4), b), /unsupported shard version 9/],
      ["dtype", (b) => (b.writeUInt32LE(3, 8), b), /unknown dtype code 3/],
      ["count", (b) => (b.writeBigUInt64LE(5n, 16), b), /header says 5 tokens .* file has 40 bytes/],
      ["truncated", (b) => b.subarray(0, 37), /header says 4 tokens/],
      ["short", (b) => b.subarray(0, 10), /shorter than the 32-byte shard header/],
    ];
    for (const [name, mutate, re] of cases) {
      writeFileSync(p, mutate(Buffer.from(good)));
      assert.throws(
        () => ShardReader.open(p),
        (e: unknown) => e instanceof FormatError && re.test(e.message),
        name,
      );
    }
    const r = ShardReader.open(join(dir, "train-00000.bin"));
    assert.equal(r.dtype, DTYPE_U16);
    assert.deepEqual(Array.from(r.read(0, 4)), [1, 2, 3, 4]);
    r.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
