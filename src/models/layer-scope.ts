// Running a stack of layers in an inference pass without keeping every
// layer's activations. On a tape that records (training), each op's outputs
// are kept for backward; on an inference tape nothing refers to a finished
// layer's intermediates, yet the arena would hold them all until the next
// reset: a 512-token prefill of a Qwen2.5-0.5B shape held about 1 GB of them.
// Here each layer's output is copied into one of two buffers taken before the
// loop and the arena is rewound, so every layer reuses the first layer's slots.
import type { Tape, Tensor } from "../tensor/index.ts";

/** x after `count` layers: x = layer(l, x) for l = 0..count-1, holding one layer's activations at a time when `g` does not record. */
export function runLayers(g: Tape, x: Tensor, count: number, layer: (l: number, x: Tensor) => Tensor): Tensor {
  if (g.gradEnabled) {
    for (let l = 0; l < count; l++) x = layer(l, x);
    return x;
  }
  const keep = [g.empty(x.shape), g.empty(x.shape)];
  const mark = g.arena.mark();
  for (let l = 0; l < count; l++) {
    const y = layer(l, x);
    const dst = keep[l % 2]!;
    dst.data.set(y.data);
    x = dst;
    g.arena.rewind(mark);
  }
  return x;
}
