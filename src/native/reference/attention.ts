// Reference attention kernels in plain TypeScript (the tests' oracle and the slow fallback).
import type { AttentionKernels } from "../ops/attention.ts";

// Not written yet: the group's kernels land with its native implementation.
export const attentionReference = {} as AttentionKernels;
