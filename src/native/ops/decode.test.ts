// The decode-step kernel: on every backend and instruction set, decodeLayers equals the same
// backend's kernels called one by one in decodeLayersWith's order, bit for bit (every storage
// type, biases, q/k norms, 1 to 8 rows of one or two sequences); the native result is within a named tolerance
// of the reference; bad specs and calls get errors that name the problem.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ShapeError } from "../../errors.ts";
import { quantize, traits, type GgmlTypeName } from "../../formats/quant.ts";
import type { Kernels } from "../backend.ts";
import { referenceBackend } from "../reference.ts";
import { againstReference, assertClose, forEachBackend, randn, rng, using } from "../testing.ts";
import { QGEMM_QUANT_ROWS } from "./qgemm.ts";
import { DECODE_MAX_ROWS, DecodePlan, decodeBufferSize, decodeLayersWith, type DecodeSpec } from "./decode.ts";

/**
 * Three layers, d 256 (whole K-quant blocks): the first of Q8_0/Q4_0/F32 (stored)/BF16/Q5_0, the
 * second K-quants with biases and q/k norms, the third plain float32 weights (as a model trained
 * here holds them) with biases; the first layer's q/k/v mix F32 with the others (no fused call).
 */
function spec(maxT = 8, slots = 1, kvType: DecodeSpec["kvType"] = "F32"): DecodeSpec {
  const r = rng(7);
  const d = 256,
    h = 4,
    kvh = 2,
    hd = 64,
    ffn = 512;
  const shapes: [number, number][] = [
    [h * hd, d],
    [kvh * hd, d],
    [kvh * hd, d],
    [d, h * hd],
    [ffn, d],
    [ffn, d],
    [d, ffn],
  ];
  const layerTypes: GgmlTypeName[][] = [
    ["Q8_0", "Q4_0", "F32", "BF16", "Q5_0", "F16", "Q4_0"],
    ["Q4_K", "Q6_K", "Q5_K", "Q4_K", "Q6_K", "Q5_1", "Q4_K"],
    ["F32", "F32", "F32", "F32", "F32", "F32", "F32"],
  ];
  return {
    dModel: d,
    nHeads: h,
    nKvHeads: kvh,
    headDim: hd,
    ffnDim: ffn,
    rot: hd,
    maxT,
    slots,
    kvType,
    eps: 1e-6,
    scale: 1 / Math.sqrt(hd),
    layers: layerTypes.map((types, l) => ({
      attnNorm: randn(r, d, 0.2).map((v) => v + 1),
      mlpNorm: randn(r, d, 0.2).map((v) => v + 1),
      qNorm: l === 1 ? randn(r, hd, 0.2).map((v) => v + 1) : null,
      kNorm: l === 1 ? randn(r, hd, 0.2).map((v) => v + 1) : null,
      types: Int32Array.from(types, (t) => traits(t).id),
      plain: new Uint8Array(7).fill(l === 2 ? 1 : 0),
      weights: types.map((t, i) => quantize(t, randn(r, shapes[i]![0] * shapes[i]![1], 0.06))),
      biases: shapes.map(([rows], i) => ((l === 1 && i < 3) || l === 2 ? randn(r, rows, 0.1) : null)),
      kCache: cacheOf(kvType, slots * kvh * maxT, hd),
      vCache: cacheOf(kvType, slots * kvh * maxT, hd),
    })),
  };
}

function cacheOf(kvType: DecodeSpec["kvType"], rows: number, hd: number): Float32Array | Uint8Array {
  if (kvType === "F32") return new Float32Array(rows * hd);
  const t = traits(kvType);
  return new Uint8Array(rows * (hd / t.blockSize) * t.blockBytes);
}

/** cos, sin (maxT, hd/2) of the standard rotary angles. */
function tables(s: DecodeSpec): { cos: Float32Array; sin: Float32Array } {
  const half = s.rot / 2,
    cos = new Float32Array(s.maxT * half),
    sin = new Float32Array(s.maxT * half);
  for (let p = 0; p < s.maxT; p++)
    for (let j = 0; j < half; j++) {
      const a = p * 10000 ** (-j / half);
      cos[p * half + j] = Math.cos(a);
      sin[p * half + j] = Math.sin(a);
    }
  return { cos, sin };
}

/** Calls of a run over two cache slots: [sequences, tokens each, start of each sequence]. */
const SCHEDULE: [number, number, number[]][] = [
  [1, 1, [0]], // one token
  [1, 3, [1]], // a verification of three tokens
  [2, 1, [4, 0]], // two slots, one token each
  [2, 4, [5, 1]], // two slots, four tokens each: 8 rows, the most a call takes
  [1, 1, [9]],
];

/** x after each call of SCHEDULE (fresh caches), through a plan or through `kernels` one by one. */
function run(via: { plan: true } | { kernels: Kernels }, kvType: DecodeSpec["kvType"] = "F32"): Float32Array[] {
  const s = spec(16, 2, kvType),
    { cos, sin } = tables(s);
  const r = rng(3);
  const plan = "plan" in via ? new DecodePlan(s) : null;
  const buf = new Float32Array(decodeBufferSize(s));
  return SCHEDULE.map(([b, tq, starts]) => {
    const x = randn(r, b * tq * s.dModel);
    if (plan) plan.run(x, b, tq, Int32Array.from(starts), cos, sin);
    else decodeLayersWith((via as { kernels: Kernels }).kernels, s, buf, x, b, tq, Int32Array.from(starts), cos, sin);
    return x;
  });
}

forEachBackend("decodeLayers", (c) => {
  for (const kv of ["F32", "F16", "Q8_0"] as const)
    test(`equals the backend's own kernels called one by one, bit for bit: 1 to 8 rows, one or two sequences, ${kv} cache`, () =>
      using(c, () => {
        const plan = run({ plan: true }, kv),
          calls = run({ kernels: c.backend }, kv);
        plan.forEach((x, i) => assert.deepEqual(x, calls[i], `x after call ${i}`));
      }));

  // Tolerance: every product rounds its activations to 8 bits per block (natively; the reference
  // does not), 7 products a layer through two layers: x moved by at most 4% of its RMS when this
  // was written (0.076 at RMS 1.9). 10% of the RMS, per element; a wrong bias, rotation or cache
  // row moves elements by about the RMS itself.
  test("is within 10% of x's RMS of the reference, per element (8-bit activations through two layers)", againstReference(c), () =>
    using(c, () => {
      const got = run({ plan: true }),
        want = run({ kernels: referenceBackend });
      got.forEach((x, p) => {
        const w = want[p]!;
        const rms = Math.sqrt(w.reduce((t, v) => t + v * v, 0) / w.length);
        assertClose(x, w, { rtol: 0, atol: 0.1 * rms }, `x after call ${p}`);
      });
    }),
  );

  test("takes as many rows as the quantized products' decode path", () => assert.equal(DECODE_MAX_ROWS, QGEMM_QUANT_ROWS));

  test("bad specs and calls get errors naming the problem", () =>
    using(c, () => {
      const s = spec();
      const short = { ...s, layers: [{ ...s.layers[0]!, weights: s.layers[0]!.weights.map((w, i) => (i === 4 ? w.subarray(1) : w)) }] };
      assert.throws(
        () => new DecodePlan(short),
        (e: unknown) => e instanceof ShapeError && /layers\[0\]\.gate: Q5_0 512×256 takes/.test(e.message),
      );
      assert.throws(
        () => new DecodePlan({ ...s, nKvHeads: 3 }),
        (e: unknown) => e instanceof ShapeError && /not a multiple of 3 KV heads/.test(e.message),
      );
      const cache = { ...s, layers: [{ ...s.layers[0]!, kCache: new Float32Array(5) }] };
      assert.throws(
        () => new DecodePlan(cache),
        (e: unknown) => e instanceof ShapeError && /kCache/.test(e.message),
      );
      const plan = new DecodePlan(s),
        { cos, sin } = tables(s);
      const one = Int32Array.of(0);
      assert.throws(
        () => plan.run(new Float32Array(256), 1, 1, Int32Array.of(8), cos, sin),
        (e: unknown) => e instanceof ShapeError && /positions 8\.\.8 are outside the cache \(8 positions\)/.test(e.message),
      );
      assert.throws(
        () => plan.run(new Float32Array(255), 1, 1, one, cos, sin),
        (e: unknown) => e instanceof ShapeError && /x/.test(e.message),
      );
      assert.throws(
        () => plan.run(new Float32Array(256), 1, 1, Int32Array.of(3), cos.subarray(0, 3 * 32), sin),
        (e: unknown) => e instanceof ShapeError && /cos/.test(e.message),
      );
      assert.throws(
        () => plan.run(new Float32Array(9 * 256), 1, 9, one, cos, sin),
        (e: unknown) => e instanceof ShapeError && /at most 8 rows and 1 sequences/.test(e.message),
      );
      assert.throws(
        () => plan.run(new Float32Array(2 * 256), 2, 1, Int32Array.of(0, 0), cos, sin),
        (e: unknown) => e instanceof ShapeError && /at most 8 rows and 1 sequences/.test(e.message),
      );
    }));
});
