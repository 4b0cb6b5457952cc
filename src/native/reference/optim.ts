// Reference optim kernels in plain TypeScript (the tests' oracle and the slow fallback).
import type { OptimKernels } from "../ops/optim.ts";

export const optimReference: OptimKernels = {};
