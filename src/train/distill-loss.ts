// The logit-distillation loss as one tape op, forward and backward side by
// side: loss = α·T²·D(teacher, student at temperature T) + (1−α)·CE(student, target),
// with the teacher given as cached top-k logits per position.
//
// How the teacher distribution is formed from top-k (K ids + logits z per row):
//   p_j = softmax(z/T) over the K cached ids (renormalised; the tail is dropped).
// The student q = softmax(s/T) over the whole vocabulary V. Divergences:
//   forward  KL(p‖q)  = Σ_K p (log p − log q)                  ds = (q − p)/T on all V
//   reverse  KL(q̃‖p) = Σ_K q̃ (log q̃ − log p), q̃ = q renormalised over K (p is 0 off K,
//            so the student's mass off K is left to the CE term)   ds_j = q̃_j (log q̃_j − log p_j − D)/T on K
//   js       ½KL(p‖m) + ½KL(q‖m), m = (p+q)/2 over all V (the tail, p = 0, adds ½ q_rest ln 2)
//            ds_i = q_i (g_i − Σ q g)/T with g_i = ½ log(q_i/m_i)  (= ½ ln 2 off K)
// The O(N·V) work is two native passes (src/native/ops/loss.ts softmaxLsePair forward,
// distillDenseBackward backward, like cross-entropy's); the O(N·K) rest is TypeScript.
// `distillLossReference` is the plain float64 oracle of the tests.
// Knows nothing about where the teacher logits come from (teacher-cache.ts) or the trainer.
import { ConfigError, ShapeError } from "../errors.ts";
import { axpy } from "../native/ops/activation.ts";
import { distillDenseBackward, softmaxLsePair } from "../native/ops/loss.ts";
import type { Tape, Tensor } from "../tensor/index.ts";

export type Divergence = "forward" | "reverse" | "js";
export const DIVERGENCES: readonly Divergence[] = ["forward", "reverse", "js"];

export interface DistillLossOptions {
  /** Weight of the distillation term, in [0, 1]; 1 − alpha weighs cross-entropy on the hard targets. */
  alpha: number;
  /** Softening temperature T > 0 applied to teacher and student logits in the divergence (not in CE). */
  temperature: number;
  divergence: Divergence;
  /** Rows whose target is this are left out of both terms (default -100). */
  ignoreIndex?: number;
}

/** Cached teacher logits for N rows: ids (N,K) in [0,V), logits (N,K). */
export interface TeacherTopK {
  ids: Int32Array;
  logits: Float32Array;
  k: number;
}

/** The parts of the last forward, mean over counted rows (for metrics). */
export interface DistillLossParts {
  /** The divergence D at temperature T (before the T² factor). */
  divergence: number;
  /** Cross-entropy on the hard targets (T = 1). */
  ce: number;
  rows: number;
}

export function validateDistillOptions(o: DistillLossOptions): void {
  if (!(o.alpha >= 0 && o.alpha <= 1)) throw new ConfigError(`distillation alpha must be in [0, 1], got ${o.alpha}`);
  if (!(o.temperature > 0 && Number.isFinite(o.temperature))) throw new ConfigError(`distillation temperature must be > 0, got ${o.temperature}`);
  if (!DIVERGENCES.includes(o.divergence)) throw new ConfigError(`unknown divergence "${o.divergence}"`, { hint: `choose one of ${DIVERGENCES.join(", ")}` });
}

function checkTeacher(t: TeacherTopK, n: number, v: number): void {
  const k = t.k;
  if (!Number.isInteger(k) || k < 1 || k > v) throw new ShapeError(`distillLoss: top-k must be in [1, ${v}], got ${k}`);
  if (t.ids.length !== n * k) throw new ShapeError(`distillLoss: teacher ids must be (${n},${k}) = ${n * k} values, got ${t.ids.length}`);
  if (t.logits.length !== n * k) throw new ShapeError(`distillLoss: teacher logits must be (${n},${k}) = ${n * k} values, got ${t.logits.length}`);
  for (let i = 0; i < n * k; i++) {
    const id = t.ids[i]!;
    if (id < 0 || id >= v) throw new ShapeError(`distillLoss: teacher id ${id} (row ${Math.floor(i / k)}) is outside the student's vocabulary [0, ${v})`, { hint: "logit distillation needs the same tokenizer for teacher and student" });
  }
}

const LN2 = Math.LN2;

/**
 * Per row: teacher log-probs logp (K) over the top-k at T, the student's log q (K) at the
 * same ids, and the row's divergence. Scratch out: logp, logq (K each). Returns D.
 */
function rowDivergence(div: Divergence, z: Float32Array, zo: number, k: number, invT: number, logq: Float64Array, logp: Float64Array): number {
  // logp_j = z_j/T − logsumexp_K(z/T)
  let zmax = -Infinity;
  for (let j = 0; j < k; j++) zmax = Math.max(zmax, z[zo + j]! * invT);
  let zs = 0;
  for (let j = 0; j < k; j++) zs += Math.exp(z[zo + j]! * invT - zmax);
  const zl = zmax + Math.log(zs);
  for (let j = 0; j < k; j++) logp[j] = z[zo + j]! * invT - zl;
  let d = 0;
  if (div === "forward") {
    for (let j = 0; j < k; j++) {
      const p = Math.exp(logp[j]!);
      if (p > 0) d += p * (logp[j]! - logq[j]!);
    }
  } else if (div === "reverse") {
    let qm = -Infinity;
    for (let j = 0; j < k; j++) qm = Math.max(qm, logq[j]!);
    let qs = 0;
    for (let j = 0; j < k; j++) qs += Math.exp(logq[j]! - qm);
    const ql = qm + Math.log(qs);
    for (let j = 0; j < k; j++) {
      const lqt = logq[j]! - ql;
      const qt = Math.exp(lqt);
      if (qt > 0) d += qt * (lqt - logp[j]!);
    }
  } else {
    let qk = 0;
    for (let j = 0; j < k; j++) {
      const p = Math.exp(logp[j]!), q = Math.exp(logq[j]!);
      qk += q;
      const m = 0.5 * (p + q);
      if (p > 0) d += 0.5 * p * Math.log(p / m);
      if (q > 0) d += 0.5 * q * Math.log(q / m);
    }
    d += 0.5 * Math.max(0, 1 - qk) * LN2;
  }
  return d;
}

/**
 * loss () = α·T²·mean D + (1−α)·mean CE over the rows whose target is not ignored.
 * logits (…,V) the student's, targets (N), teacher top-k (N,K). targets and teacher must
 * stay unchanged until backward has run. `parts`, when given, receives the two terms.
 */
export function distillLoss(g: Tape, logits: Tensor, targets: Int32Array, teacher: TeacherTopK, opts: DistillLossOptions, parts?: DistillLossParts): Tensor {
  validateDistillOptions(opts);
  const ignore = opts.ignoreIndex ?? -100;
  const v = logits.cols, n = logits.rows, k = teacher.k;
  if (targets.length !== n) throw new ShapeError(`distillLoss: ${targets.length} targets for ${n} rows of logits ${logits}`);
  checkTeacher(teacher, n, v);
  for (let i = 0; i < n; i++) {
    const y = targets[i]!;
    if (y !== ignore && (y < 0 || y >= v)) throw new ShapeError(`distillLoss: targets[${i}] = ${y} is outside [0, ${v}) and is not the ignore index ${ignore}`);
  }
  const T = opts.temperature, invT = 1 / T, alpha = opts.alpha, div = opts.divergence;
  const s = logits.data;

  // The one O(N·V) pass: lse1 (N) at T = 1 for CE, lseT (N) for the student at T.
  const lse1 = g.scratch(n), lseT = g.scratch(n);
  softmaxLsePair(lse1, lseT, s, n, v, invT);

  // Per row, O(K): CE, the teacher's log p and the student's log q at the K ids, D.
  const logpAll = g.scratch(n * k), logqAll = g.scratch(n * k), dRow = g.scratch(n);
  const logq = new Float64Array(k), logp = new Float64Array(k);
  let dSum = 0, ceSum = 0, count = 0;
  for (let i = 0; i < n; i++) {
    const y = targets[i]!;
    dRow[i] = 0;
    if (y === ignore) continue;
    count++;
    ceSum += lse1[i]! - s[i * v + y]!;
    for (let j = 0; j < k; j++) logq[j] = s[i * v + teacher.ids[i * k + j]!]! * invT - lseT[i]!;
    const d = rowDivergence(div, teacher.logits, i * k, k, invT, logq, logp);
    dRow[i] = d;
    dSum += d;
    for (let j = 0; j < k; j++) {
      logpAll[i * k + j] = logp[j]!;
      logqAll[i * k + j] = logq[j]!;
    }
  }
  const meanD = count === 0 ? 0 : dSum / count, meanCe = count === 0 ? 0 : ceSum / count;
  if (parts) {
    parts.divergence = meanD;
    parts.ce = meanCe;
    parts.rows = count;
  }
  const loss = g.empty([]);
  loss.data[0] = alpha * T * T * meanD + (1 - alpha) * meanCe;

  if (g.needsGrad(logits)) {
    g.record("distillLoss", loss, (dloss) => {
      if (count === 0) return;
      const a = (alpha * T * T * dloss[0]!) / count; // weight of dD/ds per row
      const b = ((1 - alpha) * dloss[0]!) / count; // weight of dCE/ds per row
      distillBackward(g, logits, lse1, lseT, logpAll, logqAll, dRow, targets, teacher, n, v, k, ignore, div, invT, a * invT, b);
    });
  }
  return loss;
}

/**
 * d loss / d logits (N,V): the dense part c1·softmax(s) + cT·softmax(s/T) in one native pass,
 * then the sparse O(N·K) corrections. c = α·T²·dloss/count/T weighs dD/d(s/T); b weighs dCE/ds.
 */
function distillBackward(
  g: Tape, logits: Tensor, lse1: Float32Array, lseT: Float32Array, logpAll: Float32Array, logqAll: Float32Array, dRow: Float32Array,
  targets: Int32Array, teacher: TeacherTopK, n: number, v: number, k: number, ignore: number, div: Divergence, invT: number, c: number, b: number,
): void {
  const c1 = g.scratch(n), cT = g.scratch(n); // per-row weights of softmax(s) and softmax(s/T)
  const half = 0.5 * LN2;
  for (let i = 0; i < n; i++) {
    if (targets[i] === ignore) {
      c1[i] = 0;
      cT[i] = 0;
      continue;
    }
    c1[i] = b;
    if (div === "forward") cT[i] = c;
    else if (div === "reverse") cT[i] = 0;
    else {
      let qk = 0, gk = 0;
      for (let j = 0; j < k; j++) {
        const q = Math.exp(logqAll[i * k + j]!), p = Math.exp(logpAll[i * k + j]!);
        qk += q;
        if (q > 0) gk += q * 0.5 * Math.log((2 * q) / (p + q));
      }
      const G = gk + Math.max(0, 1 - qk) * half;
      cT[i] = c * (half - G);
    }
  }
  // dst (N,V): written directly when nothing has flowed into logits yet, else added.
  let dst = g.gradForWrite(logits);
  const direct = dst !== null;
  if (dst === null) dst = g.scratch(n * v);
  distillDenseBackward(dst, logits.data, lse1, lseT, c1, cT, n, v, invT);
  for (let i = 0; i < n; i++) {
    const y = targets[i]!;
    if (y === ignore) continue;
    const o = i * v;
    dst[o + y]! -= b; // CE: softmax − onehot(y)
    if (div === "forward") {
      // ds = (q − p): q is in the dense pass.
      for (let j = 0; j < k; j++) dst[o + teacher.ids[i * k + j]!]! -= c * Math.exp(logpAll[i * k + j]!);
    } else if (div === "reverse") {
      // Sparse only: ds_j = q̃_j (log q̃_j − log p_j − D).
      let qm = -Infinity;
      for (let j = 0; j < k; j++) qm = Math.max(qm, logqAll[i * k + j]!);
      let qs = 0;
      for (let j = 0; j < k; j++) qs += Math.exp(logqAll[i * k + j]! - qm);
      const ql = qm + Math.log(qs);
      for (let j = 0; j < k; j++) {
        const lqt = logqAll[i * k + j]! - ql;
        dst[o + teacher.ids[i * k + j]!]! += c * Math.exp(lqt) * (lqt - logpAll[i * k + j]! - dRow[i]!);
      }
    } else {
      // js: ds_i = q_i (g_i − G); the dense pass gave q_i (½ ln 2 − G), add q_j (g_j − ½ ln 2) on K.
      for (let j = 0; j < k; j++) {
        const q = Math.exp(logqAll[i * k + j]!), p = Math.exp(logpAll[i * k + j]!);
        const gj = q > 0 ? 0.5 * Math.log((2 * q) / (p + q)) : half;
        dst[o + teacher.ids[i * k + j]!]! += c * q * (gj - half);
      }
    }
  }
  if (!direct) axpy(g.grad(logits), 1, dst, n * v);
}

/**
 * The plain float64 oracle: the same loss computed directly from full softmaxes (no kernels,
 * no sharing). logits (N,V), targets (N), teacher (N,K).
 */
export function distillLossReference(logits: ArrayLike<number>, targets: Int32Array, teacher: TeacherTopK, n: number, v: number, opts: DistillLossOptions): { loss: number; divergence: number; ce: number } {
  const ignore = opts.ignoreIndex ?? -100, T = opts.temperature, k = teacher.k;
  let dSum = 0, ceSum = 0, count = 0;
  const logSoftmax = (row: number[]) => {
    const m = Math.max(...row);
    const l = m + Math.log(row.reduce((acc, x) => acc + Math.exp(x - m), 0));
    return row.map((x) => x - l);
  };
  for (let i = 0; i < n; i++) {
    const y = targets[i]!;
    if (y === ignore) continue;
    count++;
    const s = Array.from({ length: v }, (_, x) => logits[i * v + x]!);
    ceSum -= logSoftmax(s)[y]!;
    const lq = logSoftmax(s.map((x) => x / T));
    // Teacher over all V: renormalised top-k, exactly zero elsewhere.
    const p = new Array<number>(v).fill(0);
    const ids = Array.from({ length: k }, (_, j) => teacher.ids[i * k + j]!);
    const lpK = logSoftmax(ids.map((_, j) => teacher.logits[i * k + j]! / T));
    ids.forEach((id, j) => (p[id] = Math.exp(lpK[j]!)));
    const q = lq.map(Math.exp);
    let d = 0;
    if (opts.divergence === "forward") {
      for (let x = 0; x < v; x++) if (p[x]! > 0) d += p[x]! * (Math.log(p[x]!) - lq[x]!);
    } else if (opts.divergence === "reverse") {
      const qK = ids.reduce((acc, id) => acc + q[id]!, 0);
      for (const id of ids) {
        const qt = q[id]! / qK;
        if (qt > 0) d += qt * (Math.log(qt) - Math.log(p[id]!));
      }
    } else {
      for (let x = 0; x < v; x++) {
        const m = 0.5 * (p[x]! + q[x]!);
        if (p[x]! > 0) d += 0.5 * p[x]! * Math.log(p[x]! / m);
        if (q[x]! > 0) d += 0.5 * q[x]! * Math.log(q[x]! / m);
      }
    }
    dSum += d;
  }
  const divergence = count === 0 ? 0 : dSum / count, ce = count === 0 ? 0 : ceSum / count;
  return { loss: opts.alpha * T * T * divergence + (1 - opts.alpha) * ce, divergence, ce };
}
