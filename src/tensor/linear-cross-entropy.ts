// Cross-entropy over an output head without the (N, V) logits: the head's
// product and the loss run over chunks of rows, so only one chunk's logits
// (rows × V) exist at a time. At a 151,936-word vocabulary, 2,048 positions of
// float32 logits are 1.2 GB, and the plain path (linear → crossEntropy) keeps
// them until backward; here a chunk of 110 rows is 64 MB.
// While recording, each chunk's gradient is formed at once (the loss is a sum
// over rows, so a row's dlogits needs only that row): dlogits is written over
// the chunk's logits, then dx (N, C) = dlogits · W (and dW (V, C) += dlogitsᵀ ·
// x when the head trains) accumulate into buffers kept for backward, which
// only scales them by the upstream gradient. So the head runs once forward and
// twice in products, as the plain path does, with no recomputation. A trained
// head (full fine-tuning) costs one (V, C) buffer, the size of its gradient.
// The weight may be held quantized (a frozen base): the quantized kernels run
// the product and its transpose.
// Knows nothing about models: x is any (…, C) activation, w any (V, C) weight.
import { ShapeError } from "../errors.ts";
import { axpy } from "../native/ops/activation.ts";
import { matmul as gemm } from "../native/ops/gemm.ts";
import { crossEntropyBackward, crossEntropyForward } from "../native/ops/loss.ts";
import { qmatmul, qmatmulT } from "../native/ops/qgemm.ts";
import type { Tape } from "./tape.ts";
import { Parameter, type Tensor } from "./tensor.ts";

/** Floats in one chunk of logits by default (64 MB): rows = this / V, at least MIN_CHUNK_ROWS. */
export const CHUNK_LOGITS_FLOATS = 1 << 24;
/** Fewest rows per chunk: fewer would make the head's product skinny (and, over a quantized head, switch to the 8-bit-activation kernels). */
export const MIN_CHUNK_ROWS = 64;

export interface LinearCrossEntropyOptions {
  /** Targets equal to this are skipped (no loss, no gradient, not counted). Default -100. */
  ignoreIndex?: number;
  /** Rows per chunk. Default: CHUNK_LOGITS_FLOATS / V, at least MIN_CHUNK_ROWS (then balanced over the chunks). */
  chunkRows?: number;
}

/** Rows per chunk for n rows over a vocabulary of v: balanced so the last chunk is not a sliver. */
export function chunkRowsFor(n: number, v: number, want?: number): number {
  const rows = want ?? Math.max(MIN_CHUNK_ROWS, Math.floor(CHUNK_LOGITS_FLOATS / v));
  if (!Number.isInteger(rows) || rows < 1) throw new ShapeError(`linearCrossEntropy: chunkRows must be a positive integer, got ${rows}`);
  const chunks = Math.ceil(n / rows);
  return Math.ceil(n / chunks);
}

/**
 * loss () = mean over the non-ignored rows of -log softmax(x · wᵀ)[target], for x (…, C) and
 * w (V, C): crossEntropy(linear(x, w), targets) computed chunk by chunk. With every row
 * ignored the loss is 0 and so is the gradient. targets must stay unchanged until backward.
 */
export function linearCrossEntropy(g: Tape, x: Tensor, w: Tensor, targets: Int32Array, opts: LinearCrossEntropyOptions = {}): Tensor {
  const ignore = opts.ignoreIndex ?? -100;
  if (w.ndim !== 2) throw new ShapeError(`linearCrossEntropy: weight must be 2-D (V,C), got ${w}`);
  const v = w.shape[0]!,
    c = w.shape[1]!,
    n = x.rows;
  if (x.cols !== c) throw new ShapeError(`linearCrossEntropy: input ${x} has ${x.cols} features, weight ${w} expects ${c}`);
  if (n < 1) throw new ShapeError(`linearCrossEntropy: input ${x} has no rows`);
  if (targets.length !== n) throw new ShapeError(`linearCrossEntropy: ${targets.length} targets for ${n} rows of ${x}`);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const tg = targets[i]!;
    if (tg === ignore) continue;
    if (!(tg >= 0 && tg < v)) throw new ShapeError(`linearCrossEntropy: targets[${i}] = ${tg} is outside [0, ${v}) and is not the ignore index ${ignore}`);
    count++;
  }
  const q = w instanceof Parameter ? w.quant : null;
  const wantDx = g.needsGrad(x),
    wantDw = q === null && g.needsGrad(w);
  const rows = chunkRowsFor(n, v, opts.chunkRows);
  // (rows, V): one chunk at a time, used up within this call, so it is the work arena's shared
  // transient buffer: with checkpointing the blocks' recomputation in backward reuses it for the
  // frozen layers' input gradients instead of holding a buffer of its own.
  const logits = g.workArena.transient(rows * v);
  const losses = g.scratch(rows),
    lse = g.scratch(rows); // (rows)
  const dx = wantDx ? g.arena.zeros(n * c) : null; // (N, C), for a unit upstream gradient
  const dw = wantDw ? g.arena.zeros(v * c) : null; // (V, C), likewise
  const inv = count === 0 ? 0 : 1 / count;
  let sum = 0;
  for (let r0 = 0; r0 < n; r0 += rows) {
    const m = Math.min(rows, n - r0);
    const xc = x.data.subarray(r0 * c, (r0 + m) * c); // (m, C)
    const tc = targets.subarray(r0, r0 + m);
    const lc = logits.subarray(0, m * v); // (m, V)
    if (q !== null)
      qmatmul(lc, xc, m, q); // lc = xc · Wᵀ
    else gemm(xc, w.data, lc, m, v, c, { transB: true });
    crossEntropyForward(losses.subarray(0, m), lse.subarray(0, m), lc, tc, m, v, ignore);
    for (let i = 0; i < m; i++) sum += losses[i]!;
    if (count === 0 || (dx === null && dw === null)) continue;
    crossEntropyBackward(lc, lc, lse.subarray(0, m), tc, m, v, ignore, inv); // lc := dlogits (m, V)
    if (dx !== null) {
      const dxc = dx.subarray(r0 * c, (r0 + m) * c); // (m, C) = dlogits · W
      if (q !== null) qmatmulT(dxc, lc, m, q);
      else gemm(lc, w.data, dxc, m, c, v);
    }
    if (dw !== null) gemm(lc, xc, dw, v, c, m, { transA: true, accumulate: true }); // dW (V,C) += dlogitsᵀ · xc
  }
  const loss = g.empty([]);
  loss.data[0] = count === 0 ? 0 : sum / count;
  if (dx !== null || dw !== null) {
    g.record("linearCrossEntropy", loss, (dloss) => {
      const s = dloss[0]!;
      if (dx !== null) axpy(g.grad(x), s, dx, n * c); // dx += s · (dlogits · W)
      if (dw !== null) axpy(g.grad(w), s, dw, v * c); // dW += s · (dlogitsᵀ · x)
    });
  }
  return loss;
}
