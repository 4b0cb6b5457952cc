// Reference norm kernels in plain TypeScript (the tests' oracle and the slow fallback).
import type { NormKernels } from "../ops/norm.ts";

export const normReference: NormKernels = {};
