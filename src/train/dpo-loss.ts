// Preference losses over sequence log-probabilities, forward and backward side
// by side, in float64 (n pairs: a handful of numbers per pair, so plain
// TypeScript). Input: the policy's summed completion log-probabilities π (2n:
// the n chosen sequences, then the n rejected), their completion token counts,
// and for DPO the reference model's log-probabilities ρ (2n, constants).
//
//   DPO, sigmoid:  h = (π_c − ρ_c) − (π_r − ρ_r);  L = mean −log σ(β·h)
//   DPO, IPO:      L = mean (h − 1/(2β))²         (h from summed log-probs, as the
//                  IPO paper writes it; TRL averages them per token for IPO)
//   either, with rpoAlpha α > 0: + α·NLL (the chosen tokens' mean cross-entropy, as below)
//   ORPO:          m = π / tokens (mean per-token log-prob), log odds(m) = m − log(1 − e^m);
//                  L = NLL + λ · mean −log σ(log odds(m_c) − log odds(m_r)),
//                  NLL = −Σ π_c / Σ tokens_c (the chosen tokens' mean cross-entropy)
//
// Logged, as TRL logs them: rewards β·(π − ρ) for DPO and λ·m for ORPO, margin
// = chosen − rejected reward, accuracy = share of pairs whose chosen reward is
// the larger. `preferenceLoss` is the tape op (the gradient with respect to π);
// `preferenceLossForward` is the same computation without a tape (tests, eval).
// Knows nothing about models, batches or the trainer.
import { ConfigError, ShapeError } from "../errors.ts";
import type { Tape, Tensor } from "../tensor/index.ts";

export type PreferenceObjective = "dpo" | "orpo";
export type DpoLossType = "sigmoid" | "ipo";
export const DPO_LOSS_TYPES: readonly DpoLossType[] = ["sigmoid", "ipo"];

export interface PreferenceLossOptions {
  objective: PreferenceObjective;
  /** DPO: β, the strength of the pull towards the reference (and the reward scale). */
  beta: number;
  /** DPO: the loss on the margin h. */
  loss: DpoLossType;
  /** ORPO: λ, the weight of the odds-ratio term against the chosen NLL (also its reward scale). */
  orpoLambda: number;
  /**
   * DPO: weight α of the chosen completions' NLL added to the loss (TRL's rpo_alpha; RPO, Pang et
   * al. 2024). 0 (default) is plain DPO; it keeps DPO from lowering the chosen likelihood too.
   */
  rpoAlpha?: number;
}

/** What a batch's loss reports (means over its pairs). */
export interface PreferenceMetrics {
  loss: number;
  chosenReward: number;
  rejectedReward: number;
  margin: number;
  /** Share of pairs whose chosen reward beats the rejected one (ties count as misses). */
  accuracy: number;
  /** ORPO: the chosen NLL and the mean log odds ratio; DPO: the policy's mean summed log-probs. */
  nll?: number;
  logOddsRatio?: number;
  chosenLogp: number;
  rejectedLogp: number;
  pairs: number;
}

export interface PreferenceForward {
  loss: number;
  /** dL/dπ (2n). */
  grad: Float64Array;
  metrics: PreferenceMetrics;
  /** Per pair: chosen reward > rejected reward. */
  correct: boolean[];
}

export function validatePreferenceOptions(o: PreferenceLossOptions): void {
  if (o.objective !== "dpo" && o.objective !== "orpo")
    throw new ConfigError(`preference objective must be "dpo" or "orpo", got ${JSON.stringify(o.objective)}`);
  if (!(o.beta > 0 && Number.isFinite(o.beta))) throw new ConfigError(`DPO beta must be a number > 0, got ${o.beta}`);
  if (!DPO_LOSS_TYPES.includes(o.loss)) throw new ConfigError(`unknown DPO loss "${o.loss}"`, { hint: `choose one of ${DPO_LOSS_TYPES.join(", ")}` });
  if (!(o.orpoLambda >= 0 && Number.isFinite(o.orpoLambda))) throw new ConfigError(`ORPO lambda must be a number >= 0, got ${o.orpoLambda}`);
  if (o.rpoAlpha !== undefined && !(o.rpoAlpha >= 0 && Number.isFinite(o.rpoAlpha)))
    throw new ConfigError(`RPO alpha (the chosen NLL's weight) must be a number >= 0, got ${o.rpoAlpha}`);
}

/** log σ(z), stable for large |z|. */
function logSigmoid(z: number): number {
  return z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z));
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** Mean log-probs at or above this are clamped (log(1 − e^m) → −∞ as m → 0: a certain sequence has infinite odds). */
const MAX_MEAN_LOGP = -1e-6;

/**
 * The loss, its gradient with respect to π and the batch's metrics. pi, tokens (2n); ref (2n)
 * for DPO (ignored by ORPO).
 */
export function preferenceLossForward(o: PreferenceLossOptions, pi: ArrayLike<number>, tokens: ArrayLike<number>, ref?: ArrayLike<number>): PreferenceForward {
  const len = pi.length,
    n = len / 2;
  if (!Number.isInteger(n) || n < 1) throw new ShapeError(`preferenceLoss: expected 2·n sequence log-probs (chosen then rejected), got ${len}`);
  if (tokens.length !== len) throw new ShapeError(`preferenceLoss: ${tokens.length} token counts for ${len} sequences`);
  for (let i = 0; i < len; i++) if (!(tokens[i]! >= 1)) throw new ShapeError(`preferenceLoss: sequence ${i} has no completion tokens`);
  const grad = new Float64Array(len);
  const correct: boolean[] = [];
  let loss = 0,
    cr = 0,
    rr = 0,
    acc = 0,
    cl = 0,
    rl = 0;
  const metrics: Partial<PreferenceMetrics> = {};
  if (o.objective === "dpo") {
    if (ref === undefined || ref.length !== len) throw new ShapeError(`preferenceLoss: DPO needs ${len} reference log-probs, got ${ref?.length ?? "none"}`);
    const b = o.beta;
    for (let i = 0; i < n; i++) {
      const dc = pi[i]! - ref[i]!,
        dr = pi[n + i]! - ref[n + i]!;
      const h = dc - dr;
      let dh: number; // dL_i / dh
      if (o.loss === "sigmoid") {
        loss += -logSigmoid(b * h);
        dh = -b * sigmoid(-b * h);
      } else {
        const e = h - 1 / (2 * b);
        loss += e * e;
        dh = 2 * e;
      }
      grad[i] = dh / n;
      grad[n + i] = -dh / n;
      const rc = b * dc,
        rj = b * dr;
      cr += rc;
      rr += rj;
      correct.push(rc > rj);
      if (rc > rj) acc++;
      cl += pi[i]!;
      rl += pi[n + i]!;
    }
    loss /= n;
    const alpha = o.rpoAlpha ?? 0;
    if (alpha > 0) {
      let chosenTokens = 0,
        nllSum = 0;
      for (let i = 0; i < n; i++) {
        chosenTokens += tokens[i]!;
        nllSum -= pi[i]!;
      }
      metrics.nll = nllSum / chosenTokens;
      loss += alpha * metrics.nll;
      for (let i = 0; i < n; i++) grad[i]! -= alpha / chosenTokens;
    }
  } else {
    const lam = o.orpoLambda;
    let chosenTokens = 0,
      nllSum = 0,
      lorSum = 0;
    for (let i = 0; i < n; i++) chosenTokens += tokens[i]!;
    for (let i = 0; i < n; i++) {
      const mc = Math.min(pi[i]! / tokens[i]!, MAX_MEAN_LOGP),
        mr = Math.min(pi[n + i]! / tokens[n + i]!, MAX_MEAN_LOGP);
      // log odds(m) = m − log(1 − e^m); d/dm = 1 / (1 − e^m).
      const lor = mc - Math.log(-Math.expm1(mc)) - (mr - Math.log(-Math.expm1(mr)));
      loss += (-lam * logSigmoid(lor)) / n;
      const dlor = (-lam * sigmoid(-lor)) / n; // dL / dlor
      nllSum += -pi[i]!;
      grad[i] = -1 / chosenTokens + (pi[i]! / tokens[i]! < MAX_MEAN_LOGP ? dlor / -Math.expm1(mc) / tokens[i]! : 0);
      grad[n + i] = pi[n + i]! / tokens[n + i]! < MAX_MEAN_LOGP ? -dlor / -Math.expm1(mr) / tokens[n + i]! : 0;
      const rc = lam * mc,
        rj = lam * mr;
      cr += rc;
      rr += rj;
      correct.push(rc > rj);
      if (rc > rj) acc++;
      lorSum += lor;
      cl += pi[i]!;
      rl += pi[n + i]!;
    }
    const nll = nllSum / chosenTokens;
    loss += nll;
    metrics.nll = nll;
    metrics.logOddsRatio = lorSum / n;
  }
  return {
    loss,
    grad,
    correct,
    metrics: {
      ...metrics,
      loss,
      chosenReward: cr / n,
      rejectedReward: rr / n,
      margin: (cr - rr) / n,
      accuracy: acc / n,
      chosenLogp: cl / n,
      rejectedLogp: rl / n,
      pairs: n,
    },
  };
}

/**
 * loss () from the policy's sequence log-probs logps (2n) on the tape; tokens and ref as in
 * preferenceLossForward. `onMetrics` receives the batch's metrics.
 */
export function preferenceLoss(
  g: Tape,
  logps: Tensor,
  o: PreferenceLossOptions,
  tokens: ArrayLike<number>,
  ref?: ArrayLike<number>,
  onMetrics?: (m: PreferenceMetrics) => void,
): Tensor {
  const f = preferenceLossForward(o, logps.data, tokens, ref);
  onMetrics?.(f.metrics);
  const out = g.empty([]);
  out.data[0] = f.loss;
  if (g.needsGrad(logps)) {
    g.record("preferenceLoss", out, (dout) => {
      const d = g.grad(logps),
        s = dout[0]!;
      for (let i = 0; i < d.length; i++) d[i]! += s * f.grad[i]!;
    });
  }
  return out;
}
