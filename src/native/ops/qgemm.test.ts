// Quantized products: every storage type on every backend and ISA against the
// float64 reference, within a tolerance named and justified here; qrows exact
// against the decoders; the transposed product; bad input.
//
// Tolerance (QTOL), per output y = Σ_k w_k·x_k:
//   |got − want| ≤ QTOL.sigmas · sqrt(Σ_k w_k² · d_b(k)² / 12) + QTOL.rtol · Σ_k |w_k·x_k|
// The first term covers the native kernels' 8-bit activations: each x_k is
// rounded to a multiple of its block's scale d_b = max|x| / 127 over the
// ACTIVATION_BLOCK values around it (32 for Q8_0/Q4_0, 256 for K-quants, 0 for
// the float types), an error uniform in ±d_b/2 with variance d_b²/12, so the sum
// is near-normal with that standard deviation; 6 of them is exceeded with
// probability ~2e-9 per output. The second covers float32 accumulation (scales
// times int32 block sums, float GEMM for prefill).
// That bound is what a caller may rely on, but it is loose for long rows, so
// the native integer path (m ≤ QGEMM_QUANT_ROWS) is also held tightly to W
// times the very 8-bit activations it computes with (mirrored here in float32
// step by step): |got − Σ w·x̂| ≤ QTOL.rtol · Σ|w·x̂|. A 1% error in the Q4_K
// mins of half the sub-blocks fails that check (tried by hand).
import assert from "node:assert/strict";
import { test } from "node:test";

import { FormatError, ShapeError } from "../../errors.ts";
import { dequantize, quantize, traits, type GgmlTypeName } from "../../formats/quant.ts";
import { f32ToF16Bits } from "../../formats/half.ts";
import { referenceBackend } from "../reference.ts";
import { againstReference, forEachBackend, randn, rng, using } from "../testing.ts";
import { activationBlock, QGEMM_QUANT_ROWS, QTYPES, qmatmul, qmatmulMulti, qmatmulT, qrows, qweight, qweightBytes, type QType, type QWeight } from "./qgemm.ts";

export const QTOL = { sigmas: 6, rtol: 1e-4 } as const;

type Rng = ReturnType<typeof rng>;

/** Random valid weight bytes of a type: random codes, f16 scales set to sane sizes (fast for any size). */
function randomWeightBytes(r: Rng, type: QType, rows: number, cols: number): Uint8Array {
  const n = rows * cols;
  if (type === "F32") return new Uint8Array(randn(r, n, 0.05).buffer);
  if (type === "F16" || type === "BF16") return quantize(type, randn(r, n, 0.05));
  const t = traits(type as GgmlTypeName);
  const nb = n / t.blockSize;
  const bytes = new Uint8Array(nb * t.blockBytes);
  for (let i = 0; i < bytes.length; i += 4) {
    const v = r.int(2 ** 32);
    bytes[i] = v & 0xff;
    bytes[i + 1] = (v >>> 8) & 0xff;
    bytes[i + 2] = (v >>> 16) & 0xff;
    bytes[i + 3] = v >>> 24;
  }
  const scaleOffsets = type === "Q6_K" ? [208] : type === "Q4_K" || type === "Q5_K" || type === "Q5_1" ? [0, 2] : [0];
  for (let b = 0; b < nb; b++) {
    for (const o of scaleOffsets) {
      const h = f32ToF16Bits((0.5 + r.uniform()) * (type.endsWith("_K") ? 2e-4 : 4e-3) * (r.uniform() < 0.5 ? -1 : 1));
      bytes[b * t.blockBytes + o] = h & 0xff;
      bytes[b * t.blockBytes + o + 1] = h >>> 8;
    }
  }
  return bytes;
}

/** Activations: normals, with an all-zero block and an outlier to exercise the 8-bit scales. */
function activations(r: Rng, m: number, cols: number): Float32Array {
  const x = randn(r, m * cols);
  if (cols >= 64) x.fill(0, 0, 32);
  x[Math.min(m * cols - 1, 40)] = 9;
  return x;
}

/** Each output's QTOL bound, from the dequantized W and x (computed once per case). */
function bounds(wf: Float32Array, x: Float32Array, m: number, rows: number, cols: number, type: QType): Float64Array {
  const ab = activationBlock(type);
  const d2 = new Float64Array(m * cols); // (d_b)^2 per activation value
  if (ab > 0) {
    for (let i = 0; i < m; i++) {
      for (let b0 = 0; b0 < cols; b0 += ab) {
        let amax = 0;
        for (let k = b0; k < b0 + ab; k++) amax = Math.max(amax, Math.abs(x[i * cols + k]!));
        d2.fill((amax / 127) ** 2, i * cols + b0, i * cols + b0 + ab);
      }
    }
  }
  const out = new Float64Array(m * rows);
  for (let i = 0; i < m; i++) {
    for (let r = 0; r < rows; r++) {
      let varSum = 0,
        absSum = 0;
      for (let k = 0; k < cols; k++) {
        const w = wf[r * cols + k]!,
          xv = x[i * cols + k]!;
        varSum += w * w * d2[i * cols + k]!;
        absSum += Math.abs(w * xv);
      }
      out[i * rows + r] = QTOL.sigmas * Math.sqrt(varSum / 12) + QTOL.rtol * absSum + 1e-30;
    }
  }
  return out;
}

function closeEverywhere(got: Float32Array, want: ArrayLike<number>, bound: Float64Array): boolean {
  for (let j = 0; j < got.length; j++) if (!(Math.abs(got[j]! - want[j]!) <= bound[j]!)) return false;
  return true;
}

function assertQClose(got: Float32Array, want: ArrayLike<number>, bound: Float64Array, rows: number, what: string): void {
  for (let j = 0; j < got.length; j++) {
    const g = got[j]!,
      w = want[j]!;
    if (!(Math.abs(g - w) <= bound[j]!)) {
      assert.fail(
        `${what}: y[${Math.floor(j / rows)}][${j % rows}] = ${g}, want ${w} (|diff| ${Math.abs(g - w).toExponential(3)} > bound ${bound[j]!.toExponential(3)})`,
      );
    }
  }
}

const BS: Record<QType, number> = { F32: 32, F16: 32, BF16: 32, Q8_0: 32, Q4_0: 32, Q5_0: 32, Q5_1: 32, Q4_K: 256, Q5_K: 256, Q6_K: 256 };

/** [m, rows, cols]: m ∈ {1, 7, 33}, rows from (1, 7, 33, 129, 4864), cols whole blocks (B, 7B, 4864). */
function shapesFor(type: QType): [number, number, number][] {
  const b = BS[type];
  return [
    [1, 1, b],
    [7, 7, 7 * b],
    [33, 33, b],
    [1, 129, 4864],
    [7, 33, 4864],
    [33, 129, 4864],
    [1, 4864, b],
    [33, 7, 7 * b],
  ];
}

const PREFILL_AMX_TYPES = ["Q8_0", "Q4_0", "Q5_0", "Q5_1", "Q4_K", "Q5_K"] as const;

/**
 * [m, rows, cols] for the prefill paths (m > QGEMM_QUANT_ROWS). Q8_0 and Q4_0: m on both
 * sides of the 16-row AMX tiles and their pairs (9, 17, 33, 129, 512), rows not a multiple
 * of 16 (23, 33, 37), rows and cols of 32, 96, 896 and 4864, odd block counts. The other
 * types share that code but for their block decoding: a few of those shapes (the float64
 * reference in TypeScript is what costs time here).
 */
function prefillShapes(type: QType): [number, number, number][] {
  if (type === "Q8_0" || type === "Q4_0") {
    return [
      [9, 96, 32],
      [17, 33, 96],
      [33, 4864, 32],
      [129, 37, 896],
      [512, 23, 96],
      [33, 96, 4864],
      [512, 32, 896],
      [17, 896, 96],
    ];
  }
  const k = BS[type] === 256;
  return [
    [9, 96, k ? 256 : 32],
    [17, 33, k ? 512 : 96],
    [129, 37, k ? 1024 : 896],
    [47, 23, 4864],
  ];
}

interface Case {
  w: QWeight;
  x: Float32Array;
  m: number;
  /** The reference product and each output's QTOL bound around it. */
  want: Float32Array;
  bound: Float64Array;
  /** QTOL.rtol · Σ|w·x|: the float32-rounding part of the bound alone (float paths). */
  boundF: Float64Array;
  /** W times the 8-bit activations the native integer path computes with, and a float32-rounding bound: tight. */
  wantQ: Float64Array;
  boundQ: Float64Array;
}

/**
 * x rounded as the native kernels round it: per block, d = fround(max|x| / 127),
 * q = round-half-even(fround(x · fround(1 / d))); returns q·d (what the integer path multiplies).
 */
function quantizedActivations(x: Float32Array, m: number, cols: number, block: number): Float64Array {
  const out = new Float64Array(m * cols);
  const f = Math.fround;
  for (let b0 = 0; b0 < m * cols; b0 += block) {
    let amax = 0;
    for (let k = b0; k < b0 + block; k++) amax = Math.max(amax, Math.abs(x[k]!));
    const d = f(amax / 127),
      id = d !== 0 ? f(1 / d) : 0;
    for (let k = b0; k < b0 + block; k++) {
      const v = f(x[k]! * id),
        fl = Math.floor(v),
        frac = v - fl;
      const q = frac > 0.5 || (frac === 0.5 && fl % 2 !== 0) ? fl + 1 : fl;
      out[k] = q * d;
    }
  }
  return out;
}

/** Σ w·x̂ in float64 per output, and QTOL.rtol · Σ|w·x̂| as its bound. */
function productWithBound(wf: Float32Array, xq: Float64Array, m: number, rows: number, cols: number): [Float64Array, Float64Array] {
  const y = new Float64Array(m * rows),
    b = new Float64Array(m * rows);
  for (let i = 0; i < m; i++) {
    for (let r = 0; r < rows; r++) {
      let s = 0,
        a = 0;
      for (let k = 0; k < cols; k++) {
        const p = wf[r * cols + k]! * xq[i * cols + k]!;
        s += p;
        a += Math.abs(p);
      }
      y[i * rows + r] = s;
      b[i * rows + r] = QTOL.rtol * a + 1e-30;
    }
  }
  return [y, b];
}
const cases = new Map<string, Case>();

/** Builds (once per type and shape, shared by every backend) weights, activations and the reference product. */
function caseFor(type: QType, m: number, rows: number, cols: number, seed: number): Case {
  const key = `${type} ${m} ${rows} ${cols}`;
  let c = cases.get(key);
  if (!c) {
    const r = rng(seed);
    const bytes = randomWeightBytes(r, type, rows, cols);
    const w = qweight(type, bytes, rows, cols);
    const wf = dequantize(type as GgmlTypeName, bytes, rows * cols);
    const x = activations(r, m, cols);
    const want = new Float32Array(m * rows);
    referenceBackend.qgemm(want, x, m, traits(type as GgmlTypeName).id, bytes, rows, cols);
    const ab = activationBlock(type);
    // 8-bit activations: decode (m ≤ 8, ACTIVATION_BLOCK values per scale), and prefill of
    // the quantized types, which on AVX-512 VNNI may run the int8 GEMM (32 values per scale)
    const [wantQ, boundQ] =
      ab > 0
        ? productWithBound(wf, quantizedActivations(x, m, cols, m <= QGEMM_QUANT_ROWS ? ab : 32), m, rows, cols)
        : [new Float64Array(0), new Float64Array(0)];
    c = { w, x, m, want, bound: bounds(wf, x, m, rows, cols, type), boundF: productWithBound(wf, Float64Array.from(x), m, rows, cols)[1], wantQ, boundQ };
    cases.set(key, c);
  }
  return c;
}

test("the reference equals dequantize-then-multiply in float64", () => {
  const r = rng(5);
  for (const type of QTYPES) {
    const rows = 3,
      cols = BS[type] * 2,
      m = 2;
    const bytes = randomWeightBytes(r, type, rows, cols);
    const wf = dequantize(type as GgmlTypeName, bytes, rows * cols);
    const x = randn(r, m * cols);
    const y = new Float32Array(m * rows);
    referenceBackend.qgemm(y, x, m, traits(type as GgmlTypeName).id, bytes, rows, cols);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < rows; j++) {
        let s = 0;
        for (let k = 0; k < cols; k++) s += wf[j * cols + k]! * x[i * cols + k]!;
        assert.equal(y[i * rows + j], Math.fround(s), `${type} y[${i}][${j}]`);
      }
    }
  }
});

forEachBackend("qgemm", (c) => {
  for (const type of QTYPES) {
    test(`qmatmul ${type} matches the float64 reference within QTOL (m 1/7/33, rows to 4864, cols to 4864)`, againstReference(c), () =>
      using(c, () => {
        let seed = 100;
        for (const [m, rows, cols] of shapesFor(type)) {
          const q = caseFor(type, m, rows, cols, seed++);
          const y = new Float32Array(m * rows).fill(NaN);
          qmatmul(y, q.x, m, q.w);
          assertQClose(y, q.want, q.bound, rows, `${type} ${m}x${rows}x${cols}`);
          // The native integer paths, checked tightly against the same 8-bit activations in float64
          // (prefill of a 32-block type may instead have run the float panels, exact up to float32 sums).
          if (c.backend.name === "native" && q.wantQ.length) {
            if (m <= QGEMM_QUANT_ROWS || !closeEverywhere(y, q.want, q.boundF))
              assertQClose(y, q.wantQ, q.boundQ, rows, `${type} ${m}x${rows}x${cols} vs 8-bit activations`);
          }
        }
      }),
    );
  }

  test("Q8_0, Q4_0, Q5_0 and Q5_1 also match without VNNI (the pmaddubsw path a CPU without it runs)", (t) =>
    using(c, () => {
      const vnni = c.backend.qgemmVnni;
      if (!vnni || c.isa === "scalar") return t.skip("no VNNI switch on this backend / ISA");
      const had = vnni(-1);
      try {
        assert.equal(vnni(0), false);
        for (const type of ["Q8_0", "Q4_0", "Q5_0", "Q5_1"] as const) {
          let seed = 100;
          for (const [m, rows, cols] of shapesFor(type)) {
            const q = caseFor(type, m, rows, cols, seed++);
            const y = new Float32Array(m * rows).fill(NaN);
            qmatmul(y, q.x, m, q.w);
            assertQClose(y, q.want, q.bound, rows, `${type} ${m}x${rows}x${cols} without VNNI`);
            // without VNNI, prefill runs the float panels: exact up to float32 sums
            if (m > QGEMM_QUANT_ROWS) assertQClose(y, q.want, q.boundF, rows, `${type} ${m}x${rows}x${cols} without VNNI vs float panels`);
            else assertQClose(y, q.wantQ, q.boundQ, rows, `${type} ${m}x${rows}x${cols} without VNNI vs 8-bit activations`);
          }
        }
      } finally {
        vnni(had ? 1 : 0);
      }
    }));

  test("prefill of Q8_0, Q4_0, Q5_0, Q5_1, Q4_K and Q5_K matches with AMX tiles on and off (AVX-512 VNNI GEMM)", (t) =>
    using(c, () => {
      const amx = c.backend.qgemmAmx;
      if (!amx || c.isa !== "avx512") return t.skip("AMX tiles are used only by the native AVX-512 build");
      const had = amx(-1);
      if (!amx(1))
        return t.skip(
          "AMX-INT8 is not usable here: the CPU lacks AMX-TILE/AMX-INT8, the OS did not grant tile state, the VNNI switch is off, or the compiler could not target AMX",
        );
      try {
        for (const type of PREFILL_AMX_TYPES) {
          let seed = 700;
          for (const [m, rows, cols] of prefillShapes(type)) {
            const q = caseFor(type, m, rows, cols, seed++);
            const got: Float32Array[] = [];
            for (const on of [1, 0]) {
              assert.equal(amx(on), on === 1);
              const y = new Float32Array(m * rows).fill(NaN);
              qmatmul(y, q.x, m, q.w);
              const what = `${type} ${m}x${rows}x${cols} AMX ${on ? "on" : "off"}`;
              assertQClose(y, q.want, q.bound, rows, what);
              assertQClose(y, q.wantQ, q.boundQ, rows, `${what} vs 8-bit activations`);
              got.push(y);
            }
            // Same int32 block sums, same float operations in the same order: the same bits.
            assert.deepEqual(got[0], got[1], `${type} ${m}x${rows}x${cols}: AMX and VNNI differ`);
          }
        }
      } finally {
        amx(had ? 1 : 0);
      }
    }));

  test("decode (m 1..8) of the 32-block types: every activation-row count, rows not a multiple of 4, 1..7 and 28 blocks per row, weights at odd byte offsets", () =>
    using(c, () => {
      // The AVX-512 VNNI decode loops take Q4_0 in groups of 4 blocks and Q8_0 in pairs (a short
      // last group per row), rows in fours, and one compiled loop per activation-row count.
      const r = rng(13);
      for (const type of ["Q4_0", "Q8_0", "Q5_0", "Q5_1"] as const) {
        const shapes = [
          [1, 1],
          [5, 2],
          [7, 3],
          [6, 4],
          [33, 5],
          [3, 6],
          [129, 7],
          [9, 28],
        ] as const;
        for (const [k, [rows, nb]] of shapes.entries()) {
          const cols = 32 * nb;
          for (const mm of [k + 1, QGEMM_QUANT_ROWS - k]) {
            // every m in 1..8 twice over the shapes
            const t = traits(type);
            const bytes = randomWeightBytes(r, type, rows, cols);
            const shift = 1 + r.int(63); // a view that starts at an odd place in its buffer
            const holder = new Uint8Array(bytes.length + shift);
            holder.set(bytes, shift);
            const w = qweight(type, holder.subarray(shift), rows, cols);
            const wf = dequantize(type, bytes, rows * cols);
            const x = activations(r, mm, cols);
            const y = new Float32Array(mm * rows).fill(NaN);
            qmatmul(y, x, mm, w);
            const want = new Float32Array(mm * rows);
            referenceBackend.qgemm(want, x, mm, t.id, bytes, rows, cols);
            assertQClose(y, want, bounds(wf, x, mm, rows, cols, type), rows, `${type} ${mm}x${rows}x${cols}`);
            if (c.backend.name === "native") {
              const [wantQ, boundQ] = productWithBound(wf, quantizedActivations(x, mm, cols, 32), mm, rows, cols);
              assertQClose(y, wantQ, boundQ, rows, `${type} ${mm}x${rows}x${cols} vs 8-bit activations`);
            }
          }
        }
      }
    }));

  test("qrows gathers rows exactly as the decoders give them, repeated ids included", () =>
    using(c, () => {
      const r = rng(9);
      for (const type of QTYPES) {
        const rows = 37,
          cols = BS[type] * 3;
        const bytes = randomWeightBytes(r, type, rows, cols);
        const w = qweight(type, bytes, rows, cols);
        const wf = dequantize(type as GgmlTypeName, bytes, rows * cols);
        const ids = Int32Array.from([0, 36, 5, 5, 17]);
        const out = new Float32Array(ids.length * cols);
        qrows(out, w, ids);
        const want = new Float32Array(ids.length * cols);
        ids.forEach((id, i) => want.set(wf.subarray(id * cols, (id + 1) * cols), i * cols));
        assert.deepEqual(out, want, type);
      }
    }));

  test("qmatmulT (dX = dY·W) matches the reference within QTOL's float term", () =>
    using(c, () => {
      const r = rng(11);
      for (const type of QTYPES) {
        // m > QGEMM_QUANT_ROWS takes the panel-GEMM path (training's input gradient).
        for (const [m, rows, cols] of [
          [1, 7, BS[type]],
          [5, 33, BS[type] * 3],
          [2, 129, 4864],
          [QGEMM_QUANT_ROWS + 5, 70, BS[type] * 5],
        ] as const) {
          const bytes = randomWeightBytes(r, type, rows, cols);
          const w = qweight(type, bytes, rows, cols);
          const wf = dequantize(type as GgmlTypeName, bytes, rows * cols);
          const dy = randn(r, m * rows);
          const dx = new Float32Array(m * cols).fill(NaN);
          qmatmulT(dx, dy, m, w);
          for (let i = 0; i < m; i++) {
            for (let k = 0; k < cols; k++) {
              let s = 0,
                a = 0;
              for (let j = 0; j < rows; j++) {
                const p = dy[i * rows + j]! * wf[j * cols + k]!;
                s += p;
                a += Math.abs(p);
              }
              const g = dx[i * cols + k]!;
              assert.ok(Math.abs(g - s) <= QTOL.rtol * a + 1e-30, `${type} ${m}x${rows}x${cols} dx[${i}][${k}] = ${g}, want ${s}`);
            }
          }
        }
      }
    }));

  test("results do not depend on the thread count", againstReference(c), () =>
    using(c, () => {
      const q = caseFor("Q4_K", 7, 129, 4864, 500);
      const q0 = caseFor("Q8_0", 1, 4864, 32, 501);
      const qp = caseFor("Q4_0", 129, 37, 896, 502); // prefill: int8 GEMM (AMX or VNNI) or float panels
      const q4 = caseFor("Q4_0", 7, 129, 4864, 503); // decode: the wide loops, threads over quads of rows
      const before = c.backend.getThreads();
      try {
        for (const k of [q, q0, qp, q4]) {
          const rows = k.want.length / k.m;
          c.backend.setThreads(1);
          const one = new Float32Array(k.m * rows);
          qmatmul(one, k.x, k.m, k.w);
          c.backend.setThreads(3);
          const three = new Float32Array(k.m * rows);
          qmatmul(three, k.x, k.m, k.w);
          assert.deepEqual(three, one);
        }
      } finally {
        c.backend.setThreads(before);
      }
    }),
  );

  test("qmatmulMulti gives each weight bitwise what qmatmul gives it (mixed types, m 1..9, 1 and 3 threads)", againstReference(c), () =>
    using(c, () => {
      // One dispatch over the rows of several matrices that share x: a thread's range crosses
      // matrix boundaries, and 10 weights are more than one native call takes at once (8).
      const r = rng(17);
      const specs: [QType, number][] = [
        ["Q4_0", 129],
        ["Q8_0", 33],
        ["Q4_K", 7],
        ["F16", 64],
        ["F32", 5],
        ["Q5_0", 130],
        ["Q6_K", 300],
        ["Q4_0", 1],
        ["BF16", 9],
        ["Q8_0", 250],
      ];
      const cols = 512;
      const ws = specs.map(([type, rows]) => qweight(type, randomWeightBytes(r, type, rows, cols), rows, cols));
      const before = c.backend.getThreads();
      try {
        for (const threads of [1, 3]) {
          c.backend.setThreads(threads);
          for (const m of [1, 2, 5, QGEMM_QUANT_ROWS, QGEMM_QUANT_ROWS + 1]) {
            const x = activations(r, m, cols);
            for (const set of [ws.slice(0, 3), ws]) {
              const ys = set.map((w) => new Float32Array(m * w.rows).fill(NaN));
              qmatmulMulti(ys, x, m, set);
              set.forEach((w, k) => {
                const one = new Float32Array(m * w.rows);
                qmatmul(one, x, m, w);
                assert.deepEqual(ys[k], one, `${w.type} ${m}x${w.rows}x${cols}, weight ${k} of ${set.length}, ${threads} threads`);
              });
            }
          }
        }
      } finally {
        c.backend.setThreads(before);
      }
    }),
  );

  test("bad input: clear ShapeError / FormatError before any kernel runs", () =>
    using(c, () => {
      const shape = (re: RegExp) => (e: unknown) => e instanceof ShapeError && re.test(e.message);
      assert.throws(() => qweight("Q4_0", new Uint8Array(18), 1, 33), shape(/blocks of 32 values; rows of 33/));
      assert.throws(() => qweight("Q4_K", new Uint8Array(144), 1, 32), shape(/blocks of 256/));
      assert.throws(() => qweight("Q8_0", new Uint8Array(33), 1, 32), shape(/takes 34 bytes, got 33/));
      assert.throws(() => qweight("Q6_K", new Uint8Array(210), 2, 256), shape(/takes 420 bytes, got 210/));
      assert.throws(() => qweight("F16", new Uint8Array(8), 0, 4), shape(/rows must be a positive integer/));
      assert.throws(
        () => qweight("Q3_K" as QType, new Uint8Array(110), 1, 256),
        (e: unknown) => e instanceof FormatError && /unknown storage type "Q3_K"/.test(e.message),
      );
      const w = qweight("Q8_0", new Uint8Array(34 * 4), 2, 64);
      assert.equal(qweightBytes(w), 136);
      assert.throws(() => qmatmul(new Float32Array(2), new Float32Array(63), 1, w), shape(/x has 63 elements, \(1,64\) needs 64/));
      assert.throws(() => qmatmul(new Float32Array(3), new Float32Array(128), 2, w), shape(/y has 3 elements, \(2,2\) needs 4/));
      assert.throws(() => qmatmul(new Float32Array(2), new Float32Array(64), 0, w), shape(/m must be a positive integer/));
      assert.throws(() => qrows(new Float32Array(64), w, Int32Array.from([2])), shape(/ids\[0\] = 2 is outside \[0, 2\)/));
      assert.throws(() => qrows(new Float32Array(63), w, Int32Array.from([1])), shape(/out has 63 elements/));
      assert.throws(() => qmatmulMulti([new Float32Array(2)], new Float32Array(64), 1, []), shape(/got 0 weights and 1 outputs/));
      assert.throws(
        () => qmatmulMulti([new Float32Array(2), new Float32Array(1)], new Float32Array(64), 1, [w, qweight("Q8_0", new Uint8Array(34), 1, 32)]),
        shape(/weight 1 has 32 columns, weight 0 has 64/),
      );
      assert.throws(
        () => qmatmulMulti([new Float32Array(2), new Float32Array(1)], new Float32Array(64), 1, [w, w]),
        shape(/ys\[1\] has 1 elements, \(1,2\) needs 2/),
      );
      const forged = { ...w, rows: 3 };
      assert.throws(() => qmatmul(new Float32Array(3), new Float32Array(64), 1, forged), shape(/does not match its shape/));
    }));
});
