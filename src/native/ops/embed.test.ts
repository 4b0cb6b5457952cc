import assert from "node:assert/strict";
import { test } from "node:test";

import { ShapeError } from "../../errors.ts";
import { referenceBackend } from "../reference.ts";
import { TOL, assertClose, checkGradient, dot, againstReference, forEachBackend, randn, rng, using } from "../testing.ts";
import { embeddingBackward, embeddingForward } from "./embed.ts";

function randomIds(r: ReturnType<typeof rng>, n: number, v: number): Int32Array {
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = r.int(v);
  return ids;
}

// (n, c, v): odd sizes for vector tails; the last one is big enough to use several threads.
const shapes: [number, number, number][] = [
  [1, 1, 1],
  [7, 33, 5],
  [33, 129, 17],
  [129, 7, 1000],
  [2000, 200, 300],
];

forEachBackend("embedding", (c) => {
  test("forward gathers table rows and matches the reference", againstReference(c), () =>
    using(c, () => {
      const r = rng(1);
      for (const [n, ch, v] of shapes) {
        const table = randn(r, v * ch),
          ids = randomIds(r, n, v);
        const got = new Float32Array(n * ch),
          want = new Float32Array(n * ch);
        embeddingForward(got, ids, table, n, ch, v);
        referenceBackend.embeddingForward(want, ids, table, n, ch, v);
        assert.deepEqual(got, want, `forward ${n}x${ch} v=${v}`);
      }
    }),
  );

  test("backward adds into a pre-filled dtable, repeated ids accumulate", againstReference(c), () =>
    using(c, () => {
      const r = rng(2);
      for (const [n, ch, v] of shapes) {
        const dout = randn(r, n * ch),
          ids = randomIds(r, n, Math.min(v, 3)); // few distinct ids: many repeats
        const d0 = randn(r, v * ch);
        const got = d0.slice(),
          want = d0.slice();
        embeddingBackward(got, dout, ids, n, ch, v);
        referenceBackend.embeddingBackward(want, dout, ids, n, ch, v);
        assertClose(got, want, TOL.f32, `dtable ${n}x${ch} v=${v}`);
      }
    }),
  );

  test("backward gives the same result on 1, 3 and 4 threads", againstReference(c), () =>
    using(c, () => {
      const r = rng(4);
      const n = 1500,
        ch = 333,
        v = 50; // column blocks split unevenly, a partial last block
      const dout = randn(r, n * ch),
        ids = randomIds(r, n, v);
      const want = new Float32Array(v * ch);
      referenceBackend.embeddingBackward(want, dout, ids, n, ch, v);
      const before = c.backend.getThreads();
      try {
        for (const t of [1, 3, 4]) {
          c.backend.setThreads(t);
          const got = new Float32Array(v * ch);
          embeddingBackward(got, dout, ids, n, ch, v);
          assertClose(got, want, TOL.f32, `dtable, ${t} threads`);
        }
      } finally {
        c.backend.setThreads(before);
      }
    }),
  );

  test("backward is the gradient of the forward (finite differences)", () =>
    using(c, () => {
      const r = rng(3);
      const n = 9,
        ch = 11,
        v = 4;
      const table = randn(r, v * ch),
        ids = randomIds(r, n, v),
        w = randn(r, n * ch);
      const out = new Float32Array(n * ch);
      const loss = () => {
        embeddingForward(out, ids, table, n, ch, v);
        return dot(out, w);
      };
      const dtable = new Float32Array(v * ch);
      embeddingBackward(dtable, w, ids, n, ch, v);
      checkGradient("dtable", table, dtable, loss, { samples: v * ch });
    }));

  test("rejects ids outside the table and buffers too small for the shape", () =>
    using(c, () => {
      const table = new Float32Array(12),
        out = new Float32Array(8);
      assert.throws(() => embeddingForward(out, Int32Array.from([0, 3]), table, 2, 4, 3), /ids\[1\] = 3 is outside \[0, 3\)/);
      assert.throws(() => embeddingForward(out, Int32Array.from([-1, 0]), table, 2, 4, 3), ShapeError);
      assert.throws(() => embeddingBackward(table, out, Int32Array.from([0, 5]), 2, 4, 3), ShapeError);
      assert.throws(() => embeddingForward(new Float32Array(7), Int32Array.from([0, 1]), table, 2, 4, 3), /out has 7 elements/);
      assert.throws(() => embeddingForward(out, Int32Array.from([0]), table, 2, 4, 3), /ids has 1 elements/);
      assert.throws(() => embeddingForward(out, Int32Array.from([0, 1]), table, 2, 4.5, 3), /c must be a positive integer/);
      assert.throws(() => embeddingForward(out, new Uint32Array([0, 1]) as unknown as Int32Array, table, 2, 4, 3), /Int32Array/);
    }));

  if (c.backend.name === "native") {
    test("the raw binding refuses bad ids and short buffers itself", () =>
      using(c, () => {
        const table = new Float32Array(12),
          out = new Float32Array(8);
        assert.throws(() => c.backend.embeddingForward(out, Int32Array.from([0, 3]), table, 2, 4, 3), RangeError);
        assert.throws(() => c.backend.embeddingBackward(table, out, Int32Array.from([-7, 0]), 2, 4, 3), RangeError);
        assert.throws(() => c.backend.embeddingForward(out, Int32Array.from([0, 1]), new Float32Array(11), 2, 4, 3), RangeError);
      }));
  }
});
