// RoPE scaling: the rules that stretch rotary embeddings past the context a
// model was pre-trained on, as Hugging Face's config.json `rope_scaling` names
// them. Three are supported, each a change of the inverse frequencies (and,
// for YaRN, of the cos/sin magnitude):
// - linear: every frequency divided by `factor` (positions interpolated);
// - llama3 (Llama 3.1 / 3.2): long wavelengths divided by `factor`, short ones
//   kept, a smooth blend between `original_max_position_embeddings /
//   low_freq_factor` and `.../ high_freq_factor`;
// - yarn: per-frequency blend of interpolated and original frequencies over a
//   ramp of dimensions set by beta_fast / beta_slow, plus an attention factor
//   (0.1·ln(factor) + 1 unless given) multiplied into cos and sin.
// Here: parsing and writing the config field, the inverse frequencies and the
// tables, and llama.cpp's per-frequency factors (rope_freqs.weight) for
// llama3. Knows nothing about weights or files.
import { ConfigError } from "../errors.ts";
import { ropeInverseFrequencies, ropeTable, ropeTableFromFrequencies, type RopeTable } from "../tensor/rope.ts";

export type RopeScaling =
  | { type: "linear"; factor: number }
  | { type: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  | {
      type: "yarn";
      factor: number;
      /** Pre-training context (rope_scaling.original_max_position_embeddings; default max_position_embeddings). */
      originalMaxPositions: number;
      /** Rotations that bound the ramp (defaults 32 and 1). */
      betaFast: number;
      betaSlow: number;
      /** Multiplies cos and sin; 0.1·ln(factor) + 1 when not given (DeepSeek's mscale / mscale_all_dim ratio when both are). */
      attentionFactor: number;
      /** Round the ramp's ends to whole dimensions (HF default true). */
      truncate: boolean;
    };

const ROPE_SCALING_TYPES = ["linear", "llama3", "yarn"] as const;

type Json = Record<string, unknown>;

function field(o: Json, key: string, what: string, fallback?: number): number {
  const v = o[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`config.json: ${what} needs "${key}"`);
  }
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ConfigError(`config.json: ${what}.${key} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function yarnMscale(scale: number, m = 1): number {
  return scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1;
}

/**
 * Reads HF `rope_scaling` (or a v5 `rope_parameters` entry). `null`, absent or rope_type
 * "default" mean none. Unsupported types are ConfigErrors naming the type.
 */
export function parseRopeScaling(raw: unknown, maxPositions: number, where = "rope_scaling"): RopeScaling | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(`config.json: ${where} must be an object or null, got ${JSON.stringify(raw)}`);
  const o = raw as Json;
  const type = o.rope_type ?? o.type;
  if (type === undefined || type === "default") return undefined;
  if (typeof type !== "string" || !(ROPE_SCALING_TYPES as readonly string[]).includes(type)) {
    throw new ConfigError(`config.json: ${where} type ${JSON.stringify(type)} is not supported`, {
      hint: `supported: ${ROPE_SCALING_TYPES.join(", ")} (dynamic NTK and longrope change with the sequence length or need per-model factor lists)`,
    });
  }
  const what = `${where} (${type})`;
  let s: RopeScaling;
  if (type === "linear") {
    s = { type, factor: field(o, "factor", what) };
  } else if (type === "llama3") {
    s = {
      type,
      factor: field(o, "factor", what),
      lowFreqFactor: field(o, "low_freq_factor", what),
      highFreqFactor: field(o, "high_freq_factor", what),
      originalMaxPositions: field(o, "original_max_position_embeddings", what),
    };
    if (!(s.highFreqFactor > s.lowFreqFactor))
      throw new ConfigError(`config.json: ${what}: high_freq_factor (${s.highFreqFactor}) must exceed low_freq_factor (${s.lowFreqFactor})`);
  } else {
    const orig = field(o, "original_max_position_embeddings", what, maxPositions);
    // As HF's newest rule: an explicit factor wins; without one it is the ratio of the two contexts.
    const factor = o.factor === undefined || o.factor === null ? maxPositions / orig : field(o, "factor", what);
    const m = o.mscale,
      mAll = o.mscale_all_dim;
    let attentionFactor: number;
    if (o.attention_factor !== undefined && o.attention_factor !== null) attentionFactor = field(o, "attention_factor", what);
    else if (typeof m === "number" && typeof mAll === "number" && m !== 0 && mAll !== 0) attentionFactor = yarnMscale(factor, m) / yarnMscale(factor, mAll);
    else attentionFactor = yarnMscale(factor);
    const truncate = o.truncate === undefined || o.truncate === null ? true : o.truncate === true;
    const betaFast = field(o, "beta_fast", what, 32),
      betaSlow = field(o, "beta_slow", what, 1);
    if (!(betaFast > betaSlow)) throw new ConfigError(`config.json: ${what}: beta_fast (${betaFast}) must exceed beta_slow (${betaSlow})`);
    s = { type: "yarn", factor, originalMaxPositions: orig, betaFast, betaSlow, attentionFactor, truncate };
    if (!(attentionFactor > 0)) throw new ConfigError(`config.json: ${what}: attention_factor must be > 0, got ${attentionFactor}`);
  }
  if (!(s.factor >= 1)) throw new ConfigError(`config.json: ${what}: factor must be >= 1, got ${s.factor}`);
  if ("originalMaxPositions" in s && !(Number.isInteger(s.originalMaxPositions) && s.originalMaxPositions >= 1)) {
    throw new ConfigError(`config.json: ${what}: original_max_position_embeddings must be a positive integer, got ${s.originalMaxPositions}`);
  }
  return s;
}

/** The HF config.json `rope_scaling` object (null for none). */
export function ropeScalingToHf(s: RopeScaling | undefined): Json | null {
  if (!s) return null;
  if (s.type === "linear") return { rope_type: "linear", factor: s.factor };
  if (s.type === "llama3") {
    return {
      rope_type: "llama3",
      factor: s.factor,
      low_freq_factor: s.lowFreqFactor,
      high_freq_factor: s.highFreqFactor,
      original_max_position_embeddings: s.originalMaxPositions,
    };
  }
  return {
    rope_type: "yarn",
    factor: s.factor,
    original_max_position_embeddings: s.originalMaxPositions,
    beta_fast: s.betaFast,
    beta_slow: s.betaSlow,
    attention_factor: s.attentionFactor,
    ...(s.truncate ? {} : { truncate: false }),
  };
}

/** Inverse frequencies (rot/2) of a head of `rot` dims under base `theta` and a scaling, and the cos/sin factor. */
export function scaledInverseFrequencies(rot: number, theta: number, s: RopeScaling | undefined): { invFreq: Float64Array; attentionFactor: number } {
  const base = ropeInverseFrequencies(rot, theta);
  if (!s) return { invFreq: base, attentionFactor: 1 };
  const half = rot / 2;
  const out = new Float64Array(half);
  if (s.type === "linear") {
    for (let i = 0; i < half; i++) out[i] = base[i]! / s.factor;
    return { invFreq: out, attentionFactor: 1 };
  }
  if (s.type === "llama3") {
    const lowWave = s.originalMaxPositions / s.lowFreqFactor,
      highWave = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const f = base[i]!,
        wave = (2 * Math.PI) / f;
      if (wave < highWave) out[i] = f;
      else if (wave > lowWave) out[i] = f / s.factor;
      else {
        const smooth = (s.originalMaxPositions / wave - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        out[i] = (1 - smooth) * (f / s.factor) + smooth * f;
      }
    }
    return { invFreq: out, attentionFactor: 1 };
  }
  // yarn: dimension index where a frequency makes `rotations` turns over the original context.
  const corr = (rotations: number) => (rot * Math.log(s.originalMaxPositions / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = corr(s.betaFast),
    high = corr(s.betaSlow);
  if (s.truncate) (low = Math.floor(low)), (high = Math.ceil(high));
  low = Math.max(low, 0);
  high = Math.min(high, rot - 1);
  if (low === high) high += 0.001;
  for (let i = 0; i < half; i++) {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const keep = 1 - ramp; // share of the original (extrapolated) frequency
    out[i] = (base[i]! / s.factor) * (1 - keep) + base[i]! * keep;
  }
  return { invFreq: out, attentionFactor: s.attentionFactor };
}

/** The rope table of a model: plain (the native table builder) or scaled (cos, sin × the attention factor). */
export function scaledRopeTable(maxPositions: number, rot: number, theta: number, s: RopeScaling | undefined): RopeTable {
  if (!s) return ropeTable(maxPositions, rot, theta);
  const { invFreq, attentionFactor } = scaledInverseFrequencies(rot, theta, s);
  const t = ropeTableFromFrequencies(maxPositions, invFreq);
  if (attentionFactor !== 1) {
    for (let i = 0; i < t.cos.length; i++) {
      t.cos[i] = t.cos[i]! * attentionFactor;
      t.sin[i] = t.sin[i]! * attentionFactor;
    }
  }
  return t;
}

/**
 * llama.cpp's rope_freqs.weight for a llama3 scaling: per frequency, the divisor of the
 * base frequency (1 for short wavelengths, `factor` for long ones, a blend between).
 */
export function llama3FreqFactors(rot: number, theta: number, s: Extract<RopeScaling, { type: "llama3" }>): Float32Array {
  const base = ropeInverseFrequencies(rot, theta);
  const scaled = scaledInverseFrequencies(rot, theta, s).invFreq;
  return Float32Array.from(base, (f, i) => f / scaled[i]!);
}

/**
 * The llama3 parameters that reproduce llama.cpp's per-frequency factors, when a setting with
 * an original context of 2^4..2^17 and (low, high) of (1, 4), (1, 2), (1, 8) or (2, 4) does
 * (Llama 3.1 / 3.2: 8192, 1, 4); else undefined.
 */
export function llama3FromFreqFactors(rot: number, theta: number, factors: Float32Array): Extract<RopeScaling, { type: "llama3" }> | undefined {
  let factor = 1;
  for (const f of factors) factor = Math.max(factor, f);
  // Scaling original context, low and high factors together leaves the factors unchanged, so a
  // match is the same function; the published setting (8192, 1, 4) is tried first.
  const contexts = [8192, ...Array.from({ length: 14 }, (_, i) => 2 ** (i + 4)).filter((x) => x !== 8192)];
  for (const originalMaxPositions of contexts) {
    for (const [lowFreqFactor, highFreqFactor] of [
      [1, 4],
      [1, 2],
      [1, 8],
      [2, 4],
    ] as const) {
      const s = { type: "llama3" as const, factor, lowFreqFactor, highFreqFactor, originalMaxPositions };
      const want = llama3FreqFactors(rot, theta, s);
      if (want.every((w, i) => Math.abs(w - factors[i]!) <= 1e-4 * Math.max(1, w))) return s;
    }
  }
  return undefined;
}
