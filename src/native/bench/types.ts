// The shape of a kernel benchmark: a case prepares its buffers once and
// returns the function to time; the runner (src/native/bench/run.ts) times it
// and turns it into a row. Each kernel group exports its cases from
// src/native/bench/<group>.ts; src/native/bench/index.ts lists them all.

export interface BenchCase {
  /** Kernel name, e.g. "matmul", "attention fwd+bwd". */
  op: string;
  /** Human-readable shape, e.g. "4096x384x384" or "B8 H6 T256 D64". */
  shape: string;
  /** Floating-point operations per call (for GFLOP/s), when meaningful. */
  flops?: number;
  /** Bytes read + written per call (for GB/s), for memory-bound kernels. */
  bytes?: number;
  /** Tokens one call stands for (for tok/s), e.g. 1 for a whole decode step's matmuls. */
  tokens?: number;
  /** Allocates inputs and outputs; returns the call to time. */
  prepare(): () => void;
}

export interface BenchRow {
  op: string;
  shape: string;
  /** Median milliseconds per call. */
  ms: number;
  gflops?: number;
  gbps?: number;
  /** tokens / second, for cases that stand for whole tokens. */
  tok_s?: number;
  threads: number;
  isa: string;
  /** Extra comparisons printed beside the row, e.g. {"vs_openblas": 0.93}. */
  [extra: string]: unknown;
}
