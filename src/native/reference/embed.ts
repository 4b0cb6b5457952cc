// Reference embed kernels in plain TypeScript (the tests' oracle and the slow fallback).
import type { EmbedKernels } from "../ops/embed.ts";

// Not written yet: the group's kernels land with its native implementation.
export const embedReference = {} as EmbedKernels;
