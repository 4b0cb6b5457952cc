// Weight buffers (memory.ts): the requested length, fully writable and readable; small requests
// and SLM_HUGE_WEIGHTS=0 give plain memory; with the addon a large one is its own 2 MB-aligned
// allocation (an ArrayBuffer of exactly the requested length, not a view into a bigger one).
import assert from "node:assert/strict";
import { test } from "node:test";

import { nativeBackend } from "./load.ts";
import { HUGE_WEIGHTS_MIN, weightBuffer } from "./memory.ts";

test("weightBuffer gives the requested bytes, writable end to end", () => {
  for (const n of [3, 4096, HUGE_WEIGHTS_MIN + 12345]) {
    const b = weightBuffer(n);
    assert.equal(b.length, n);
    assert.equal(b.byteOffset, 0);
    b[0] = 7;
    b[n - 1] = 9;
    b.fill(3, 1, n - 1);
    assert.deepEqual([b[0], b[n >> 1], b[n - 1]], [7, 3, 9]);
  }
});

test("with the addon a large buffer comes from allocWeights; SLM_HUGE_WEIGHTS=0 turns that off", {
  skip: nativeBackend()?.allocWeights ? false : "the native addon is not built",
}, () => {
  const n = HUGE_WEIGHTS_MIN + 1;
  const direct = new Uint8Array(nativeBackend()!.allocWeights!(n));
  assert.equal(direct.buffer.byteLength, n);
  assert.throws(() => nativeBackend()!.allocWeights!(0), /allocWeights: bytes must be in/);
  const before = process.env.SLM_HUGE_WEIGHTS;
  process.env.SLM_HUGE_WEIGHTS = "0";
  try {
    assert.equal(weightBuffer(n).length, n);
  } finally {
    if (before === undefined) delete process.env.SLM_HUGE_WEIGHTS;
    else process.env.SLM_HUGE_WEIGHTS = before;
  }
});
