// Modules: a tree of named parameters and child modules, and the basic layers
// (Linear, Embedding, RMSNorm, LayerNorm) with seeded initialisation. Names
// are registered explicitly, so a model can use Hugging Face names
// ("model.layers.0.self_attn.q_proj.weight") while its TypeScript fields keep
// camelCase. Knows nothing about any model architecture or file format.
import { ConfigError, UsageError } from "../errors.ts";
import type { Rng } from "../util/rng.ts";
import { embedding, layernorm, linear, linears, rmsnorm } from "./ops.ts";
import type { Tape } from "./tape.ts";
import { Parameter, type Tensor } from "./tensor.ts";

export class Module {
  /** Training or evaluation mode (layers with dropout-like behaviour read it; none do yet). */
  training = true;
  private readonly ownParams = new Map<string, Parameter>();
  private readonly children = new Map<string, Module>();

  /** Registers p under `name` (no dots: nest with child modules) and returns it. */
  protected addParameter(name: string, p: Parameter): Parameter {
    this.checkName(name);
    this.ownParams.set(name, p);
    return p;
  }

  /** Registers a child module under `name` and returns it. */
  protected addModule<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    if (!(m instanceof Module)) throw new UsageError(`addModule(${name}): expected a Module`);
    this.children.set(name, m);
    return m;
  }

  private checkName(name: string): void {
    if (typeof name !== "string" || name === "" || name.includes(".")) throw new UsageError(`module member name must be non-empty without dots, got "${name}"`);
    if (this.ownParams.has(name) || this.children.has(name)) throw new UsageError(`module member "${name}" is registered twice`);
  }

  /** Every parameter with its dotted name, depth first in registration order; shared ones once. */
  namedParameters(prefix = ""): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const seen = new Set<Parameter>();
    this.collect(prefix, out, seen);
    return out;
  }

  private collect(prefix: string, out: [string, Parameter][], seen: Set<Parameter>): void {
    for (const [n, p] of this.ownParams) {
      if (seen.has(p)) continue;
      seen.add(p);
      out.push([prefix + n, p]);
    }
    for (const [n, m] of this.children) m.collect(`${prefix}${n}.`, out, seen);
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Child modules with dotted names (not including this one). */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [n, m] of this.children) {
      out.push([prefix + n, m]);
      out.push(...m.namedModules(`${prefix}${n}.`));
    }
    return out;
  }

  /** The parameter with this dotted name, or undefined. */
  getParameter(name: string): Parameter | undefined {
    for (const [n, p] of this.namedParameters()) if (n === name) return p;
    return undefined;
  }

  /** Total number of parameter values. */
  numParameters(): number {
    let n = 0;
    for (const p of this.parameters()) n += p.size;
    return n;
  }

  /** Sets training mode on this module and every descendant. */
  train(on = true): this {
    this.training = on;
    for (const m of this.children.values()) m.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Zeroes every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad.fill(0);
  }

  /** Freezes (false) or unfreezes every parameter. */
  requiresGrad(on: boolean): this {
    for (const p of this.parameters()) p.requiresGrad = on;
    return this;
  }
}

/** A list of modules named "0", "1", … (transformer blocks). */
export class ModuleList<M extends Module> extends Module {
  readonly items: readonly M[];
  constructor(items: M[]) {
    super();
    items.forEach((m, i) => this.addModule(String(i), m));
    this.items = Object.freeze([...items]);
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items[i];
    if (m === undefined) throw new UsageError(`ModuleList: index ${i} outside [0, ${this.items.length})`);
    return m;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}

function positiveInt(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new ConfigError(`${what} must be a positive integer, got ${v}`);
}

function checkStd(what: string, std: number): void {
  if (!Number.isFinite(std) || std < 0) throw new ConfigError(`${what}: init std must be a finite number >= 0, got ${std}`);
}

/** A (rows, cols) parameter drawn from normal(0, std) (zeros when std is 0). */
export function normalParameter(rng: Rng, shape: readonly number[], std: number, decay?: boolean): Parameter {
  const p = Parameter.zeros(shape, decay === undefined ? {} : { decay });
  if (std > 0) rng.fillNormal(p.data, 0, std);
  return p;
}

export interface LinearOptions {
  /** Whether there is a bias (zeros at init, no weight decay). Default false (Llama style). */
  bias?: boolean;
  /** Weight init: normal(0, std). Default 0.02 (GPT-2 / HF initializer_range). 0 gives zeros. */
  std?: number;
}

/**
 * Something added to a Linear's output (a LoRA adapter): given the layer's input x (…,IN)
 * and its output y (…,OUT), returns the adapted output. Its parameters are its own, not the
 * Linear's: they do not appear in the model's namedParameters().
 */
export interface LinearAdapter {
  apply(g: Tape, x: Tensor, y: Tensor): Tensor;
}

/** y = x·Wᵀ + b with weight (out, in) and bias (out): PyTorch's layout. Weight decays. */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Applied after the layer when set (see LinearAdapter); null for a plain layer. */
  adapter: LinearAdapter | null = null;

  constructor(inFeatures: number, outFeatures: number, rng: Rng, opts: LinearOptions = {}) {
    super();
    positiveInt("Linear in features", inFeatures);
    positiveInt("Linear out features", outFeatures);
    const std = opts.std ?? 0.02;
    checkStd("Linear", std);
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.weight = this.addParameter("weight", normalParameter(rng, [outFeatures, inFeatures], std, true));
    this.bias = opts.bias ? this.addParameter("bias", Parameter.zeros([outFeatures], { decay: false })) : null;
  }

  forward(g: Tape, x: Tensor): Tensor {
    const y = linear(g, x, this.weight, this.bias);
    return this.adapter === null ? y : this.adapter.apply(g, x, y);
  }
}

/**
 * Linear.forward of several layers over one input (a layer's q/k/v, its gate/up): the products
 * in one call where linears() can fuse them, then each layer's adapter. Outputs as each
 * layer's forward gives them.
 */
export function forwardLinears(g: Tape, x: Tensor, layers: readonly Linear[]): Tensor[] {
  const ys = linears(
    g,
    x,
    layers.map((l) => l.weight),
    layers.map((l) => l.bias),
  );
  return ys.map((y, k) => {
    const a = layers[k]!.adapter;
    return a === null ? y : a.apply(g, x, y);
  });
}

export interface EmbeddingOptions {
  /** Init: normal(0, std). Default 0.02. */
  std?: number;
}

/** Token → vector lookup, weight (num, dim). No weight decay (see docs/tensor.md). */
export class Embedding extends Module {
  readonly weight: Parameter;
  readonly num: number;
  readonly dim: number;

  constructor(num: number, dim: number, rng: Rng, opts: EmbeddingOptions = {}) {
    super();
    positiveInt("Embedding count", num);
    positiveInt("Embedding dim", dim);
    const std = opts.std ?? 0.02;
    checkStd("Embedding", std);
    this.num = num;
    this.dim = dim;
    this.weight = this.addParameter("weight", normalParameter(rng, [num, dim], std, false));
  }

  /** out (…, dim) for ids with leading shape `shape` (default [ids.length]). */
  forward(g: Tape, ids: Int32Array, shape?: readonly number[]): Tensor {
    return embedding(g, this.weight, ids, shape);
  }
}

export interface NormOptions {
  /** Added to the variance (mean square for RMSNorm). Default 1e-5. */
  eps?: number;
}

function checkEps(what: string, eps: number): void {
  if (!Number.isFinite(eps) || eps <= 0) throw new ConfigError(`${what}: eps must be a finite number > 0, got ${eps}`);
}

export interface RMSNormOptions extends NormOptions {
  /** The scale is weight + offset: 1 for Gemma's (1 + w), whose weight starts at 0. Default 0. */
  offset?: number;
}

/** RMSNorm with a learned scale, weight (dim), scale 1 at init (ones, or zeros with offset 1), no weight decay. */
export class RMSNorm extends Module {
  readonly weight: Parameter;
  readonly eps: number;
  readonly offset: number;

  constructor(dim: number, opts: RMSNormOptions = {}) {
    super();
    positiveInt("RMSNorm dim", dim);
    this.eps = opts.eps ?? 1e-5;
    checkEps("RMSNorm", this.eps);
    this.offset = opts.offset ?? 0;
    this.weight = this.addParameter("weight", new Parameter(new Float32Array(dim).fill(1 - this.offset), [dim], { decay: false }));
  }

  forward(g: Tape, x: Tensor): Tensor {
    return this.offset === 0 ? rmsnorm(g, x, this.weight, this.eps) : rmsnorm(g, x, this.weight, this.eps, { offset: this.offset });
  }

  /** Normalises each of `heads` head slices of x (N, heads·dim) on its own (q_norm / k_norm). */
  forwardHeads(g: Tape, x: Tensor, heads: number): Tensor {
    return rmsnorm(g, x, this.weight, this.eps, { heads, offset: this.offset });
  }
}

export interface LayerNormOptions extends NormOptions {
  /** Whether there is a bias (default true, as GPT-2). */
  bias?: boolean;
}

/** LayerNorm, weight (dim) ones and bias (dim) zeros at init, no weight decay. */
export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly eps: number;

  constructor(dim: number, opts: LayerNormOptions = {}) {
    super();
    positiveInt("LayerNorm dim", dim);
    this.eps = opts.eps ?? 1e-5;
    checkEps("LayerNorm", this.eps);
    this.weight = this.addParameter("weight", new Parameter(new Float32Array(dim).fill(1), [dim], { decay: false }));
    this.bias = (opts.bias ?? true) ? this.addParameter("bias", Parameter.zeros([dim], { decay: false })) : null;
  }

  forward(g: Tape, x: Tensor): Tensor {
    return layernorm(g, x, this.weight, this.bias, this.eps);
  }
}
