import assert from "node:assert/strict";
import { test } from "node:test";

import { ShapeError } from "../../errors.ts";
import { referenceBackend } from "../reference.ts";
import { TOL, assertClose, againstReference, comparesWithItself, forEachBackend, randn, rng, using } from "../testing.ts";
import { matmul } from "./gemm.ts";

function refMatmul(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  m: number,
  n: number,
  k: number,
  o: { transA?: boolean; transB?: boolean; accumulate?: boolean; batch?: number; strideA?: number; strideB?: number; strideC?: number },
) {
  const batch = o.batch ?? 1;
  referenceBackend.gemm(
    batch,
    m,
    n,
    k,
    a,
    o.transA ? m : k,
    o.strideA ?? m * k,
    !!o.transA,
    b,
    o.transB ? k : n,
    o.strideB ?? k * n,
    !!o.transB,
    c,
    n,
    o.strideC ?? m * n,
    !!o.accumulate,
  );
}

forEachBackend("matmul", (c) => {
  const sizes = [1, 2, 7, 16, 33, 129];
  test("matches the reference on odd and prime sizes, all transpose combinations", againstReference(c), () =>
    using(c, () => {
      const r = rng(1);
      for (const m of sizes)
        for (const n of [1, 7, 33, 129])
          for (const k of [1, 7, 64, 129]) {
            for (const transA of [false, true])
              for (const transB of [false, true]) {
                const a = randn(r, m * k),
                  b = randn(r, k * n);
                const got = new Float32Array(m * n),
                  want = new Float32Array(m * n);
                matmul(a, b, got, m, n, k, { transA, transB });
                refMatmul(a, b, want, m, n, k, { transA, transB });
                assertClose(got, want, TOL.f32, `C ${m}x${n}x${k} tA=${transA} tB=${transB}`);
              }
          }
    }),
  );

  test("accumulates into C", againstReference(c), () =>
    using(c, () => {
      const r = rng(2);
      const m = 17,
        n = 31,
        k = 9;
      const a = randn(r, m * k),
        b = randn(r, k * n),
        c0 = randn(r, m * n);
      const got = c0.slice(),
        want = c0.slice();
      matmul(a, b, got, m, n, k, { accumulate: true });
      refMatmul(a, b, want, m, n, k, { accumulate: true });
      assertClose(got, want, TOL.f32);
    }),
  );

  test("batched, with a broadcast operand (stride 0)", againstReference(c), () =>
    using(c, () => {
      const r = rng(3);
      const batch = 3,
        m = 5,
        n = 19,
        k = 11;
      const a = randn(r, batch * m * k),
        b = randn(r, k * n);
      const got = new Float32Array(batch * m * n),
        want = new Float32Array(batch * m * n);
      matmul(a, b, got, m, n, k, { batch, strideB: 0 });
      refMatmul(a, b, want, m, n, k, { batch, strideB: 0 });
      assertClose(got, want, TOL.f32);
    }),
  );

  test("long reductions stay within the loose tolerance", againstReference(c), () =>
    using(c, () => {
      const r = rng(4);
      const m = 8,
        n = 40,
        k = 1536;
      const a = randn(r, m * k),
        b = randn(r, k * n);
      const got = new Float32Array(m * n),
        want = new Float32Array(m * n);
      matmul(a, b, got, m, n, k);
      refMatmul(a, b, want, m, n, k, {});
      assertClose(got, want, TOL.f32Loose);
    }),
  );

  test("crosses cache-block boundaries (M > MC, K > KC, N > NC) in every transpose combination", againstReference(c), () =>
    using(c, () => {
      const r = rng(5);
      // Block sizes are at most MC=144, KC=384, NC=4096 on every instruction set.
      const shapes: [number, number, number][] = [
        [301, 37, 797],
        [13, 4099, 5],
        [150, 97, 389],
      ];
      for (const [m, n, k] of shapes) {
        for (const transA of [false, true])
          for (const transB of [false, true]) {
            const a = randn(r, m * k),
              b = randn(r, k * n);
            const got = new Float32Array(m * n),
              want = new Float32Array(m * n);
            matmul(a, b, got, m, n, k, { transA, transB });
            refMatmul(a, b, want, m, n, k, { transA, transB });
            assertClose(got, want, TOL.f32Loose, `C ${m}x${n}x${k} tA=${transA} tB=${transB}`);
          }
      }
    }),
  );

  test("few rows and a deep sum: several column blocks reusing A packed once, overwrite and accumulate", againstReference(c), () =>
    using(c, () => {
      const r = rng(9);
      // M <= 768 with K > 384 takes 256-deep, 768-wide blocks; N > 768 per thread gives
      // several column blocks, so A is packed once and reused (see gemm_serial).
      for (const [m, n, k] of [
        [13, 1700, 600],
        [50, 3100, 1030],
      ] as const) {
        const a = randn(r, m * k),
          b = randn(r, k * n),
          c0 = randn(r, m * n);
        for (const accumulate of [false, true])
          for (const transA of [false, true])
            for (const transB of [false, true]) {
              const got = c0.slice(),
                want = c0.slice();
              matmul(a, b, got, m, n, k, { accumulate, transA, transB });
              refMatmul(a, b, want, m, n, k, { accumulate, transA, transB });
              assertClose(got, want, TOL.f32Loose, `C ${m}x${n}x${k} acc=${accumulate} tA=${transA} tB=${transB}`);
            }
      }
    }),
  );

  test("C rows a multiple of 4 KiB apart with several depth blocks (padded scratch path), overwrite and accumulate", againstReference(c), () =>
    using(c, () => {
      const r = rng(8);
      const m = 20,
        n = 1024,
        k = 400;
      const a = randn(r, m * k),
        b = randn(r, k * n),
        c0 = randn(r, m * n);
      for (const accumulate of [false, true])
        for (const transA of [false, true]) {
          const got = c0.slice(),
            want = c0.slice();
          matmul(a, b, got, m, n, k, { accumulate, transA });
          refMatmul(a, b, want, m, n, k, { accumulate, transA });
          assertClose(got, want, TOL.f32Loose, `acc=${accumulate} tA=${transA}`);
        }
    }),
  );

  test("raw kernel honours leading dimensions larger than the rows (sub-matrix views)", againstReference(c), () =>
    using(c, () => {
      const r = rng(6);
      // Matrix-vector (m=1, n=1) and the packed path, with padded rows in A, B and C.
      for (const [m, n, k] of [
        [1, 45, 70],
        [45, 1, 70],
        [33, 29, 70],
      ] as const) {
        for (const transA of [false, true])
          for (const transB of [false, true]) {
            const lda = (transA ? m : k) + 3,
              ldb = (transB ? k : n) + 5,
              ldc = n + 2;
            const a = randn(r, (transA ? k : m) * lda),
              b = randn(r, (transB ? n : k) * ldb);
            const c0 = randn(r, m * ldc);
            for (const accumulate of [false, true]) {
              const got = c0.slice(),
                want = c0.slice();
              c.backend.gemm(1, m, n, k, a, lda, 0, transA, b, ldb, 0, transB, got, ldc, 0, accumulate);
              referenceBackend.gemm(1, m, n, k, a, lda, 0, transA, b, ldb, 0, transB, want, ldc, 0, accumulate);
              assertClose(got, want, TOL.f32, `C ${m}x${n}x${k} tA=${transA} tB=${transB} acc=${accumulate}`);
            }
          }
      }
    }),
  );

  test("batches large enough to run one matrix per thread, and a summed output (strideC 0)", againstReference(c), () =>
    using(c, () => {
      const r = rng(7);
      const batch = 4,
        m = 40,
        n = 36,
        k = 50;
      const a = randn(r, batch * m * k),
        b = randn(r, batch * k * n);
      const got = new Float32Array(batch * m * n),
        want = new Float32Array(batch * m * n);
      matmul(a, b, got, m, n, k, { batch, transB: true });
      refMatmul(a, b, want, m, n, k, { batch, transB: true });
      assertClose(got, want, TOL.f32);
      // strideC 0 with accumulate: every product is added into the same C.
      const sumGot = new Float32Array(m * n),
        sumWant = new Float32Array(m * n);
      matmul(a, b, sumGot, m, n, k, { batch, strideC: 0, accumulate: true });
      refMatmul(a, b, sumWant, m, n, k, { batch, strideC: 0, accumulate: true });
      assertClose(sumGot, sumWant, TOL.f32);
    }),
  );

  test("a few rows against a transposed B (batched decode) equal one-row products bitwise, and the reference", () =>
    using(c, () => {
      const r = rng(6);
      // Serial and threaded sizes, weight-row counts with a tail (N % 4), K with a vector tail.
      for (const [m, n, k] of [
        [2, 7, 9],
        [3, 33, 64],
        [5, 130, 129],
        [8, 1030, 256],
        [16, 66, 31],
        [17, 12, 8],
      ] as const) {
        for (const accumulate of [false, true]) {
          const a = randn(r, m * k),
            b = randn(r, n * k),
            c0 = randn(r, m * n);
          const got = c0.slice();
          matmul(a, b, got, m, n, k, { transB: true, accumulate });
          const want = c0.slice();
          refMatmul(a, b, want, m, n, k, { transB: true, accumulate });
          if (!comparesWithItself(c)) assertClose(got, want, TOL.f32, `C ${m}x${n}x${k} accumulate=${accumulate}`);
          // Row i alone (M = 1, the matrix-vector path): the same bits, up to 16 rows (17 is the packed GEMM).
          for (let i = 0; i < (m <= 16 ? m : 0); i++) {
            const row = c0.slice(i * n, (i + 1) * n);
            matmul(a.subarray(i * k, (i + 1) * k), b, row, 1, n, k, { transB: true, accumulate });
            assert.deepEqual(got.subarray(i * n, (i + 1) * n), row, `row ${i} of ${m}x${n}x${k}`);
          }
        }
      }
    }));

  test("rejects buffers too small for the shape", () =>
    using(c, () => {
      assert.throws(() => matmul(new Float32Array(5), new Float32Array(6), new Float32Array(4), 2, 2, 3), ShapeError);
      assert.throws(() => matmul(new Float32Array(6), new Float32Array(6), new Float32Array(4), 2, 2, 0), /k must be a positive integer/);
    }));
});
