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
  crossEntropyBackward(dlogits: Float32Array, logits: Float32Array, lse: Float32Array, targets: Int32Array, n: number, v: number, ignoreIndex: number, scale: number): void;
}

function checkIgnore(k: string, ignoreIndex: number): void {
  if (!Number.isSafeInteger(ignoreIndex)) throw new ShapeError(`${k}: ignoreIndex must be an integer, got ${ignoreIndex}`, { hint: "use -100 (or any id outside [0, V)) when no target is ignored" });
}

/**
 * losses (N) = logsumexp(logits[i]) − logits[i][targets[i]], 0 for rows whose target is
 * ignoreIndex; lse (N) saved for the backward. Targets must be in [0, V) or ignoreIndex.
 */
export function crossEntropyForward(losses: Float32Array, lse: Float32Array, logits: Float32Array, targets: Int32Array, n: number, v: number, ignoreIndex: number): void {
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
export function crossEntropyBackward(dlogits: Float32Array, logits: Float32Array, lse: Float32Array, targets: Int32Array, n: number, v: number, ignoreIndex: number, scale: number): void {
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
