// Reference rope kernels in plain TypeScript (the tests' oracle and the slow fallback).
import type { RopeKernels } from "../ops/rope.ts";

// Not written yet: the group's kernels land with its native implementation.
export const ropeReference = {} as RopeKernels;
