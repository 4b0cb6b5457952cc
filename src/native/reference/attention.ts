// Reference attention kernels in plain TypeScript (the tests' oracle and the slow fallback).
import type { AttentionKernels } from "../ops/attention.ts";

export const attentionReference: AttentionKernels = {};
