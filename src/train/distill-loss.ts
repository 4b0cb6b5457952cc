// The logit-distillation loss as one tape op, forward and backward side by
// side: loss = α·T²·mean D(teacher, student at temperature T) + (1−α)·mean CE(student, target),
// with the teacher given as cached top-k logits per position plus its full-vocabulary
// log-sum-exp at T.
//
// The teacher from top-k: "top-k + one rest bucket". p_j = e^(z_j/T − lse_teacher) for the K
// cached ids (exact probabilities: the cache stores lse_teacher = log Σ_V e^(z/T)), and
// p_rest = 1 − Σ_K p_j for every other token together. The student q = softmax(s/T) over the
// whole vocabulary is read on the same K+1 outcomes: q_j at the K ids, q_rest = 1 − Σ_K q_j.
// D compares the two (K+1)-outcome distributions:
//   forward  KL(p‖q) = Σ_b p_b log(p_b/q_b)
//   reverse  KL(q‖p) = Σ_b q_b log(q_b/p_b)
//   js       ½KL(p‖m) + ½KL(q‖m), m = (p+q)/2
// With g_b = ∂D/∂q_b, every student logit i in bucket b gets dD/ds_i = q_i (g_b − Σ q g)/T:
// a dense term (the rest bucket's coefficient times softmax(s/T), one native pass) plus a
// sparse correction at the K ids. (An earlier version renormalised the teacher over its
// top-k with no rest bucket; with a weak, high-entropy teacher that pushed all the student's
// mass into the top-k and its CE on the real next token rose: see docs/distill.md.)
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

/**
 * Cached teacher logits for N rows: ids (N,K) in [0,V), logits z (N,K), and lse (N) =
 * log Σ_V e^(z/T) over the teacher's whole vocabulary at the loss's temperature T.
 */
export interface TeacherTopK {
  ids: Int32Array;
  logits: Float32Array;
  lse: Float32Array;
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
  if (t.lse.length !== n) throw new ShapeError(`distillLoss: teacher lse must be (${n}) values, got ${t.lse.length}`);
  for (let i = 0; i < n * k; i++) {
    const id = t.ids[i]!;
    if (id < 0 || id >= v)
      throw new ShapeError(`distillLoss: teacher id ${id} (row ${Math.floor(i / k)}) is outside the student's vocabulary [0, ${v})`, {
        hint: "logit distillation needs the same tokenizer for teacher and student",
      });
  }
}

const TINY = 1e-30;
/** a·log(a/b), 0 when a = 0 (b floored at TINY). */
function xlog(a: number, b: number): number {
  return a > 0 ? a * Math.log(a / Math.max(b, TINY)) : 0;
}

/** The rest buckets of one row, saved for the backward. */
interface Rest {
  p: number;
  q: number;
}

/**
 * One row: the teacher's log p (K) from z/T − lseTeacher, the student's log q (K) given, the
 * rest masses, and D over the K+1 buckets.
 */
function rowDivergence(
  div: Divergence,
  z: Float32Array,
  zo: number,
  k: number,
  invT: number,
  lseTeacher: number,
  logq: Float64Array,
  logp: Float64Array,
  rest: Rest,
): number {
  let P = 0,
    Q = 0;
  for (let j = 0; j < k; j++) {
    logp[j] = z[zo + j]! * invT - lseTeacher;
    P += Math.exp(logp[j]!);
    Q += Math.exp(logq[j]!);
  }
  const pr = Math.max(0, 1 - P),
    qr = Math.max(0, 1 - Q);
  rest.p = pr;
  rest.q = qr;
  let d = 0;
  for (let j = 0; j <= k; j++) {
    const p = j < k ? Math.exp(logp[j]!) : pr,
      q = j < k ? Math.exp(logq[j]!) : qr;
    if (div === "forward") d += xlog(p, q);
    else if (div === "reverse") d += xlog(q, p);
    else {
      const m = 0.5 * (p + q);
      d += 0.5 * xlog(p, m) + 0.5 * xlog(q, m);
    }
  }
  return d;
}

/** g_b = ∂D/∂q_b for one bucket (see the header); pRatio = p/q for forward. */
function bucketGrad(div: Divergence, p: number, q: number): number {
  if (div === "forward") return q > 0 ? -p / q : 0;
  if (div === "reverse") return q > 0 ? Math.log(q / Math.max(p, TINY)) + 1 : 0;
  return q > 0 ? 0.5 * Math.log((2 * q) / (p + q)) : 0;
}

/**
 * loss () = α·T²·mean D + (1−α)·mean CE over the rows whose target is not ignored.
 * logits (…,V) the student's, targets (N), teacher top-k (N,K). targets and teacher must
 * stay unchanged until backward has run. `parts`, when given, receives the two terms.
 */
export function distillLoss(g: Tape, logits: Tensor, targets: Int32Array, teacher: TeacherTopK, opts: DistillLossOptions, parts?: DistillLossParts): Tensor {
  validateDistillOptions(opts);
  const ignore = opts.ignoreIndex ?? -100;
  const v = logits.cols,
    n = logits.rows,
    k = teacher.k;
  if (targets.length !== n) throw new ShapeError(`distillLoss: ${targets.length} targets for ${n} rows of logits ${logits}`);
  checkTeacher(teacher, n, v);
  for (let i = 0; i < n; i++) {
    const y = targets[i]!;
    if (y !== ignore && (y < 0 || y >= v)) throw new ShapeError(`distillLoss: targets[${i}] = ${y} is outside [0, ${v}) and is not the ignore index ${ignore}`);
  }
  const T = opts.temperature,
    invT = 1 / T,
    alpha = opts.alpha,
    div = opts.divergence;
  const s = logits.data;

  // The one O(N·V) pass: lse1 (N) at T = 1 for CE, lseT (N) for the student at T.
  const lse1 = g.scratch(n),
    lseT = g.scratch(n);
  softmaxLsePair(lse1, lseT, s, n, v, invT);

  // Per row, O(K): CE, the teacher's log p and the student's log q at the K ids, D.
  const logpAll = g.scratch(n * k),
    logqAll = g.scratch(n * k),
    pRest = g.scratch(n),
    qRest = g.scratch(n);
  const logq = new Float64Array(k),
    logp = new Float64Array(k),
    rest: Rest = { p: 0, q: 0 };
  let dSum = 0,
    ceSum = 0,
    count = 0;
  for (let i = 0; i < n; i++) {
    const y = targets[i]!;
    pRest[i] = 0;
    qRest[i] = 0;
    if (y === ignore) continue;
    count++;
    ceSum += lse1[i]! - s[i * v + y]!;
    for (let j = 0; j < k; j++) logq[j] = s[i * v + teacher.ids[i * k + j]!]! * invT - lseT[i]!;
    const d = rowDivergence(div, teacher.logits, i * k, k, invT, teacher.lse[i]!, logq, logp, rest);
    pRest[i] = rest.p;
    qRest[i] = rest.q;
    dSum += d;
    for (let j = 0; j < k; j++) {
      logpAll[i * k + j] = logp[j]!;
      logqAll[i * k + j] = logq[j]!;
    }
  }
  const meanD = count === 0 ? 0 : dSum / count,
    meanCe = count === 0 ? 0 : ceSum / count;
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
      distillBackward(g, logits, lse1, lseT, logpAll, logqAll, pRest, qRest, targets, teacher, n, v, k, ignore, div, invT, a * invT, b);
    });
  }
  return loss;
}

/**
 * d loss / d logits (N,V): the dense part c1·softmax(s) + cT·softmax(s/T) in one native pass,
 * then the sparse O(N·K) corrections. c = α·T²·dloss/count/T weighs dD/d(s/T); b weighs dCE/ds.
 * Bucket b's logits get c·q_i·(g_b − G), G = Σ_b q_b g_b: the rest bucket's coefficient is the
 * dense cT, and the K ids add c·q_j·(g_j − g_rest).
 */
function distillBackward(
  g: Tape,
  logits: Tensor,
  lse1: Float32Array,
  lseT: Float32Array,
  logpAll: Float32Array,
  logqAll: Float32Array,
  pRest: Float32Array,
  qRest: Float32Array,
  targets: Int32Array,
  teacher: TeacherTopK,
  n: number,
  v: number,
  k: number,
  ignore: number,
  div: Divergence,
  invT: number,
  c: number,
  b: number,
): void {
  const c1 = g.scratch(n),
    cT = g.scratch(n); // per-row weights of softmax(s) and softmax(s/T)
  const gRest = g.scratch(n);
  for (let i = 0; i < n; i++) {
    if (targets[i] === ignore) {
      c1[i] = 0;
      cT[i] = 0;
      continue;
    }
    let G = 0;
    for (let j = 0; j < k; j++) {
      const q = Math.exp(logqAll[i * k + j]!);
      G += q * bucketGrad(div, Math.exp(logpAll[i * k + j]!), q);
    }
    const gr = bucketGrad(div, pRest[i]!, qRest[i]!);
    G += qRest[i]! * gr;
    gRest[i] = gr;
    c1[i] = b;
    cT[i] = c * (gr - G);
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
    for (let j = 0; j < k; j++) {
      const q = Math.exp(logqAll[i * k + j]!);
      dst[o + teacher.ids[i * k + j]!]! += c * q * (bucketGrad(div, Math.exp(logpAll[i * k + j]!), q) - gRest[i]!);
    }
  }
  if (!direct) axpy(g.grad(logits), 1, dst, n * v);
}

/**
 * The plain float64 oracle: the same loss computed directly from full softmaxes (no kernels,
 * no sharing). logits (N,V), targets (N), teacher (N,K).
 */
export function distillLossReference(
  logits: ArrayLike<number>,
  targets: Int32Array,
  teacher: TeacherTopK,
  n: number,
  v: number,
  opts: DistillLossOptions,
): { loss: number; divergence: number; ce: number } {
  const ignore = opts.ignoreIndex ?? -100,
    T = opts.temperature,
    k = teacher.k;
  let dSum = 0,
    ceSum = 0,
    count = 0;
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
    const q = logSoftmax(s.map((x) => x / T)).map(Math.exp);
    // K+1 buckets: the teacher's K ids (exact probabilities from its lse), and the rest.
    const ids = Array.from({ length: k }, (_, j) => teacher.ids[i * k + j]!);
    const p = ids.map((_, j) => Math.exp(teacher.logits[i * k + j]! / T - teacher.lse[i]!));
    const inK = new Set(ids);
    let qRest = 0;
    for (let x = 0; x < v; x++) if (!inK.has(x)) qRest += q[x]!;
    const pb = [...p, Math.max(0, 1 - p.reduce((acc, x) => acc + x, 0))];
    const qb = [...ids.map((id) => q[id]!), qRest];
    const xl = (a: number, b: number) => (a > 0 ? a * Math.log(a / Math.max(b, 1e-30)) : 0);
    let d = 0;
    for (let j = 0; j <= k; j++) {
      const pj = pb[j]!,
        qj = qb[j]!;
      if (opts.divergence === "forward") d += xl(pj, qj);
      else if (opts.divergence === "reverse") d += xl(qj, pj);
      else d += 0.5 * xl(pj, 0.5 * (pj + qj)) + 0.5 * xl(qj, 0.5 * (pj + qj));
    }
    dSum += d;
  }
  const divergence = count === 0 ? 0 : dSum / count,
    ce = count === 0 ? 0 : ceSum / count;
  return { loss: opts.alpha * T * T * divergence + (1 - opts.alpha) * ce, divergence, ce };
}
