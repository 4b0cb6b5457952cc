// The TypeScript reference backend: every kernel in plain TypeScript, single
// threaded. Tests compare the native addon with it; load.ts falls back to it
// (slowly, with a warning) when the addon cannot load.
import type { Backend } from "./backend.ts";
import { activationReference } from "./reference/activation.ts";
import { attentionReference } from "./reference/attention.ts";
import { decodeReference } from "./reference/decode.ts";
import { embedReference } from "./reference/embed.ts";
import { gemmReference } from "./reference/gemm.ts";
import { lossReference } from "./reference/loss.ts";
import { normReference } from "./reference/norm.ts";
import { optimReference } from "./reference/optim.ts";
import { qgemmReference } from "./reference/qgemm.ts";
import { ropeReference } from "./reference/rope.ts";

export const referenceBackend: Backend = {
  name: "reference",
  getThreads: () => 1,
  setThreads: () => {},
  getIsa: () => "scalar",
  bestIsa: () => "scalar",
  setIsa: (isa) => isa === "scalar",
  ...gemmReference,
  ...embedReference,
  ...normReference,
  ...ropeReference,
  ...attentionReference,
  ...activationReference,
  ...lossReference,
  ...optimReference,
  ...qgemmReference,
  ...decodeReference,
};
