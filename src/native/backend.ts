// The kernel backend: one object with every raw kernel, implemented either by
// the native addon or by the TypeScript reference. Each group's signatures
// live in ops/<group>.ts beside its validating wrappers.
import type { ActivationKernels } from "./ops/activation.ts";
import type { AttentionKernels } from "./ops/attention.ts";
import type { DecodeKernels } from "./ops/decode.ts";
import type { EmbedKernels } from "./ops/embed.ts";
import type { GemmKernels } from "./ops/gemm.ts";
import type { LossKernels } from "./ops/loss.ts";
import type { NormKernels } from "./ops/norm.ts";
import type { OptimKernels } from "./ops/optim.ts";
import type { QgemmKernels } from "./ops/qgemm.ts";
import type { RopeKernels } from "./ops/rope.ts";

export type Isa = "avx512" | "avx2" | "scalar";

export interface BackendControls {
  /** "native" or "reference". */
  readonly name: "native" | "reference";
  /** Threads used by parallel kernels (1 for the reference). */
  getThreads(): number;
  setThreads(n: number): void;
  /** Instruction set in use, and the best the CPU has, capped by SLM_SIMD ("scalar" for the reference). */
  getIsa(): Isa;
  bestIsa(): Isa;
  /** Switches instruction set; false (and no change) above bestIsa(). */
  setIsa(isa: Isa): boolean;
  /** Native only: memory for weights read from a file, 2 MB aligned, advised for huge pages (see memory.ts). */
  allocWeights?(bytes: number): ArrayBuffer;
}

export type Kernels = GemmKernels &
  EmbedKernels &
  NormKernels &
  RopeKernels &
  AttentionKernels &
  ActivationKernels &
  LossKernels &
  OptimKernels &
  QgemmKernels &
  DecodeKernels;

export type Backend = BackendControls & Kernels;
