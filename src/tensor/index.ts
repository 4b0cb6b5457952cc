// The tensor layer's public API: tensors and parameters, the step arena, the
// autograd tape, the ops (the gradient rules), modules and basic layers, AdamW
// and learning-rate schedules. Model code imports from here.
export { Tensor, Parameter, ColumnView, columns, sizeOf, shapeStr } from "./tensor.ts";
export type { ParameterOptions } from "./tensor.ts";
export { Arena } from "./arena.ts";
export type { ArenaMark, ArenaStats } from "./arena.ts";
export { Tape } from "./tape.ts";
export type { TapeOptions } from "./tape.ts";
export {
  matmul,
  linear,
  linears,
  dropout,
  embedding,
  rmsnorm,
  layernorm,
  rope,
  sequencePositions,
  segmentPositions,
  attention,
  swiglu,
  geglu,
  gelu,
  add,
  scale,
  reshape,
  poolRows,
  concatRows,
  gatherRows,
  crossEntropy,
} from "./ops.ts";
export type { InPlaceOptions, MatmulOpOptions, RmsnormOptions, RopeOptions, AttentionOptions, CrossEntropyOptions } from "./ops.ts";
export { linearCrossEntropy, chunkRowsFor } from "./linear-cross-entropy.ts";
export type { LinearCrossEntropyOptions } from "./linear-cross-entropy.ts";
export { ropeTable, ropeTableFromFrequencies, ropeInverseFrequencies } from "./rope.ts";
export type { RopeTable } from "./rope.ts";
export { Module, ModuleList, Linear, forwardLinears, Embedding, RMSNorm, LayerNorm, normalParameter } from "./module.ts";
export type { LinearAdapter, LinearOptions, EmbeddingOptions, NormOptions, RMSNormOptions, LayerNormOptions } from "./module.ts";
export { AdamW, clipGradNorm, gradNorm, gradientBytes } from "./optim.ts";
export type { AdamWConfig, AdamWState } from "./optim.ts";
export { lrAt, scheduleFn, validateSchedule } from "./schedule.ts";
export type { LrSchedule } from "./schedule.ts";
