// Matmul benchmark cases: the projection shapes of a small model at 4096
// tokens (forward C = A·B, plus the two products backward needs for each),
// a square 1024³, and the matrix-vector products of single-token decode.
// Knows only the matmul wrapper; timing lives in run.ts.
import { Rng } from "../../util/rng.ts";
import { matmul } from "../ops/gemm.ts";
import type { BenchCase } from "./types.ts";

/** One matmul problem: C (m,n) = op(A) (m,k) · op(B) (k,n). */
export interface GemmShape {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  /** What the product is for, e.g. "fwd", "dA = dC·Bᵀ", "dB = Aᵀ·dC", "decode". */
  role: string;
}

/** "4096x384x384", with ",tA" / ",tB" for transposed operands. */
export function shapeLabel(s: Pick<GemmShape, "m" | "n" | "k" | "transA" | "transB">): string {
  return `${s.m}x${s.n}x${s.k}${s.transA ? ",tA" : ""}${s.transB ? ",tB" : ""}`;
}

// Forward shapes M x N x K (fp32): A (M,K) activations, B (K,N) weights.
const forward: [number, number, number][] = [
  [4096, 384, 384],
  [4096, 1536, 384],
  [4096, 384, 1536],
  [4096, 8192, 384],
  [1024, 1024, 1024],
];

/** Every benchmarked matmul: each forward shape with its two backward products, then decode matvecs. */
export const gemmShapes: GemmShape[] = [
  ...forward.flatMap(([m, n, k]): GemmShape[] => [
    { m, n, k, transA: false, transB: false, role: "fwd" },
    // dA (M,K) = dC (M,N) · Bᵀ, B stored (K,N) = (N',K') with N'=K, K'=N
    { m, n: k, k: n, transA: false, transB: true, role: "dA = dC·Bᵀ" },
    // dB (K,N) = Aᵀ · dC, A stored (M,K) = (K',M') with K'=M, M'=K
    { m: k, n, k: m, transA: true, transB: false, role: "dB = Aᵀ·dC" },
  ]),
  { m: 1, n: 384, k: 384, transA: false, transB: false, role: "decode" },
  { m: 1, n: 1536, k: 384, transA: false, transB: false, role: "decode" },
  { m: 1, n: 384, k: 1536, transA: false, transB: false, role: "decode" },
];

/** A timed case for one shape (buffers filled once with seeded normals). */
export function gemmCase(s: GemmShape): BenchCase {
  return {
    op: "matmul",
    shape: shapeLabel(s),
    flops: 2 * s.m * s.n * s.k,
    prepare() {
      const r = new Rng(1);
      const a = r.fillNormal(new Float32Array(s.m * s.k), 0, 1);
      const b = r.fillNormal(new Float32Array(s.k * s.n), 0, 1);
      const c = new Float32Array(s.m * s.n);
      return () => {
        matmul(a, b, c, s.m, s.n, s.k, { transA: s.transA, transB: s.transB });
      };
    },
  };
}

export const gemmCases: BenchCase[] = gemmShapes.map(gemmCase);
