// Reference loss kernels in plain TypeScript (the tests' oracle and the slow fallback).
import type { LossKernels } from "../ops/loss.ts";

// Not written yet: the group's kernels land with its native implementation.
export const lossReference = {} as LossKernels;
