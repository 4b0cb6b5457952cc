// Reference optim kernels in plain TypeScript (the tests' oracle and the slow fallback).
import type { OptimKernels } from "../ops/optim.ts";

// Not written yet: the group's kernels land with its native implementation.
export const optimReference = {} as OptimKernels;
