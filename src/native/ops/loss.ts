// Fused softmax + cross-entropy kernels: the raw signatures shared by the
// native addon and the TypeScript reference, and the validating wrappers.
import { ShapeError } from "../../errors.ts";
import { backend } from "../load.ts";
import { checkDims, checkF32, checkFinite, checkIds } from "./args.ts";

export interface LossKernels {
  /**
   * losses (N) = logsumexp(logits[i]) - logits[i][targets[i]], and lse (N) saved for backward.
   * Rows whose target equals ignoreIndex get loss 0 (and lse is still written).
   */
  crossEntropyForward(losses: Float32Array, lse: Float32Array, logits: Float32Array, targets: Int32Array, n: number, v: number, ignoreIndex: number): void;
  /**
   * dlogits (N,V) = scale · (softmax(logits) - onehot(target)), zero for ignored rows.
   * Unlike other backward kernels this WRITES, so that dlogits may be the logits buffer
   * itself (the (N,V) logits are the largest activation; this saves a copy).
   */
  crossEntropyBackward(
    dlogits: Float32Array,
    logits: Float32Array,
    lse: Float32Array,
    targets: Int32Array,
    n: number,
    v: number,
    ignoreIndex: number,
    scale: number,
  ): void;
  /** lse1 (N) = log Σ e^x, lseT (N) = log Σ e^(x·invT) per row of logits (N,V); invT > 0. */
  softmaxLsePair(lse1: Float32Array, lseT: Float32Array, logits: Float32Array, n: number, v: number, invT: number): void;
  /**
   * dlogits (N,V) = c1[i]·e^(x − lse1[i]) + cT[i]·e^(x·invT − lseT[i]) (WRITES): the dense part of
   * the distillation gradient. lse1, lseT, c1, cT (N).
   */
  distillDenseBackward(
    dlogits: Float32Array,
    logits: Float32Array,
    lse1: Float32Array,
    lseT: Float32Array,
    c1: Float32Array,
    cT: Float32Array,
    n: number,
    v: number,
    invT: number,
  ): void;
}

function checkIgnore(k: string, ignoreIndex: number): void {
  if (!Number.isSafeInteger(ignoreIndex))
    throw new ShapeError(`${k}: ignoreIndex must be an integer, got ${ignoreIndex}`, { hint: "use -100 (or any id outside [0, V)) when no target is ignored" });
}

/**
 * losses (N) = logsumexp(logits[i]) − logits[i][targets[i]], 0 for rows whose target is
 * ignoreIndex; lse (N) saved for the backward. Targets must be in [0, V) or ignoreIndex.
 */
export function crossEntropyForward(
  losses: Float32Array,
  lse: Float32Array,
  logits: Float32Array,
  targets: Int32Array,
  n: number,
  v: number,
  ignoreIndex: number,
): void {
  const k = "crossEntropyForward";
  checkDims(k, { n, v });
  checkIgnore(k, ignoreIndex);
  checkF32(k, "losses", losses, n, `(${n})`);
  checkF32(k, "lse", lse, n, `(${n})`);
  checkF32(k, "logits", logits, n * v, `(${n},${v})`);
  checkIds(k, "targets", targets, n, v, ignoreIndex);
  backend().crossEntropyForward(losses, lse, logits, targets, n, v, ignoreIndex);
}

/**
 * dlogits (N,V) = scale · (softmax(logits) − onehot(target)), 0 on ignored rows. WRITES
 * (does not add); dlogits may be the logits buffer itself.
 */
export function crossEntropyBackward(
  dlogits: Float32Array,
  logits: Float32Array,
  lse: Float32Array,
  targets: Int32Array,
  n: number,
  v: number,
  ignoreIndex: number,
  scale: number,
): void {
  const k = "crossEntropyBackward";
  checkDims(k, { n, v });
  checkIgnore(k, ignoreIndex);
  checkFinite(k, { scale });
  checkF32(k, "dlogits", dlogits, n * v, `(${n},${v})`);
  checkF32(k, "logits", logits, n * v, `(${n},${v})`);
  checkF32(k, "lse", lse, n, `(${n})`);
  checkIds(k, "targets", targets, n, v, ignoreIndex);
  backend().crossEntropyBackward(dlogits, logits, lse, targets, n, v, ignoreIndex, scale);
}

function checkInvT(k: string, invT: number): void {
  if (!(invT > 0 && Number.isFinite(invT))) throw new ShapeError(`${k}: invT must be a finite number > 0, got ${invT}`, { hint: "invT is 1 / temperature" });
}

/** lse1 (N) = log Σ_j e^logits[i][j] and lseT (N) = log Σ_j e^(logits[i][j]·invT); logits (N,V). */
export function softmaxLsePair(lse1: Float32Array, lseT: Float32Array, logits: Float32Array, n: number, v: number, invT: number): void {
  const k = "softmaxLsePair";
  checkDims(k, { n, v });
  checkInvT(k, invT);
  checkF32(k, "lse1", lse1, n, `(${n})`);
  checkF32(k, "lseT", lseT, n, `(${n})`);
  checkF32(k, "logits", logits, n * v, `(${n},${v})`);
  backend().softmaxLsePair(lse1, lseT, logits, n, v, invT);
}

/**
 * dlogits (N,V) = c1[i]·softmax(logits)[i] + cT[i]·softmax(logits·invT)[i], given the row
 * log-sum-exps from softmaxLsePair. WRITES (does not add); dlogits must not alias logits.
 */
export function distillDenseBackward(
  dlogits: Float32Array,
  logits: Float32Array,
  lse1: Float32Array,
  lseT: Float32Array,
  c1: Float32Array,
  cT: Float32Array,
  n: number,
  v: number,
  invT: number,
): void {
  const k = "distillDenseBackward";
  checkDims(k, { n, v });
  checkInvT(k, invT);
  checkF32(k, "dlogits", dlogits, n * v, `(${n},${v})`);
  checkF32(k, "logits", logits, n * v, `(${n},${v})`);
  for (const [name, a] of [
    ["lse1", lse1],
    ["lseT", lseT],
    ["c1", c1],
    ["cT", cT],
  ] as const)
    checkF32(k, name, a, n, `(${n})`);
  checkFinite(k, { c1: c1.subarray(0, n).reduce((acc, x) => acc + Math.abs(x), 0), cT: cT.subarray(0, n).reduce((acc, x) => acc + Math.abs(x), 0) });
  backend().distillDenseBackward(dlogits, logits, lse1, lseT, c1, cT, n, v, invT);
}
