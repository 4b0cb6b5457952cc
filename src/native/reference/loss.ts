// Reference loss kernels in plain TypeScript (the tests' oracle and the slow fallback).
import type { LossKernels } from "../ops/loss.ts";

export const lossReference: LossKernels = {};
