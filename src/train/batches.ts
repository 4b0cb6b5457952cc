// Training batches from token shards: random windows of T+1 tokens drawn
// with a seeded Rng (inputs are the first T, targets the last T), and a fixed,
// deterministic set of validation windows. The sampler's whole state is its
// Rng state plus a counter, so a checkpoint can resume the exact data order.
// Buffers are allocated once and refilled every step.
// Knows nothing about models: token ids in, Int32Arrays out.
import { UsageError } from "../errors.ts";
import type { ShardSet } from "../data/shards.ts";
import { Rng, type RngState } from "../util/rng.ts";

export interface Batch {
  /** inputs (B·T) and targets (B·T), row-major (B,T). */
  inputs: Int32Array;
  targets: Int32Array;
  batch: number;
  seqLen: number;
  /**
   * Packed examples: lengths of consecutive runs of rows (summing to B·T, none crossing a row),
   * each its own sequence: positions restart, attention stays inside. Absent: each row is one.
   */
  segments?: Int32Array;
  /** Tokens that are content, not padding (what throughput counts); default B·T. */
  tokens?: number;
}

export interface SamplerState {
  rng: RngState;
  /** Batches drawn so far. */
  drawn: number;
}

/**
 * Anything the trainer can draw training batches from: random windows of token shards
 * (WindowSampler) or SFT examples (src/train/sft.ts). Batches may vary in seqLen (up to the
 * run's); targets may hold the ignore index -100. state()/restore() give exact resume.
 */
export interface BatchSource {
  next(): Batch;
  readonly batchesDrawn: number;
  state(): SamplerState;
  restore(s: SamplerState): void;
}

/** Random windows over a token stream (training). */
export class WindowSampler implements BatchSource {
  private readonly rng: Rng;
  private drawn = 0;
  private readonly window: Uint32Array; // (T+1)
  readonly current: Batch;

  constructor(
    private readonly data: ShardSet,
    readonly batch: number,
    readonly seqLen: number,
    seed: number,
  ) {
    if (data.count < seqLen + 1) {
      throw new UsageError(`the ${data.split} split has ${data.count} tokens, fewer than one window of ${seqLen + 1}`, {
        hint: "use a shorter --context or more data",
      });
    }
    this.rng = new Rng(seed);
    this.window = new Uint32Array(seqLen + 1);
    this.current = { inputs: new Int32Array(batch * seqLen), targets: new Int32Array(batch * seqLen), batch, seqLen };
  }

  /** Fills and returns the next batch (the same object every call). */
  next(): Batch {
    const { batch: B, seqLen: T } = this;
    const span = this.data.count - T; // start in [0, count - T - 1]
    for (let b = 0; b < B; b++) {
      const start = this.rng.int(span);
      this.data.read(start, T + 1, this.window);
      const inp = this.current.inputs,
        tgt = this.current.targets;
      for (let t = 0; t < T; t++) {
        inp[b * T + t] = this.window[t]!;
        tgt[b * T + t] = this.window[t + 1]!;
      }
    }
    this.drawn++;
    return this.current;
  }

  /** Batches handed out so far (restored on resume). */
  get batchesDrawn(): number {
    return this.drawn;
  }

  /** Tokens the sampler has handed out (batch · seqLen per batch). */
  get tokensDrawn(): number {
    return this.drawn * this.batch * this.seqLen;
  }

  state(): SamplerState {
    return { rng: this.rng.getState(), drawn: this.drawn };
  }

  restore(s: SamplerState): void {
    this.rng.setState(s.rng);
    this.drawn = s.drawn;
  }
}

/**
 * Consecutive, non-overlapping windows over the validation stream: the same
 * windows every evaluation, at most `maxBatches` batches of B windows.
 */
export function* validationBatches(data: ShardSet, batch: number, seqLen: number, maxBatches: number): Generator<Batch> {
  const windows = Math.floor((data.count - 1) / seqLen);
  if (windows < 1) return;
  const out: Batch = { inputs: new Int32Array(batch * seqLen), targets: new Int32Array(batch * seqLen), batch, seqLen };
  const win = new Uint32Array(seqLen + 1);
  let w = 0;
  for (let nb = 0; nb < maxBatches && w < windows; nb++) {
    const rows = Math.min(batch, windows - w);
    for (let b = 0; b < rows; b++, w++) {
      data.read(w * seqLen, seqLen + 1, win);
      for (let t = 0; t < seqLen; t++) {
        out.inputs[b * seqLen + t] = win[t]!;
        out.targets[b * seqLen + t] = win[t + 1]!;
      }
    }
    if (rows < batch) {
      yield { inputs: out.inputs.subarray(0, rows * seqLen), targets: out.targets.subarray(0, rows * seqLen), batch: rows, seqLen };
      return;
    }
    yield out;
  }
}
