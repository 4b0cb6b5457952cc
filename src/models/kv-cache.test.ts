import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfigError } from "../errors.ts";
import { dequantize, ERROR_BUDGETS, quantize } from "../formats/quant.ts";
import { Engine } from "../infer/engine.ts";
import { Tape } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import { createModel, KvCache, presetConfig, type KvDtype } from "./index.ts";

const SHAPE = { nLayers: 2, nKvHeads: 2, headDim: 32 };

function randomRows(n: number, seed: number): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(n), 0, 1);
}

for (const dtype of ["f16", "q8_0"] as const) {
  const type = dtype === "f16" ? "F16" : "Q8_0";
  test(`${dtype} cache: attention reads back exactly the ${type} codec's values, within its error budget of what was written`, () => {
    const B = 2,
      T = 10,
      tq = 3,
      H = SHAPE.nKvHeads,
      D = SHAPE.headDim;
    const cache = new KvCache(SHAPE, B, T, { dtype });
    const k = randomRows(B * tq * H * D, 1),
      v = randomRows(B * tq * H * D, 2);
    const starts = Int32Array.of(0, 4);
    cache.write(1, k, v, B, tq, starts);
    const view = cache.attendView(1, B, tq, starts);
    assert.equal(view.maxT, 7, "the view holds the positions in use: the longest sequence's 4 + 3");
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < tq; t++) {
        for (let h = 0; h < H; h++) {
          const src = k.subarray(((b * tq + t) * H + h) * D, ((b * tq + t) * H + h + 1) * D);
          const want = dequantize(type, quantize(type, src), D);
          const at: number = ((b * H + h) * view.maxT + starts[b]! + t) * D;
          assert.deepEqual(view.keys.subarray(at, at + D), want, `key of sequence ${b}, token ${t}, head ${h}`);
          const budget = ERROR_BUDGETS[type];
          const amax = Math.max(...Array.from(src, Math.abs));
          const scale = dtype === "f16" ? amax : amax / 127;
          for (let i = 0; i < D; i++) assert.ok(Math.abs(want[i]! - src[i]!) <= budget.maxAbsPerScale * scale + budget.absFloor + 1e-7);
        }
      }
    }
    assert.ok(cache.bytes < new KvCache(SHAPE, B, T).bytes * (dtype === "f16" ? 0.51 : 0.28), `${cache.bytes} bytes`);
    assert.throws(() => cache.keys(0), /attendView/);
  });

  test(`${dtype} cache: views write into their slots and copySequence moves rows`, () => {
    const T = 8,
      H = SHAPE.nKvHeads,
      D = SHAPE.headDim;
    const cache = new KvCache(SHAPE, 3, T, { dtype });
    const k = randomRows(4 * H * D, 3),
      v = randomRows(4 * H * D, 4);
    cache.view(2).write(0, k, v, 1, 4, Int32Array.of(0));
    cache.copySequence(2, 0, 4);
    const view = cache.attendView(0, 3, 4, Int32Array.of(0, 0, 0));
    const slot = (s: number) => view.values.subarray(s * H * view.maxT * D, (s + 1) * H * view.maxT * D);
    assert.deepEqual(slot(0), slot(2), "slot 0 holds a copy of slot 2");
    assert.ok(
      slot(2).some((x) => x !== 0),
      "the view wrote into slot 2",
    );
    assert.ok(
      slot(1).every((x) => x === 0),
      "slot 1 is untouched",
    );
  });
}

for (const dtype of ["f32", "f16", "q8_0"] as const) {
  test(`${dtype} cache: saveSequence / loadSequence move a slot's positions as stored, whole or a prefix of them`, () => {
    const T = 8,
      H = SHAPE.nKvHeads,
      D = SHAPE.headDim,
      n = 5;
    const cache = new KvCache(SHAPE, 3, T, { dtype });
    for (let l = 0; l < SHAPE.nLayers; l++) cache.view(1).write(l, randomRows(n * H * D, 10 + l), randomRows(n * H * D, 20 + l), 1, n, Int32Array.of(0));
    const saved = new Uint8Array(cache.sequenceBytes(n));
    assert.equal(saved.byteLength, n * cache.sequenceBytes(1));
    cache.saveSequence(1, n, saved);
    cache.loadSequence(0, saved, n, n); // whole
    cache.loadSequence(2, saved, n, 3); // a prefix
    for (let l = 0; l < SHAPE.nLayers; l++) {
      const view = cache.attendView(l, 3, 1, Int32Array.of(n - 1, n - 1, n - 1));
      const at = (buf: Float32Array, s: number, h: number, t: number) =>
        Array.from(buf.subarray(((s * H + h) * view.maxT + t) * D, ((s * H + h) * view.maxT + t + 1) * D));
      for (let h = 0; h < H; h++) {
        for (let t = 0; t < n; t++) {
          assert.deepEqual(at(view.keys, 0, h, t), at(view.keys, 1, h, t), `layer ${l} head ${h} position ${t}: keys`);
          assert.deepEqual(at(view.values, 0, h, t), at(view.values, 1, h, t), `layer ${l} head ${h} position ${t}: values`);
          if (t < 3) assert.deepEqual(at(view.keys, 2, h, t), at(view.keys, 1, h, t));
          else
            assert.ok(
              at(view.keys, 2, h, t).every((x) => x === 0),
              "positions past the loaded prefix are untouched",
            );
        }
        assert.ok(at(view.keys, 1, h, 0).some((x) => x !== 0));
      }
    }
    assert.throws(() => cache.saveSequence(1, n, new Uint8Array(3)), /bytes/);
    assert.throws(() => cache.loadSequence(0, saved, n, n + 1), /saved sequence/);
    assert.throws(() => cache.loadSequence(3, saved, n, 1), /slot 3/);
  });
}

test("a q8_0 cache needs head_dim to be a multiple of 32", () => {
  assert.throws(
    () => new KvCache({ nLayers: 1, nKvHeads: 2, headDim: 24 }, 1, 8, { dtype: "q8_0" }),
    (e: unknown) => e instanceof ConfigError && /multiple of 32/.test(e.message),
  );
  assert.throws(() => new KvCache(SHAPE, 1, 8, { dtype: "q4" as KvDtype }), ConfigError);
});

test("logits over an f16 / q8_0 cache stay close to the f32 cache's; the engine runs on them", async () => {
  const config = presetConfig("nano", 120, { headDim: 32, nHeads: 4, nKvHeads: 2, dModel: 128, maxSeqLen: 64 });
  const model = createModel(config, 9);
  for (const p of model.parameters()) if (p.ndim === 2) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 10; // move the logits
  const ids = Int32Array.from({ length: 24 }, (_, i) => (i * 17 + 2) % 120);
  const logits = (dtype: KvDtype) => {
    const cache = new KvCache(config, 1, 32, { dtype });
    // prefill 20 tokens, then 4 decode steps reading the cache back
    model.forwardCached(new Tape({ grad: false }), ids.subarray(0, 20), 1, 20, cache, Int32Array.of(0));
    const out: number[] = [];
    for (let t = 20; t < 24; t++) out.push(...model.forwardCached(new Tape({ grad: false }), ids.subarray(t, t + 1), 1, 1, cache, Int32Array.of(t)).data);
    return Float32Array.from(out);
  };
  const ref = logits("f32");
  let lo = Infinity,
    hi = -Infinity;
  for (const x of ref) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  for (const [dtype, budget] of [
    ["f16", 2e-3],
    ["q8_0", 3e-2],
  ] as const) {
    const got = logits(dtype);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!));
    assert.ok(worst / (hi - lo) < budget, `${dtype}: max |Δ logit| ${(worst / (hi - lo)).toExponential(2)} of the spread (budget ${budget})`);
    assert.ok(worst > 0, `${dtype}: the cache type changes something`);
  }
  const engine = new Engine(model, { maxConcurrency: 2, kvDtype: "q8_0" });
  const r = await engine.submit({ prompt: Array.from(ids.subarray(0, 10)), maxTokens: 5, sampling: { temperature: 0 } });
  assert.equal(r.ids.length, 5);
  await engine.close();
});
