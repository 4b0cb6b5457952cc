// Which positions of a cached forward pass get logits. Generation needs the
// next-token distribution after the last token of each sequence only; at a
// 151,936-word vocabulary the output head of a 0.5B model is a quarter of its
// weights, so computing it for every prompt position made a 512-token prefill
// pay 512 head products instead of one.
import { gatherRows, type Tape, type Tensor } from "../tensor/index.ts";

export interface ForwardCachedOptions {
  /**
   * "all" (default): logits (B·Tq, V) for every new token, as log-probabilities of a prompt need;
   * "last": logits (B, V) for the last new token of each sequence only.
   */
  logits?: "all" | "last";
}

/** The final hidden rows (B·Tq, d) the output head must see under `opts`. */
export function headRows(g: Tape, x: Tensor, batch: number, tq: number, opts: ForwardCachedOptions | undefined): Tensor {
  if ((opts?.logits ?? "all") === "all" || tq === 1) return x;
  const index = g.arena.allocInt(batch);
  for (let b = 0; b < batch; b++) index[b] = b * tq + tq - 1;
  return gatherRows(g, x, index);
}
