// Every kernel benchmark group, for `slm bench kernels`. Each group's cases
// live in src/native/bench/<group>.ts; this file only lists them.
import { attentionCases } from "./attention.ts";
import { gemmCases } from "./gemm.ts";
import { opsCases } from "./ops.ts";
import { qgemmCases } from "./qgemm.ts";
import type { BenchCase } from "./types.ts";

export function allCases(): { group: string; cases: BenchCase[] }[] {
  return [
    { group: "gemm", cases: gemmCases },
    { group: "attention", cases: attentionCases },
    { group: "ops", cases: opsCases },
    { group: "qgemm", cases: qgemmCases },
  ];
}
