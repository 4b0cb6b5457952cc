// Rotary-embedding tables: cos and sin of position × inverse frequency, the
// (P, rot/2) tables the rope kernels read. Built once per model, in float64
// then rounded to float32. Knows nothing about scaling schemes beyond taking
// the inverse frequencies from the caller (models own Llama-3 / YaRN rules).
import { ConfigError } from "../errors.ts";
import { ropeTables } from "../native/ops/rope.ts";

export interface RopeTable {
  /** cos (P, rot/2), sin (P, rot/2). */
  cos: Float32Array;
  sin: Float32Array;
  /** Rotated dimensions per head (even, <= head dim). */
  rot: number;
  /** Positions covered: every position used must be < maxPositions. */
  maxPositions: number;
}

/** The standard inverse frequencies: invFreq[i] = theta^(-2i/rot), i < rot/2. */
export function ropeInverseFrequencies(rot: number, theta = 10000): Float64Array {
  if (!Number.isInteger(rot) || rot < 2 || rot % 2 !== 0) throw new ConfigError(`rope: rotated dims must be an even integer >= 2, got ${rot}`);
  if (!(theta > 1) || !Number.isFinite(theta)) throw new ConfigError(`rope: theta must be a finite number > 1, got ${theta}`);
  const half = rot / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = theta ** ((-2 * i) / rot);
  return inv;
}

/** Tables for positions [0, maxPositions) from inverse frequencies (length rot/2). */
export function ropeTableFromFrequencies(maxPositions: number, invFreq: ArrayLike<number>): RopeTable {
  if (!Number.isInteger(maxPositions) || maxPositions < 1) throw new ConfigError(`rope: maxPositions must be a positive integer, got ${maxPositions}`);
  const half = invFreq.length;
  if (half < 1) throw new ConfigError("rope: need at least one frequency");
  const cos = new Float32Array(maxPositions * half);
  const sin = new Float32Array(maxPositions * half);
  for (let p = 0; p < maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const a = p * invFreq[i]!;
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return { cos, sin, rot: 2 * half, maxPositions };
}

/** Tables for `rot` rotated dims with base `theta` (10000 for Llama 2, 500000 for Llama 3). */
export function ropeTable(maxPositions: number, rot: number, theta = 10000): RopeTable {
  ropeInverseFrequencies(rot, theta); // validates, with ConfigError
  if (!Number.isInteger(maxPositions) || maxPositions < 1) throw new ConfigError(`rope: maxPositions must be a positive integer, got ${maxPositions}`);
  return { ...ropeTables(maxPositions, rot, theta), rot, maxPositions };
}
