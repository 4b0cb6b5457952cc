// AdamW over Parameters (moment buffers allocated once, per-parameter weight
// decay from Parameter.decay), global gradient-norm clipping, and the
// optimizer state as a plain object for exact-resume checkpoints. The update
// itself runs in the adamwStep kernel. Knows nothing about learning-rate
// schedules (the caller passes the step's lr) or about files.
import { ConfigError, FormatError, UsageError } from "../errors.ts";
import { adamwStep, scale, sumSquares } from "../native/ops/optim.ts";
import type { Parameter } from "./tensor.ts";

export interface AdamWConfig {
  /** Learning rate used when step() gets none (schedules pass theirs each step). Default 1e-3. */
  lr?: number;
  /** First-moment decay. Default 0.9. */
  beta1?: number;
  /** Second-moment decay. Default 0.95 (the usual choice for language models; PyTorch's default is 0.999). */
  beta2?: number;
  /** Added to √v̂. Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay for parameters with decay = true. Default 0.1. */
  weightDecay?: number;
}

/** Everything AdamW needs to continue exactly: plain data (Float32Arrays and numbers). */
export interface AdamWState {
  /** Steps taken so far (the bias corrections depend on it). */
  step: number;
  config: Required<AdamWConfig>;
  /** Moments per parameter, keyed by parameter name. */
  slots: Record<string, { m: Float32Array; v: Float32Array }>;
}

const NONE = new Float32Array(0);

interface Slot {
  name: string;
  p: Parameter;
  m: Float32Array;
  v: Float32Array;
}

function checkConfig(c: Required<AdamWConfig>): void {
  const bad = (what: string, v: number, want: string) => new ConfigError(`AdamW: ${what} must be ${want}, got ${v}`);
  if (!(c.lr >= 0) || !Number.isFinite(c.lr)) throw bad("lr", c.lr, "a finite number >= 0");
  if (!(c.beta1 >= 0 && c.beta1 < 1)) throw bad("beta1", c.beta1, "in [0, 1)");
  if (!(c.beta2 >= 0 && c.beta2 < 1)) throw bad("beta2", c.beta2, "in [0, 1)");
  if (!(c.eps > 0) || !Number.isFinite(c.eps)) throw bad("eps", c.eps, "a finite number > 0");
  if (!(c.weightDecay >= 0) || !Number.isFinite(c.weightDecay)) throw bad("weightDecay", c.weightDecay, "a finite number >= 0");
}

export class AdamW {
  readonly config: Required<AdamWConfig>;
  private readonly slots: Slot[];
  private t = 0;

  /**
   * params: named parameters (module.namedParameters(), names key the saved state) or a plain
   * list (named by position). Frozen parameters (requiresGrad false) are kept but skipped.
   */
  constructor(params: readonly [string, Parameter][] | readonly Parameter[], config: AdamWConfig = {}) {
    this.config = {
      lr: config.lr ?? 1e-3,
      beta1: config.beta1 ?? 0.9,
      beta2: config.beta2 ?? 0.95,
      eps: config.eps ?? 1e-8,
      weightDecay: config.weightDecay ?? 0.1,
    };
    checkConfig(this.config);
    const named: [string, Parameter][] = params.map((e, i) => (Array.isArray(e) ? (e as [string, Parameter]) : [String(i), e as Parameter]));
    const names = new Set<string>();
    const seen = new Set<Parameter>();
    this.slots = [];
    for (const [name, p] of named) {
      if (names.has(name)) throw new UsageError(`AdamW: parameter name "${name}" appears twice`);
      if (seen.has(p)) throw new UsageError(`AdamW: parameter "${name}" is listed twice (shared parameters must be listed once)`);
      names.add(name);
      seen.add(p);
      // Moments only for parameters that train: a frozen one gets them if it is unfrozen later.
      this.slots.push({ name, p, m: p.requiresGrad ? new Float32Array(p.size) : NONE, v: p.requiresGrad ? new Float32Array(p.size) : NONE });
    }
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.t;
  }

  /** The parameters this optimizer updates, in order. */
  parameters(): Parameter[] {
    return this.slots.map((s) => s.p);
  }

  /** One update of every trainable parameter from its grad, with `lr` (default config.lr). */
  step(lr = this.config.lr): void {
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new UsageError(`AdamW.step: lr must be a finite number >= 0, got ${lr}`);
    const { beta1, beta2, eps, weightDecay } = this.config;
    this.t++;
    for (const s of this.slots) {
      if (!s.p.requiresGrad) continue;
      if (s.m.length !== s.p.size) {
        s.m = new Float32Array(s.p.size);
        s.v = new Float32Array(s.p.size);
      }
      adamwStep(s.p.data, s.p.grad, s.m, s.v, s.p.size, lr, beta1, beta2, eps, s.p.decay ? weightDecay : 0, this.t);
    }
  }

  /** Zeroes the gradients of every parameter it updates. */
  zeroGrad(): void {
    for (const s of this.slots) s.p.grad.fill(0);
  }

  /** Bytes held by the moment buffers (parameters that never trained hold none). */
  stateBytes(): number {
    let n = 0;
    for (const s of this.slots) n += s.m.byteLength + s.v.byteLength;
    return n;
  }

  /** A copy of the state (moments and step), safe to keep while training continues. Parameters without moments (never trained) are left out. */
  state(): AdamWState {
    const slots: AdamWState["slots"] = {};
    for (const s of this.slots) if (s.m.length === s.p.size) slots[s.name] = { m: s.m.slice(), v: s.v.slice() };
    return { step: this.t, config: { ...this.config }, slots };
  }

  /**
   * Restores a state from state() into this optimizer's buffers (allocating them for
   * parameters that had none). Every trainable parameter must have moments of its size under
   * its name (a frozen one may have none); the step counter and the hyperparameters are
   * taken from the state.
   */
  loadState(state: AdamWState): void {
    if (
      state === null ||
      typeof state !== "object" ||
      !Number.isInteger(state.step) ||
      state.step < 0 ||
      typeof state.slots !== "object" ||
      state.slots === null
    ) {
      throw new FormatError("AdamW.loadState: expected {step: integer >= 0, config, slots: {name: {m, v}}}");
    }
    const cfg = { ...this.config, ...(state.config ?? {}) };
    checkConfig(cfg);
    for (const s of this.slots) {
      const saved = state.slots[s.name];
      if (saved === undefined && !s.p.requiresGrad) continue;
      if (saved === undefined) throw new FormatError(`AdamW.loadState: no moments saved for parameter "${s.name}"`);
      for (const key of ["m", "v"] as const) {
        const arr = saved[key];
        if (!(arr instanceof Float32Array) || arr.length !== s.p.size) {
          throw new FormatError(
            `AdamW.loadState: "${s.name}".${key} must be a Float32Array of ${s.p.size} values, got ${arr instanceof Float32Array ? arr.length : typeof arr}`,
          );
        }
      }
    }
    const extra = Object.keys(state.slots).filter((n) => !this.slots.some((s) => s.name === n));
    if (extra.length > 0)
      throw new FormatError(`AdamW.loadState: state has moments for unknown parameters: ${extra.slice(0, 5).join(", ")}${extra.length > 5 ? ", …" : ""}`);
    for (const s of this.slots) {
      const saved = state.slots[s.name];
      if (saved === undefined) continue;
      if (s.m.length !== s.p.size) {
        s.m = new Float32Array(s.p.size);
        s.v = new Float32Array(s.p.size);
      }
      s.m.set(saved.m);
      s.v.set(saved.v);
    }
    Object.assign(this.config, cfg);
    this.t = state.step;
  }
}

/**
 * Scales the gradients of `params` so their global L2 norm is at most maxNorm and returns the
 * norm before clipping. A non-finite norm (inf/NaN gradients) is returned without scaling, so
 * the caller can skip the step.
 */
export function clipGradNorm(params: readonly Parameter[], maxNorm: number): number {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) throw new ConfigError(`clipGradNorm: maxNorm must be a finite number > 0, got ${maxNorm}`);
  const norm = gradNorm(params);
  if (!Number.isFinite(norm)) return norm;
  if (norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const p of params) if (p.requiresGrad) scale(p.grad, p.size, s);
  }
  return norm;
}

/** Bytes held by the gradient buffers of `params` (frozen parameters hold none). */
export function gradientBytes(params: readonly Parameter[]): number {
  let n = 0;
  for (const p of params) n += p.grad.byteLength;
  return n;
}

/** The global L2 norm of the gradients of the trainable `params` (float64 sums). */
export function gradNorm(params: readonly Parameter[]): number {
  let sq = 0;
  for (const p of params) if (p.requiresGrad) sq += sumSquares(p.grad, p.size);
  return Math.sqrt(sq);
}
