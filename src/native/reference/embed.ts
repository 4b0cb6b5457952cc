// Reference embed kernels in plain TypeScript (the tests' oracle and the slow
// fallback). Trusts ids to be in range: the wrappers in ops/embed.ts check.
import type { EmbedKernels } from "../ops/embed.ts";

export const embedReference: EmbedKernels = {
  // out (N,C), ids (N), table (V,C)
  embeddingForward(out, ids, table, n, c) {
    for (let i = 0; i < n; i++) {
      const src = ids[i]! * c;
      for (let j = 0; j < c; j++) out[i * c + j] = table[src + j]!;
    }
  },
  // dtable (V,C) += dout (N,C) scattered by ids (N)
  embeddingBackward(dtable, dout, ids, n, c) {
    for (let i = 0; i < n; i++) {
      const dst = ids[i]! * c;
      for (let j = 0; j < c; j++) dtable[dst + j] = dtable[dst + j]! + dout[i * c + j]!;
    }
  },
};
