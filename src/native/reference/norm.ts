// Reference norm kernels in plain TypeScript (the tests' oracle and the slow fallback).
import type { NormKernels } from "../ops/norm.ts";

// Not written yet: the group's kernels land with its native implementation.
export const normReference = {} as NormKernels;
