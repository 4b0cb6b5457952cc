// Reference embed kernels in plain TypeScript (the tests' oracle and the slow fallback).
import type { EmbedKernels } from "../ops/embed.ts";

export const embedReference: EmbedKernels = {};
