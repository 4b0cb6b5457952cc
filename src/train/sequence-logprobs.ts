// Sequence log-probabilities over an output head, as one tape op: for R
// sequences of T positions, logp (R) = Σ_t log softmax(x_t · Wᵀ)[target_t] over
// the positions whose target is not the ignore index (a completion's tokens).
// What preference losses (dpo-loss.ts) are built on.
// Like linearCrossEntropy, the head runs over chunks of whole sequences, so
// the (R·T, V) logits never exist at once. The gradient of logp_r with respect
// to the logits of its own positions is (onehot − softmax) whatever the loss
// above it, so while recording each chunk's dx for a unit upstream gradient is
// formed at once (dx_unit = (onehot − softmax) · W); backward only scales each
// sequence's rows by its upstream gradient. A head that trains (full
// fine-tuning, a tied embedding) needs Σ_r g_r·(onehot − softmax)ᵀ·x over the
// rows, which cannot be formed before g is known: backward recomputes that
// chunk's logits (one more head product) from the saved log-sum-exps.
// The head may be held quantized (a frozen base): the quantized kernels run
// the product and its transpose. Knows nothing about models or preferences.
import { ShapeError } from "../errors.ts";
import { axpy } from "../native/ops/activation.ts";
import { matmul as gemm } from "../native/ops/gemm.ts";
import { crossEntropyBackward, crossEntropyForward } from "../native/ops/loss.ts";
import { qmatmul, qmatmulT } from "../native/ops/qgemm.ts";
import { Parameter, type Tape, type Tensor } from "../tensor/index.ts";
import { CHUNK_LOGITS_FLOATS, MIN_CHUNK_ROWS } from "../tensor/linear-cross-entropy.ts";

export interface SequenceLogProbsOptions {
  /** Targets equal to this are left out (default -100). */
  ignoreIndex?: number;
  /** Sequences per chunk of the head's product. Default: about CHUNK_LOGITS_FLOATS logits, at least one sequence. */
  chunkSequences?: number;
}

/**
 * logp (R) = per-sequence sums of log p(target) for x (R·T, C) and head w (V, C); targets (R·T)
 * in [0, V) or the ignore index. A sequence without targets gets 0 (and no gradient).
 * targets must stay unchanged until backward.
 */
export function sequenceLogProbs(g: Tape, x: Tensor, w: Tensor, targets: Int32Array, sequences: number, opts: SequenceLogProbsOptions = {}): Tensor {
  const ignore = opts.ignoreIndex ?? -100;
  if (w.ndim !== 2) throw new ShapeError(`sequenceLogProbs: head weight must be 2-D (V,C), got ${w}`);
  const v = w.shape[0]!,
    c = w.shape[1]!,
    n = x.rows,
    R = sequences;
  if (x.cols !== c) throw new ShapeError(`sequenceLogProbs: input ${x} has ${x.cols} features, the head ${w} expects ${c}`);
  if (!Number.isInteger(R) || R < 1 || n % R !== 0)
    throw new ShapeError(`sequenceLogProbs: ${n} rows of ${x} do not split into ${R} sequences of equal length`);
  if (targets.length !== n) throw new ShapeError(`sequenceLogProbs: ${targets.length} targets for ${n} rows of ${x}`);
  for (let i = 0; i < n; i++) {
    const tg = targets[i]!;
    if (tg !== ignore && !(tg >= 0 && tg < v))
      throw new ShapeError(`sequenceLogProbs: targets[${i}] = ${tg} is outside [0, ${v}) and is not the ignore index ${ignore}`);
  }
  const T = n / R;
  const per = opts.chunkSequences ?? Math.max(1, Math.floor(Math.max(MIN_CHUNK_ROWS, Math.floor(CHUNK_LOGITS_FLOATS / v)) / T));
  if (!Number.isInteger(per) || per < 1) throw new ShapeError(`sequenceLogProbs: chunkSequences must be a positive integer, got ${per}`);
  const chunk = Math.min(per, R) * T; // positions per chunk
  const q = w instanceof Parameter ? w.quant : null;
  const wantDx = g.needsGrad(x),
    wantDw = q === null && g.needsGrad(w);
  const logits = g.scratch(chunk * v); // (chunk, V): one chunk at a time
  const losses = g.scratch(chunk); // (chunk)
  const lse = g.scratch(n); // (N), kept for a backward that recomputes the head
  const dxUnit = wantDx ? g.arena.alloc(n * c) : null; // (N, C): d logp_row(i) / dx_i
  const out = g.empty([R]);
  const head = (lc: Float32Array, xc: Float32Array, m: number) => {
    if (q !== null)
      qmatmul(lc, xc, m, q); // lc (m,V) = xc · Wᵀ
    else gemm(xc, w.data, lc, m, v, c, { transB: true });
  };
  for (let p0 = 0; p0 < n; p0 += chunk) {
    const m = Math.min(chunk, n - p0);
    const xc = x.data.subarray(p0 * c, (p0 + m) * c); // (m, C)
    const tc = targets.subarray(p0, p0 + m);
    const lc = logits.subarray(0, m * v); // (m, V)
    head(lc, xc, m);
    crossEntropyForward(losses.subarray(0, m), lse.subarray(p0, p0 + m), lc, tc, m, v, ignore);
    for (let s = 0; s < m / T; s++) {
      let sum = 0;
      for (let t = s * T; t < (s + 1) * T; t++) sum += losses[t]!;
      out.data[p0 / T + s] = 0 - sum; // (not -sum: no -0 for a sequence without targets)
    }
    if (dxUnit === null) continue;
    crossEntropyBackward(lc, lc, lse.subarray(p0, p0 + m), tc, m, v, ignore, -1); // lc := onehot − softmax
    const dxc = dxUnit.subarray(p0 * c, (p0 + m) * c); // (m, C) = lc · W
    if (q !== null) qmatmulT(dxc, lc, m, q);
    else gemm(lc, w.data, dxc, m, c, v);
  }
  if (wantDx || wantDw) {
    g.record("sequenceLogProbs", out, (dout) => {
      // dout (R): the upstream gradient of each sequence's log-probability.
      if (dxUnit !== null) {
        const dx = g.grad(x);
        for (let s = 0; s < R; s++)
          if (dout[s] !== 0) axpy(dx.subarray(s * T * c, (s + 1) * T * c), dout[s]!, dxUnit.subarray(s * T * c, (s + 1) * T * c), T * c);
      }
      if (!wantDw) return;
      const dw = g.grad(w);
      for (let p0 = 0; p0 < n; p0 += chunk) {
        const m = Math.min(chunk, n - p0);
        const xc = x.data.subarray(p0 * c, (p0 + m) * c);
        const lc = logits.subarray(0, m * v);
        head(lc, xc, m);
        for (let s = 0; s < m / T; s++) {
          const a = s * T,
            r = p0 / T + s; // this sequence's rows within the chunk
          crossEntropyBackward(
            lc.subarray(a * v, (a + T) * v),
            lc.subarray(a * v, (a + T) * v),
            lse.subarray(p0 + a, p0 + a + T),
            targets.subarray(p0 + a, p0 + a + T),
            T,
            v,
            ignore,
            -dout[r]!,
          );
        }
        gemm(lc, xc, dw, v, c, m, { transA: true, accumulate: true }); // dW (V,C) += dlogitsᵀ · xc
      }
    });
  }
  return out;
}
