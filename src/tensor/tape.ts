// The autograd tape: ops (ops.ts) allocate their outputs and saved values from
// the tape's arena, and, when recording, push one backward closure per op.
// backward(loss) seeds dLoss = 1 and runs the closures in reverse. Gradients of
// activations come from the arena, zeroed lazily the first time something
// flows into them; Parameters own their grad buffers. Every gradient write
// ADDS, so a tensor used twice (a residual stream) sums its contributions and
// parameter grads accumulate across micro-batches until zeroGrad().
// Knows nothing about which ops exist: those live in ops.ts.
import { ShapeError, UsageError } from "../errors.ts";
import { Arena } from "./arena.ts";
import { Tensor, checkShape, shapeStr, sizeOf } from "./tensor.ts";

interface Entry {
  /** The op's output; its backward runs only if a gradient reached it. */
  out: Tensor;
  /** Op name, for error messages. */
  op: string;
  backward: (dout: Float32Array) => void;
}

export interface TapeOptions {
  /** false: an inference tape, records nothing and never computes gradients (default true). */
  grad?: boolean;
  /** Arena to allocate from (default: a new one owned by this tape). */
  arena?: Arena;
  /**
   * Activation checkpointing: models run each block through runLayers (src/models/layer-scope.ts),
   * which on such a tape keeps only the block's input and output and recomputes the block in
   * backward. Default false.
   */
  checkpoint?: boolean;
}

export class Tape {
  readonly arena: Arena;
  /** Whether ops record backward closures. */
  readonly gradEnabled: boolean;
  /** Whether layer stacks recompute their blocks in backward (TapeOptions.checkpoint). */
  readonly checkpoint: boolean;
  private entries: Entry[] = [];
  private backwardDone = false;
  private ones: Float32Array = new Float32Array(0);
  private work: Arena | null = null;

  constructor(opts: TapeOptions = {}) {
    this.arena = opts.arena ?? new Arena();
    this.gradEnabled = opts.grad ?? true;
    this.checkpoint = this.gradEnabled && (opts.checkpoint ?? false);
  }

  /** Starts a new step: forgets recorded ops and recycles the arena (see Arena.reset). */
  reset(): void {
    this.entries.length = 0;
    this.backwardDone = false;
    this.arena.reset();
    this.work?.reset();
  }

  /**
   * A second arena, for work that is discarded as a whole and never referred to from the main
   * one: a checkpointed block's forward pass and its recomputation in backward both run here
   * from the same mark (src/models/layer-scope.ts), so the recomputation reuses the forward's
   * slots instead of taking new ones after everything the step allocated. Reset with the tape.
   */
  get workArena(): Arena {
    this.work ??= new Arena();
    return this.work;
  }

  /** Number of ops recorded since the last reset. */
  get length(): number {
    return this.entries.length;
  }

  /** A new activation tensor whose data comes from the arena (contents unspecified). */
  empty(shape: readonly number[]): Tensor {
    checkShape(shape);
    return new Tensor(this.arena.alloc(sizeOf(shape)), shape);
  }

  /** A new all-zero activation tensor from the arena. */
  zeros(shape: readonly number[]): Tensor {
    checkShape(shape);
    return new Tensor(this.arena.zeros(sizeOf(shape)), shape);
  }

  /** A tensor from the arena holding a copy of `values` (inputs built per step). */
  input(values: ArrayLike<number>, shape: readonly number[] = [values.length]): Tensor {
    const t = this.empty(shape);
    if (values.length !== t.size) throw new ShapeError(`Tape.input: shape ${shapeStr(shape)} needs ${t.size} values, got ${values.length}`);
    t.data.set(values);
    return t;
  }

  /** Scratch floats from the arena (saved statistics such as rstd, lse). */
  scratch(n: number): Float32Array {
    return this.arena.alloc(n);
  }

  /** A read-only vector of n ones (for bias sums by matmul); kept across steps. */
  onesOf(n: number): Float32Array {
    if (this.ones.length < n) this.ones = new Float32Array(Math.max(n, 2 * this.ones.length)).fill(1);
    return this.ones.length === n ? this.ones : this.ones.subarray(0, n);
  }

  /** True when an op with these inputs should record a backward closure. */
  needsGrad(...inputs: ReadonlyArray<{ requiresGrad: boolean } | null | undefined>): boolean {
    if (!this.gradEnabled) return false;
    for (const t of inputs) if (t?.requiresGrad) return true;
    return false;
  }

  /**
   * Records `backward` for `out` (which then requires grad). backward receives dLoss/dout and
   * must ADD into the gradients of the inputs it was given, through tape.grad(input).
   */
  record(op: string, out: Tensor, backward: (dout: Float32Array) => void): void {
    if (!this.gradEnabled) throw new UsageError(`${op}: cannot record on a tape made with {grad: false}`);
    if (this.backwardDone) throw new UsageError(`${op}: this tape already ran backward; call tape.reset() before the next forward`);
    out.requiresGrad = true;
    out.op = op;
    this.entries.push({ out, op, backward });
  }

  /**
   * The gradient buffer of t, to add into. A Parameter's is its own; an activation's comes
   * from the arena, zeroed on first use; any other leaf gets its own buffer once (it then
   * accumulates across steps, like a Parameter's, until its owner clears it).
   */
  grad(t: Tensor): Float32Array {
    if (t.grad === null) t.grad = t.op === null ? new Float32Array(t.size) : this.arena.zeros(t.size);
    return t.grad;
  }

  /**
   * A buffer to WRITE t's gradient into (for kernels that overwrite, like cross-entropy
   * backward), when nothing has flowed into t yet. Returns null if t already has a gradient:
   * the caller must then compute into scratch and add.
   */
  gradForWrite(t: Tensor): Float32Array | null {
    if (t.grad !== null) return null;
    t.grad = t.op === null ? new Float32Array(t.size) : this.arena.alloc(t.size);
    return t.grad;
  }

  /**
   * Backpropagates from `out`: seeds dLoss/dout (default 1 for a one-element loss; any other
   * output needs a Float32Array of its size, e.g. a gradient computed elsewhere), then runs
   * the recorded closures newest first. A tape runs backward once per reset().
   */
  backward(out: Tensor, seed: number | Float32Array = 1): void {
    if (!this.gradEnabled) throw new UsageError("backward: this tape was made with {grad: false} and recorded nothing");
    if (this.backwardDone) throw new UsageError("backward: already ran on this tape; call tape.reset() and run the forward again");
    if (!out.requiresGrad) throw new UsageError(`backward: ${out} does not depend on anything that requires grad`);
    if (typeof seed === "number") {
      if (out.size !== 1)
        throw new ShapeError(`backward: a number seeds a one-value loss, ${out} has ${out.size} values`, {
          hint: "reduce it first (crossEntropy returns a scalar) or pass a seed gradient array",
        });
    } else if (!(seed instanceof Float32Array) || seed.length !== out.size) {
      throw new ShapeError(`backward: the seed gradient must be a Float32Array of ${out.size} values for ${out}`);
    }
    this.backwardDone = true;
    const d = this.grad(out);
    if (typeof seed === "number") d[0]! += seed;
    else for (let i = 0; i < d.length; i++) d[i]! += seed[i]!;
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      if (e.out.grad === null) continue; // nothing downstream used it
      e.backward(e.out.grad);
    }
  }
}
