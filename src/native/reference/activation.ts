// Reference activation kernels in plain TypeScript (the tests' oracle and the slow fallback).
import type { ActivationKernels } from "../ops/activation.ts";

// Not written yet: the group's kernels land with its native implementation.
export const activationReference = {} as ActivationKernels;
