// Learning-rate schedules as plain config objects (JSON in run configs) and a
// pure function lrAt(schedule, step). Steps count from 0: step s is the update
// about to be made. Warmup ramps linearly to the peak, reaching it at the end
// of warmup: lr(s) = peak·(s+1)/warmup for s < warmup, so step 0 is never 0.
// Knows nothing about optimizers or training loops.
import { ConfigError, UsageError } from "../errors.ts";

export type LrSchedule =
  | {
      kind: "constant";
      /** Peak learning rate. */
      lr: number;
      /** Linear warmup steps (default 0). */
      warmupSteps?: number;
    }
  | {
      /** Warmup, then cosine decay from lr to lr·minRatio at totalSteps; flat after. */
      kind: "cosine";
      lr: number;
      warmupSteps?: number;
      totalSteps: number;
      /** Final lr as a fraction of the peak, in [0, 1] (default 0.1). */
      minRatio?: number;
    }
  | {
      /** Warmup-stable-decay: warmup, flat at lr, then decay over the last decayFraction of totalSteps. */
      kind: "wsd";
      lr: number;
      warmupSteps?: number;
      totalSteps: number;
      /** Fraction of totalSteps spent decaying, in (0, 1] (default 0.2). */
      decayFraction?: number;
      /** Final lr as a fraction of the peak, in [0, 1] (default 0). */
      minRatio?: number;
      /** Decay curve (default "linear"). */
      decayShape?: "linear" | "cosine";
    };

function bad(msg: string): ConfigError {
  return new ConfigError(`lr schedule: ${msg}`);
}

/** Throws ConfigError naming the first invalid field. */
export function validateSchedule(s: LrSchedule): void {
  if (s === null || typeof s !== "object") throw bad(`expected an object, got ${s}`);
  const kind = (s as { kind?: unknown }).kind;
  if (kind !== "constant" && kind !== "cosine" && kind !== "wsd") throw bad(`unknown kind ${JSON.stringify(kind)}; expected "constant", "cosine" or "wsd"`);
  if (typeof s.lr !== "number" || !Number.isFinite(s.lr) || s.lr < 0) throw bad(`lr must be a finite number >= 0, got ${s.lr}`);
  const warmup = s.warmupSteps ?? 0;
  if (!Number.isInteger(warmup) || warmup < 0) throw bad(`warmupSteps must be an integer >= 0, got ${warmup}`);
  if (s.kind === "constant") return;
  if (!Number.isInteger(s.totalSteps) || s.totalSteps < 1) throw bad(`totalSteps must be a positive integer, got ${s.totalSteps}`);
  const minRatio = s.minRatio ?? (s.kind === "cosine" ? 0.1 : 0);
  if (typeof minRatio !== "number" || !(minRatio >= 0 && minRatio <= 1)) throw bad(`minRatio must be in [0, 1], got ${minRatio}`);
  if (s.kind === "cosine") {
    if (warmup >= s.totalSteps) throw bad(`warmupSteps (${warmup}) must be less than totalSteps (${s.totalSteps})`);
    return;
  }
  const frac = s.decayFraction ?? 0.2;
  if (typeof frac !== "number" || !(frac > 0 && frac <= 1)) throw bad(`decayFraction must be in (0, 1], got ${frac}`);
  const shape = s.decayShape ?? "linear";
  if (shape !== "linear" && shape !== "cosine") throw bad(`decayShape must be "linear" or "cosine", got ${JSON.stringify(shape)}`);
  const decay = wsdDecaySteps(s.totalSteps, frac);
  if (warmup + decay > s.totalSteps) throw bad(`warmupSteps (${warmup}) + decay steps (${decay}) exceed totalSteps (${s.totalSteps})`);
}

function wsdDecaySteps(total: number, frac: number): number {
  return Math.max(1, Math.round(total * frac));
}

/** The learning rate for update number `step` (0-based). Pure: same inputs, same value. */
export function lrAt(s: LrSchedule, step: number): number {
  validateSchedule(s);
  if (!Number.isInteger(step) || step < 0) throw new UsageError(`lrAt: step must be an integer >= 0, got ${step}`);
  const warmup = s.warmupSteps ?? 0;
  if (step < warmup) return (s.lr * (step + 1)) / warmup;
  switch (s.kind) {
    case "constant":
      return s.lr;
    case "cosine": {
      const minLr = s.lr * (s.minRatio ?? 0.1);
      const progress = Math.min(1, (step - warmup) / (s.totalSteps - warmup));
      return minLr + (s.lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
    }
    case "wsd": {
      const minLr = s.lr * (s.minRatio ?? 0);
      const decay = wsdDecaySteps(s.totalSteps, s.decayFraction ?? 0.2);
      const start = s.totalSteps - decay;
      if (step < start) return s.lr;
      const progress = Math.min(1, (step - start) / decay);
      const f = (s.decayShape ?? "linear") === "linear" ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
      return minLr + (s.lr - minLr) * f;
    }
  }
}

/** lrAt bound to one schedule, validated once. */
export function scheduleFn(s: LrSchedule): (step: number) => number {
  validateSchedule(s);
  return (step) => lrAt(s, step);
}
