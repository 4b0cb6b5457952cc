// LoRA (low-rank adaptation): y = W·x + b + scale · B·(A·dropout(x)) on chosen
// Linear layers, with A (r, in) and B (out, r) the only trainable tensors and
// scale = alpha / r (alpha / √r with rsLoRA). A starts uniform(±1/√in) (the
// bound PyTorch's kaiming_uniform with a = √5 gives, as PEFT uses), B starts
// at zero, so an attached adapter leaves the model's output unchanged until it
// trains. Adapters hang off Linear.adapter (src/tensor/module.ts), so both
// model families and their KV-cache paths use them without knowing they exist;
// attach / detach / merge (fold into W) / unmerge work on a live model.
// Parameter names are PEFT's (base_model.model.<module>.lora_A.weight), so a
// saved adapter is a PEFT adapter (src/formats/peft.ts writes the files).
// Knows nothing about files, training loops or text.
import { ConfigError, UsageError } from "../errors.ts";
import { axpy } from "../native/ops/activation.ts";
import { matmul as gemm } from "../native/ops/gemm.ts";
import { Linear, Parameter, Tensor, dropout, linear, type LinearAdapter, type Tape } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import type { CausalLM } from "./index.ts";

/** Our short names for the projections LoRA can target. */
export const LORA_TARGETS = ["q", "k", "v", "o", "gate", "up", "down"] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export interface LoraOptions {
  /** Rank r of A (r, in) and B (out, r). Default 8. */
  r?: number;
  /** scale = alpha / r. Default 16 (2·r at the default rank). */
  alpha?: number;
  /** Dropout on the adapter's input while training. Default 0 (PEFT's default). */
  dropout?: number;
  /**
   * What to adapt: our short names (q k v o gate up down), or Hugging Face module names /
   * dotted suffixes as PEFT's target_modules ("q_proj", "attn.c_proj"), or one string
   * taken as a regular expression over the full module name (PEFT's string form).
   * Default: all seven short names.
   */
  targets?: readonly string[] | string;
  /** rsLoRA: scale = alpha / √r. Default false. */
  useRslora?: boolean;
}

export interface ResolvedLora {
  r: number;
  alpha: number;
  dropout: number;
  useRslora: boolean;
  /** PEFT target_modules as resolved for this model family (module names / suffixes, or a regex string). */
  targetModules: string[] | string;
  scale: number;
}

/**
 * Short names → module-name suffixes per family. GPT-2 fuses q|k|v into one c_attn
 * projection, so any of q, k, v adapts all of c_attn; o is attn.c_proj, up is mlp.c_fc,
 * down is mlp.c_proj; GPT-2 has no gate (asking for gate alone is an error).
 */
const SUFFIXES: Record<"llama" | "gpt2", Record<LoraTarget, string | null>> = {
  llama: { q: "q_proj", k: "k_proj", v: "v_proj", o: "o_proj", gate: "gate_proj", up: "up_proj", down: "down_proj" },
  gpt2: { q: "c_attn", k: "c_attn", v: "c_attn", o: "attn.c_proj", gate: null, up: "mlp.c_fc", down: "mlp.c_proj" },
};

function family(model: CausalLM): "llama" | "gpt2" {
  return model.config.modelType === "gpt2" ? "gpt2" : "llama";
}

/** Resolves and checks LoRA options for `model` (targets become PEFT target_modules). */
export function resolveLora(model: CausalLM, o: LoraOptions = {}): ResolvedLora {
  const r = o.r ?? 8;
  if (!Number.isInteger(r) || r < 1) throw new ConfigError(`LoRA rank must be an integer >= 1, got ${r}`);
  const alpha = o.alpha ?? 16;
  if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha <= 0) throw new ConfigError(`LoRA alpha must be a number > 0, got ${alpha}`);
  const p = o.dropout ?? 0;
  if (typeof p !== "number" || !(p >= 0 && p < 1)) throw new ConfigError(`LoRA dropout must be in [0, 1), got ${p}`);
  const useRslora = o.useRslora ?? false;
  let targetModules: string[] | string;
  const t = o.targets ?? LORA_TARGETS;
  if (typeof t === "string") {
    try {
      new RegExp(t);
    } catch (e) {
      throw new ConfigError(`LoRA target pattern ${JSON.stringify(t)} is not a valid regular expression: ${(e as Error).message}`);
    }
    targetModules = t;
  } else {
    if (!Array.isArray(t) || t.length === 0)
      throw new ConfigError("LoRA needs at least one target module", { hint: `short names: ${LORA_TARGETS.join(", ")}` });
    const table = SUFFIXES[family(model)];
    const out = new Set<string>();
    for (const name of t) {
      if (typeof name !== "string" || name === "") throw new ConfigError(`LoRA target names must be non-empty strings, got ${JSON.stringify(name)}`);
      if (name in table) {
        const s = table[name as LoraTarget];
        if (s !== null) out.add(s);
      } else out.add(name);
    }
    if (out.size === 0)
      throw new ConfigError(`no LoRA target applies to a ${model.config.modelType} model (${t.join(", ")})`, { hint: "GPT-2 has no gate projection" });
    targetModules = [...out];
  }
  return { r, alpha, dropout: p, useRslora, targetModules, scale: useRslora ? alpha / Math.sqrt(r) : alpha / r };
}

/** PEFT's matching rule: a list entry matches a module named exactly so or ending in "." + entry; a string is a full-match regex. */
export function matchesTarget(moduleName: string, targets: readonly string[] | string): boolean {
  if (typeof targets === "string") return new RegExp(`^(?:${targets})$`).test(moduleName);
  return targets.some((t) => moduleName === t || moduleName.endsWith(`.${t}`));
}

/** One adapter on one Linear: A (r, in), B (out, r). */
export class LoraAdapter implements LinearAdapter {
  readonly A: Parameter;
  readonly B: Parameter;
  /** True while B·A is folded into the base weight (apply() then adds nothing). */
  merged = false;

  constructor(
    readonly base: Linear,
    readonly r: number,
    readonly scale: number,
    readonly dropoutP: number,
    private readonly rng: Rng,
  ) {
    this.A = Parameter.zeros([r, base.inFeatures], { decay: true });
    this.B = Parameter.zeros([base.outFeatures, r], { decay: true });
    const bound = 1 / Math.sqrt(base.inFeatures);
    rng.fillUniform(this.A.data, -bound, bound);
  }

  apply(g: Tape, x: Tensor, y: Tensor): Tensor {
    if (this.merged) return y;
    const h = linear(g, dropout(g, x, this.dropoutP, this.rng), this.A); // h (N, r) = x (N, IN) · Aᵀ
    return addLowRank(g, y, h, this.B, this.scale);
  }

  /** delta (OUT, IN) = scale · B · A, into a new array. */
  delta(): Float32Array {
    const out = this.base.outFeatures,
      inp = this.base.inFeatures;
    const d = new Float32Array(out * inp);
    gemm(this.B.data, this.A.data, d, out, inp, this.r); // d (OUT,IN) = B (OUT,r) · A (r,IN)
    for (let i = 0; i < d.length; i++) d[i]! *= this.scale;
    return d;
  }

  /**
   * Folds scale·B·A into the base weight (idempotent). A base held quantized cannot take it in
   * place (the sum would have to be re-quantized, losing the adapter's small update to rounding
   * on every merge / unmerge): merge into the float base instead, as `slm merge` does.
   */
  merge(): void {
    if (this.merged) return;
    const w = this.base.weight;
    if (w.quant !== null)
      throw new UsageError(`cannot merge a LoRA adapter into a weight held quantized (${w.quant.type})`, {
        hint: "keep the adapter unmerged, or fold it into the float base with slm merge (which can re-quantize the result)",
      });
    axpy(w.data, 1, this.delta(), w.size);
    this.merged = true;
  }

  /** Takes scale·B·A back out of the base weight (exact up to float rounding). */
  unmerge(): void {
    if (!this.merged) return;
    const w = this.base.weight;
    axpy(w.data, -1, this.delta(), w.size);
    this.merged = false;
  }
}

/**
 * out (N,OUT) = y + s · h (N,r) · B (OUT,r)ᵀ, written INTO y's buffer: y is a fresh linear
 * output that nothing else reads (the Linear hands only the adapted output on) and whose
 * backward needs only its gradient, not its values. Its gradient is dout itself when nothing
 * else flowed into it. s·h is formed in TypeScript (N·r values), so the op costs one matmul
 * forward and two backward: the adapter's whole overhead over the frozen layer.
 */
function addLowRank(g: Tape, y: Tensor, h: Tensor, B: Parameter, s: number): Tensor {
  const n = h.rows,
    r = h.cols,
    out = B.shape[0]!;
  const hs = g.empty(h.shape); // (N, r)
  for (let i = 0; i < hs.size; i++) hs.data[i] = s * h.data[i]!;
  gemm(hs.data, B.data, y.data, n, out, r, { transB: true, accumulate: true }); // y (N,OUT) += hs · Bᵀ
  const res = new Tensor(y.data, y.shape);
  if (g.needsGrad(y, h, B)) {
    g.record("lora", res, (dout) => {
      if (y.requiresGrad) {
        if (y.grad === null) y.grad = dout;
        else axpy(y.grad, 1, dout, dout.length); // dy += dout
      }
      if (B.requiresGrad) gemm(dout, hs.data, g.grad(B), out, r, n, { transA: true, accumulate: true }); // dB (OUT,r) += doutᵀ · hs
      if (h.requiresGrad) {
        const dhs = g.scratch(n * r); // (N, r) = dout · B
        gemm(dout, B.data, dhs, n, r, out);
        const dh = g.grad(h);
        for (let i = 0; i < dhs.length; i++) dh[i]! += s * dhs[i]!;
      }
    });
  }
  return res;
}

/** The PEFT tensor-name prefix of a module: base_model.model.<module path>. */
export function peftPrefix(modulePath: string): string {
  return `base_model.model.${modulePath}`;
}

/** A set of adapters attached to one model. */
export class LoraModel {
  constructor(
    readonly model: CausalLM,
    readonly config: ResolvedLora,
    /** Adapted modules by their path in the model (Hugging Face names: model.layers.0.self_attn.q_proj). */
    readonly adapters: ReadonlyMap<string, LoraAdapter>,
  ) {}

  /** The trainable tensors under PEFT's names (base_model.model.<module>.lora_A.weight / lora_B.weight). */
  namedParameters(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [path, a] of this.adapters) out.push([`${peftPrefix(path)}.lora_A.weight`, a.A], [`${peftPrefix(path)}.lora_B.weight`, a.B]);
    return out;
  }

  /** Values in the adapters (A and B of every adapted module). */
  numParameters(): number {
    let n = 0;
    for (const a of this.adapters.values()) n += a.A.size + a.B.size;
    return n;
  }

  /** Folds every adapter into its base weight; the adapters stay attached but add nothing (unmerge() reverses it). */
  merge(): void {
    for (const a of this.adapters.values()) a.merge();
  }

  unmerge(): void {
    for (const a of this.adapters.values()) a.unmerge();
  }

  /** Removes the adapters from the model (a merged model keeps the merged weights). */
  detach(): void {
    for (const a of this.adapters.values()) if (a.base.adapter === a) a.base.adapter = null;
  }

  /** Folds the adapters in and detaches them: the model is then a plain model with the adapted weights. */
  mergeAndDetach(): void {
    this.merge();
    this.detach();
  }
}

/**
 * Attaches fresh adapters (A random, B zero) to every Linear of `model` whose name matches
 * the targets, and freezes every base parameter (their gradient buffers are released).
 * `seed` draws A and the dropout masks.
 */
export function attachLora(model: CausalLM, opts: LoraOptions | ResolvedLora = {}, seed = 0): LoraModel {
  const cfg = "targetModules" in opts ? opts : resolveLora(model, opts);
  const rng = new Rng(seed);
  const adapters = new Map<string, LoraAdapter>();
  for (const [path, m] of model.namedModules()) {
    if (!(m instanceof Linear) || !matchesTarget(path, cfg.targetModules)) continue;
    if (m.adapter !== null) throw new UsageError(`${path} already has an adapter attached`, { hint: "detach it first" });
    if (cfg.r > Math.min(m.inFeatures, m.outFeatures))
      throw new ConfigError(`LoRA rank ${cfg.r} exceeds the smaller side of ${path} (${m.outFeatures}×${m.inFeatures})`);
    adapters.set(path, new LoraAdapter(m, cfg.r, cfg.scale, cfg.dropout, rng));
  }
  if (adapters.size === 0) {
    const shown = typeof cfg.targetModules === "string" ? cfg.targetModules : cfg.targetModules.join(", ");
    throw new ConfigError(`no module of this ${model.config.modelType} model matches the LoRA targets (${shown})`, {
      hint: `short names: ${LORA_TARGETS.join(", ")}`,
    });
  }
  model.requiresGrad(false);
  for (const [, a] of adapters) a.base.adapter = a;
  return new LoraModel(model, cfg, adapters);
}
