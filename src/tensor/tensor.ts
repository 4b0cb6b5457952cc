// Tensor and Parameter: a contiguous row-major Float32Array with a shape, and
// (when it takes part in training) a gradient buffer of the same size.
// Deliberately no strides, no broadcasting, no dtype zoo: every op reads a
// tensor as rows × last dimension, and the one strided view the kernels
// support (columns of a fused projection, for attention) is ColumnView.
// One exception to "no dtype zoo": a frozen 2-D Parameter may hold its values
// in a quantized storage type instead (setQuantized: a GGUF file's Q4_0 rows,
// say), which linear() and embedding() read with the quantized kernels; its
// float32 data is then an untouched zero buffer, costing no memory.
// Knows nothing about the tape or the kernels.
import { ShapeError } from "../errors.ts";
import type { QWeight } from "../native/ops/qgemm.ts";

/** Number of elements of a shape (1 for a scalar, shape []). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throws ShapeError unless every dimension is a non-negative integer. */
export function checkShape(shape: readonly number[], what = "shape"): void {
  if (!Array.isArray(shape)) throw new ShapeError(`${what}: expected an array of dimensions, got ${typeof shape}`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${what}: dimensions must be non-negative integers, got [${shape.join(", ")}]`);
  }
}

export function shapeStr(shape: readonly number[]): string {
  return `(${shape.join(",")})`;
}

export class Tensor {
  /** The values, contiguous and row-major; length === size. */
  data: Float32Array;
  readonly shape: readonly number[];
  /**
   * dLoss/dthis, same layout as data, or null while nothing has flowed into it.
   * Activations get theirs from the tape's arena during backward; Parameters own theirs.
   */
  grad: Float32Array | null;
  private rg = false;
  /**
   * Name of the op that produced it on a recording tape, or null for a leaf (a Parameter, an
   * input). A leaf that requires grad keeps its own grad buffer; a produced tensor's comes
   * from the arena and dies with the step.
   */
  op: string | null = null;

  constructor(data: Float32Array, shape: readonly number[], requiresGrad = false) {
    checkShape(shape);
    if (!(data instanceof Float32Array)) throw new ShapeError(`Tensor: data must be a Float32Array, got ${Object.prototype.toString.call(data)}`);
    const n = sizeOf(shape);
    if (data.length !== n) throw new ShapeError(`Tensor: shape ${shapeStr(shape)} needs ${n} values, data has ${data.length}`);
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.grad = null;
    this.requiresGrad = requiresGrad;
  }

  static zeros(shape: readonly number[], requiresGrad = false): Tensor {
    checkShape(shape);
    return new Tensor(new Float32Array(sizeOf(shape)), shape, requiresGrad);
  }

  /** Copies `values` (any numeric array) into a new tensor of `shape` (default: 1-D). */
  static fromArray(values: ArrayLike<number>, shape: readonly number[] = [values.length], requiresGrad = false): Tensor {
    checkShape(shape);
    const n = sizeOf(shape);
    if (values.length !== n) throw new ShapeError(`Tensor.fromArray: shape ${shapeStr(shape)} needs ${n} values, got ${values.length}`);
    return new Tensor(Float32Array.from(values), shape, requiresGrad);
  }

  /** Whether backward computes a gradient for this tensor (and for what it was computed from). */
  get requiresGrad(): boolean {
    return this.rg;
  }
  set requiresGrad(on: boolean) {
    this.rg = on;
  }

  get size(): number {
    return this.data.length;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** The last dimension (1 for a scalar): ops read a tensor as rows × cols. */
  get cols(): number {
    return this.shape.length === 0 ? 1 : this.shape[this.shape.length - 1]!;
  }

  /** All leading dimensions flattened: size / cols (0 when empty). */
  get rows(): number {
    const c = this.cols;
    return c === 0 ? 0 : this.data.length / c;
  }

  /** The single value of a one-element tensor (a loss). */
  item(): number {
    if (this.data.length !== 1) throw new ShapeError(`Tensor.item: tensor ${shapeStr(this.shape)} has ${this.data.length} values, expected 1`);
    return this.data[0]!;
  }

  toString(): string {
    return `Tensor${shapeStr(this.shape)}`;
  }
}

export interface ParameterOptions {
  /**
   * Whether AdamW applies weight decay to it. Default: true for matrices (ndim >= 2),
   * false for vectors (norm weights, biases). Layers override it: Embedding passes false.
   */
  decay?: boolean;
  /** false freezes it: backward does not accumulate into its grad, the optimizer skips it. */
  requiresGrad?: boolean;
}

const NO_GRAD = new Float32Array(0);

/**
 * A trainable tensor. Its grad buffer exists while it requires grad: allocated when it is
 * made trainable (at construction by default) and released (an empty array) when it is
 * frozen, so a frozen model costs no gradient memory. Freezing discards the gradient.
 * Backward ADDS into it (so micro-batches accumulate) and the optimizer's zeroGrad() clears it.
 */
export class Parameter extends Tensor {
  declare grad: Float32Array;
  decay: boolean;

  constructor(data: Float32Array, shape: readonly number[], opts: ParameterOptions = {}) {
    super(data, shape, opts.requiresGrad ?? true);
    this.decay = opts.decay ?? shape.length >= 2;
  }

  override get requiresGrad(): boolean {
    return super.requiresGrad;
  }
  override set requiresGrad(on: boolean) {
    super.requiresGrad = on;
    if (!on) this.grad = NO_GRAD;
    else if (!this.grad || this.grad.length !== this.data.length) this.grad = new Float32Array(this.data.length);
  }

  /** An all-zero parameter; `opts` may be a bare boolean (requiresGrad) as for Tensor.zeros. */
  static override zeros(shape: readonly number[], opts: ParameterOptions | boolean = {}): Parameter {
    checkShape(shape);
    return new Parameter(new Float32Array(sizeOf(shape)), shape, typeof opts === "boolean" ? { requiresGrad: opts } : opts);
  }

  /** Overwrites the values in place (shape must match), e.g. when loading weights. */
  set(values: ArrayLike<number>): void {
    if (values.length !== this.data.length)
      throw new ShapeError(`Parameter.set: ${shapeStr(this.shape)} needs ${this.data.length} values, got ${values.length}`);
    if (this.quant !== null) throw new ShapeError(`Parameter.set: ${this} holds quantized ${this.quant.type} values; it cannot be overwritten with float32`);
    this.data.set(values);
  }

  /**
   * The quantized storage of this weight (rows = shape[0], cols = shape[1]), or null when its
   * float32 data is the value. While set, `data` is a zero buffer that is never written (the
   * operating system maps its pages only when touched, so it costs address space, not memory),
   * the parameter is frozen, and linear() / embedding() run the quantized kernels.
   */
  quant: QWeight | null = null;

  /**
   * Keeps the values as `q` from now on and releases the float32 ones (see `quant`).
   * `untouched`: the caller knows `data` was never written (a loader's fresh zero
   * parameter), so it is kept as the zero buffer instead of allocating another: once
   * the allocator recycles memory, a new zeroed buffer is written page by page
   * (measured: ~60 MB of RSS loading a Qwen2.5-0.5B-shaped q4_0 GGUF).
   */
  setQuantized(q: QWeight, untouched = false): void {
    if (this.ndim !== 2 || q.rows !== this.shape[0] || q.cols !== this.shape[1]) {
      throw new ShapeError(`Parameter.setQuantized: ${this} cannot hold a ${q.type} matrix of ${q.rows}x${q.cols}`);
    }
    this.requiresGrad = false;
    this.quant = q;
    if (!untouched) this.data = new Float32Array(this.size);
  }

  override toString(): string {
    return `Parameter${shapeStr(this.shape)}`;
  }
}

/**
 * Columns [start, start + width) of every row of a 2-D (rows, cols) tensor, without a copy:
 * how q, k and v are read out of a fused qkv projection. Only attention accepts it, because
 * only the attention kernels take a row stride.
 */
export class ColumnView {
  readonly base: Tensor;
  readonly start: number;
  readonly width: number;

  constructor(base: Tensor, start: number, width: number) {
    if (!Number.isInteger(start) || !Number.isInteger(width) || start < 0 || width < 1 || start + width > base.cols) {
      throw new ShapeError(`ColumnView: columns [${start}, ${start + width}) do not fit in ${base} with ${base.cols} columns`);
    }
    this.base = base;
    this.start = start;
    this.width = width;
  }

  get rows(): number {
    return this.base.rows;
  }

  /** Elements between consecutive rows. */
  get stride(): number {
    return this.base.cols;
  }

  /** The data from the view's first element on, for kernels taking (pointer, stride). */
  get data(): Float32Array {
    return this.start === 0 ? this.base.data : this.base.data.subarray(this.start);
  }

  get requiresGrad(): boolean {
    return this.base.requiresGrad;
  }
}

/** Columns [start, start + width) of a 2-D tensor (see ColumnView). */
export function columns(base: Tensor, start: number, width: number): ColumnView {
  return new ColumnView(base, start, width);
}
