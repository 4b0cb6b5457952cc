import assert from "node:assert/strict";
import { test } from "node:test";

import { ShapeError } from "../../errors.ts";
import { referenceBackend } from "../reference.ts";
import { TOL, assertClose, forEachBackend, randn, rng, using } from "../testing.ts";
import { matmul } from "./gemm.ts";

function refMatmul(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number, o: { transA?: boolean; transB?: boolean; accumulate?: boolean; batch?: number; strideA?: number; strideB?: number; strideC?: number }) {
  const batch = o.batch ?? 1;
  referenceBackend.gemm(batch, m, n, k, a, o.transA ? m : k, o.strideA ?? m * k, !!o.transA, b, o.transB ? k : n, o.strideB ?? k * n, !!o.transB, c, n, o.strideC ?? m * n, !!o.accumulate);
}

forEachBackend("matmul", (c) => {
  const sizes = [1, 2, 7, 16, 33, 129];
  test("matches the reference on odd and prime sizes, all transpose combinations", () =>
    using(c, () => {
      const r = rng(1);
      for (const m of sizes) for (const n of [1, 7, 33, 129]) for (const k of [1, 7, 64, 129]) {
        for (const transA of [false, true]) for (const transB of [false, true]) {
          const a = randn(r, m * k), b = randn(r, k * n);
          const got = new Float32Array(m * n), want = new Float32Array(m * n);
          matmul(a, b, got, m, n, k, { transA, transB });
          refMatmul(a, b, want, m, n, k, { transA, transB });
          assertClose(got, want, TOL.f32, `C ${m}x${n}x${k} tA=${transA} tB=${transB}`);
        }
      }
    }));

  test("accumulates into C", () =>
    using(c, () => {
      const r = rng(2);
      const m = 17, n = 31, k = 9;
      const a = randn(r, m * k), b = randn(r, k * n), c0 = randn(r, m * n);
      const got = c0.slice(), want = c0.slice();
      matmul(a, b, got, m, n, k, { accumulate: true });
      refMatmul(a, b, want, m, n, k, { accumulate: true });
      assertClose(got, want, TOL.f32);
    }));

  test("batched, with a broadcast operand (stride 0)", () =>
    using(c, () => {
      const r = rng(3);
      const batch = 3, m = 5, n = 19, k = 11;
      const a = randn(r, batch * m * k), b = randn(r, k * n);
      const got = new Float32Array(batch * m * n), want = new Float32Array(batch * m * n);
      matmul(a, b, got, m, n, k, { batch, strideB: 0 });
      refMatmul(a, b, want, m, n, k, { batch, strideB: 0 });
      assertClose(got, want, TOL.f32);
    }));

  test("long reductions stay within the loose tolerance", () =>
    using(c, () => {
      const r = rng(4);
      const m = 8, n = 40, k = 1536;
      const a = randn(r, m * k), b = randn(r, k * n);
      const got = new Float32Array(m * n), want = new Float32Array(m * n);
      matmul(a, b, got, m, n, k);
      refMatmul(a, b, want, m, n, k, {});
      assertClose(got, want, TOL.f32Loose);
    }));

  test("rejects buffers too small for the shape", () =>
    using(c, () => {
      assert.throws(() => matmul(new Float32Array(5), new Float32Array(6), new Float32Array(4), 2, 2, 3), ShapeError);
      assert.throws(() => matmul(new Float32Array(6), new Float32Array(6), new Float32Array(4), 2, 2, 0), /k must be a positive integer/);
    }));
});
