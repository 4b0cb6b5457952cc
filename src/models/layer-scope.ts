// Running a stack of layers without keeping every layer's activations.
// Inference: on a tape that does not record, nothing refers to a finished
// layer's intermediates, yet the arena would hold them all until the next
// reset: a 512-token prefill of a Qwen2.5-0.5B shape held about 1 GB of them.
// Here each layer's output is copied into one of two buffers taken before the
// loop and the arena is rewound, so every layer reuses the first layer's slots.
// Training with activation checkpointing (a tape made with {checkpoint: true}):
// each layer runs forward on a non-recording tape over the tape's work arena
// (Tape.workArena), its output is copied into a kept buffer of the main arena
// and the work arena rewound; one "checkpoint" entry is recorded whose
// backward runs the layer again on a recording tape over the work arena (from
// the layer's kept input), backpropagates the output's gradient through it and
// rewinds once more. So a step holds every layer's input and output plus ONE
// layer's intermediates and their gradients (the recomputation reuses the
// forward's slots: the work arena is only ever as large as one recorded layer
// and its backward), for the price of a second forward pass of the blocks. The
// layer function must be deterministic given its input (no dropout: the
// non-recording forward skips it), must use the tape it is given, not one it
// closed over, and must return a value its caller does not keep (it is copied).
import type { Tape, Tensor } from "../tensor/index.ts";
import { Tape as TapeClass } from "../tensor/index.ts";

/** One layer: x (N, d) → (N, d), its ops recorded on (or run by) `g`. */
export type LayerFn = (l: number, x: Tensor, g: Tape) => Tensor;

/** x after `count` layers: x = layer(l, x, g) for l = 0..count-1; see the file comment for what is kept. */
export function runLayers(g: Tape, x: Tensor, count: number, layer: LayerFn): Tensor {
  if (g.gradEnabled) {
    if (g.checkpoint) return runCheckpointed(g, x, count, layer);
    for (let l = 0; l < count; l++) x = layer(l, x, g);
    return x;
  }
  const keep = [g.empty(x.shape), g.empty(x.shape)];
  const mark = g.arena.mark();
  for (let l = 0; l < count; l++) {
    const y = layer(l, x, g);
    const dst = keep[l % 2]!;
    dst.data.set(y.data);
    x = dst;
    g.arena.rewind(mark);
  }
  return x;
}

/**
 * The checkpointed stack (see the file comment). Every layer's output buffer is taken from the
 * main arena before the loop; each layer's forward and each recomputation start from the same
 * mark of the work arena and reuse the same slots. The outputs' gradients alternate between two
 * buffers: layer l's output gradient is read only by layer l's backward, which writes layer
 * l-1's (zeroed first), so a layer's output must feed nothing but the next layer (the last one:
 * anything).
 */
function runCheckpointed(g: Tape, x0: Tensor, count: number, layer: LayerFn): Tensor {
  const outs = Array.from({ length: count }, () => g.empty(x0.shape));
  const grads = [g.arena.zeros(x0.size), g.arena.zeros(x0.size)];
  outs.forEach((o, l) => (o.grad = grads[l % 2]!));
  const work = g.workArena;
  const mark = work.mark();
  let x = x0;
  for (let l = 0; l < count; l++) {
    const xin = x,
      out = outs[l]!;
    out.data.set(layer(l, xin, new TapeClass({ grad: false, arena: work })).data);
    work.rewind(mark);
    g.record("checkpoint", out, (dout) => {
      if (l > 0)
        xin.grad!.fill(0); // the other buffer: it held layer l+1's output gradient, now spent
      else if (xin.requiresGrad) g.grad(xin);
      const m = work.mark();
      const inner = new TapeClass({ arena: work });
      const y = layer(l, xin, inner);
      if (y.requiresGrad) inner.backward(y, dout); // adds into xin's gradient and the parameters'
      work.rewind(m);
    });
    x = out;
  }
  return x;
}
