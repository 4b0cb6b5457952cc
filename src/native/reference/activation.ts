// Reference activation kernels in plain TypeScript (the tests' oracle and the slow fallback).
import type { ActivationKernels } from "../ops/activation.ts";

export const activationReference: ActivationKernels = {};
