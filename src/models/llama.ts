// The Llama-family decoder (Llama, Mistral, Qwen2): token embedding, blocks of
// pre-RMSNorm grouped-query attention with rotary positions and a pre-RMSNorm
// SwiGLU MLP, a final RMSNorm and an output head (tied to the embedding or
// not). Parameters carry Hugging Face names, so a checkpoint maps one to one.
// Training runs through the tape (src/tensor); generation over a KV cache is
// in forwardCached. Knows nothing about files or tokenizers.
import { ConfigError } from "../errors.ts";
import { attentionDecode } from "../native/ops/attention.ts";
import { DECODE_MAX_ROWS } from "../native/ops/decode.ts";
import {
  Embedding,
  Linear,
  Module,
  ModuleList,
  RMSNorm,
  add,
  attention,
  forwardLinears,
  linear,
  rope,
  ropeTable,
  segmentPositions,
  sequencePositions,
  swiglu,
  Tensor,
  type RopeTable,
  type Tape,
} from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import { headRows, type ForwardCachedOptions } from "./cached-logits.ts";
import { hasQkNorm, type ModelConfig } from "./config.ts";
import { decodePlanFor } from "./decode-step.ts";
import type { KvCache } from "./kv-cache.ts";
import { runLayers } from "./layer-scope.ts";
import { scaledRopeTable } from "./rope-scaling.ts";

/** Initialisation: normal(0, 0.02), residual output projections scaled by 1/√(2·layers) (GPT-2). */
export const INIT_STD = 0.02;

class LlamaAttention extends Module {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  /** Qwen3: per-head RMSNorm of queries and keys before RoPE; null for the other types. */
  readonly qNorm: RMSNorm | null;
  readonly kNorm: RMSNorm | null;
  constructor(c: ModelConfig, rng: Rng) {
    super();
    const resid = INIT_STD / Math.sqrt(2 * c.nLayers);
    this.q = this.addModule("q_proj", new Linear(c.dModel, c.nHeads * c.headDim, rng, { bias: c.qkvBias, std: INIT_STD }));
    this.k = this.addModule("k_proj", new Linear(c.dModel, c.nKvHeads * c.headDim, rng, { bias: c.qkvBias, std: INIT_STD }));
    this.v = this.addModule("v_proj", new Linear(c.dModel, c.nKvHeads * c.headDim, rng, { bias: c.qkvBias, std: INIT_STD }));
    this.o = this.addModule("o_proj", new Linear(c.nHeads * c.headDim, c.dModel, rng, { bias: c.oBias, std: resid }));
    const qk = hasQkNorm(c);
    this.qNorm = qk ? this.addModule("q_norm", new RMSNorm(c.headDim, { eps: c.normEps })) : null;
    this.kNorm = qk ? this.addModule("k_norm", new RMSNorm(c.headDim, { eps: c.normEps })) : null;
  }

  /** Queries (N, H·D) from h: the projection (or `q`, already projected), then q_norm per head when the model has one. */
  queries(g: Tape, h: Tensor, heads: number, q: Tensor = this.q.forward(g, h)): Tensor {
    return this.qNorm ? this.qNorm.forwardHeads(g, q, heads) : q;
  }

  /** Keys (N, KVH·D) from h, likewise with k_norm. */
  keys(g: Tape, h: Tensor, kvHeads: number, k: Tensor = this.k.forward(g, h)): Tensor {
    return this.kNorm ? this.kNorm.forwardHeads(g, k, kvHeads) : k;
  }
}

class LlamaMlp extends Module {
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
  constructor(c: ModelConfig, rng: Rng) {
    super();
    const resid = INIT_STD / Math.sqrt(2 * c.nLayers);
    this.gate = this.addModule("gate_proj", new Linear(c.dModel, c.ffnDim, rng, { bias: c.mlpBias, std: INIT_STD }));
    this.up = this.addModule("up_proj", new Linear(c.dModel, c.ffnDim, rng, { bias: c.mlpBias, std: INIT_STD }));
    this.down = this.addModule("down_proj", new Linear(c.ffnDim, c.dModel, rng, { bias: c.mlpBias, std: resid }));
  }
}

/**
 * Most rows the MLP of an inference pass runs at once (see mlpResidual) when its weights go
 * through the int8 prefill GEMM (Q8_0, Q4_0, K-quants, …). 256: a 512-token
 * prefill of the Qwen2.5-0.5B shape holds gate/up for 256 rows (10 MB, not 20) at no measured
 * cost; at 128 the per-call weight repack, done once per slice, cost ~5% CPU (docs/kernels.md).
 */
export const MLP_ROWS = 256;

/**
 * The same where the MLP's weights go through the float GEMM (F16 / BF16 / F32 storage, or plain
 * float32 parameters): it packs the weights once per call, so taller slices pay. A 512-token
 * prefill of the Qwen2.5-0.5B-shaped f16 file, fresh processes alternating, 4 rounds: 512 rows
 * 216.8 tok/s against 194.5 at 256 (1.11×); on the q4_0 file (int8 GEMM) 512 rows measured 0.96×.
 */
export const MLP_ROWS_FLOAT = 512;

/** The slice height for this MLP's weights (MLP_ROWS or MLP_ROWS_FLOAT). */
function mlpSliceRows(mlp: LlamaMlp): number {
  const q = mlp.gate.weight.quant;
  return q === null || q.type === "F16" || q.type === "BF16" || q.type === "F32" ? MLP_ROWS_FLOAT : MLP_ROWS;
}

/**
 * x + MLP(m) for m, x (N, d). On an inference tape with more than mlpSliceRows rows the MLP runs
 * on near-equal slices of at most that many rows (every slice above the decode kernels' 8 rows, so
 * each row's result is the one a single pass gives) and adds into x in place, the slices
 * reusing one set of arena buffers: gate and up (N, ffn) are the largest activations of a layer.
 */
function mlpResidual(g: Tape, mlp: LlamaMlp, m: Tensor, x: Tensor): Tensor {
  const inPlace = { inPlace: true };
  const n = m.rows,
    d = m.cols;
  const parts = Math.ceil(n / mlpSliceRows(mlp));
  if (g.gradEnabled || parts <= 1) {
    const [gate, up] = forwardLinears(g, m, [mlp.gate, mlp.up]) as [Tensor, Tensor];
    return add(g, mlp.down.forward(g, swiglu(g, gate, up, inPlace)), x, inPlace);
  }
  const step = Math.ceil(n / parts);
  for (let r0 = 0; r0 < n; r0 += step) {
    const r1 = Math.min(n, r0 + step);
    const mark = g.arena.mark();
    const rows = new Tensor(m.data.subarray(r0 * d, r1 * d), [r1 - r0, d]);
    const [gate, up] = forwardLinears(g, rows, [mlp.gate, mlp.up]) as [Tensor, Tensor];
    const act = swiglu(g, gate, up, inPlace);
    add(g, new Tensor(x.data.subarray(r0 * d, r1 * d), [r1 - r0, d]), mlp.down.forward(g, act), inPlace);
    g.arena.rewind(mark);
  }
  return x;
}

class LlamaBlock extends Module {
  readonly attnNorm: RMSNorm;
  readonly attn: LlamaAttention;
  readonly mlpNorm: RMSNorm;
  readonly mlp: LlamaMlp;
  constructor(c: ModelConfig, rng: Rng) {
    super();
    this.attnNorm = this.addModule("input_layernorm", new RMSNorm(c.dModel, { eps: c.normEps }));
    this.attn = this.addModule("self_attn", new LlamaAttention(c, rng));
    this.mlpNorm = this.addModule("post_attention_layernorm", new RMSNorm(c.dModel, { eps: c.normEps }));
    this.mlp = this.addModule("mlp", new LlamaMlp(c, rng));
  }
}

class LlamaInner extends Module {
  readonly embed: Embedding;
  readonly layers: ModuleList<LlamaBlock>;
  readonly norm: RMSNorm;
  constructor(c: ModelConfig, rng: Rng) {
    super();
    this.embed = this.addModule("embed_tokens", new Embedding(c.vocabSize, c.dModel, rng, { std: INIT_STD }));
    this.layers = this.addModule("layers", new ModuleList(Array.from({ length: c.nLayers }, () => new LlamaBlock(c, rng))));
    this.norm = this.addModule("norm", new RMSNorm(c.dModel, { eps: c.normEps }));
  }
}

export class LlamaModel extends Module {
  readonly config: ModelConfig;
  readonly model: LlamaInner;
  readonly lmHead: Linear | null;
  private ropeRows: RopeTable | null = null;

  constructor(config: ModelConfig, rng: Rng = new Rng(0)) {
    super();
    if (config.modelType === "gpt2") throw new ConfigError("LlamaModel: model_type gpt2 uses Gpt2Model");
    if (config.modelType === "gemma3_text") throw new ConfigError("LlamaModel: model_type gemma3_text uses GemmaModel");
    this.config = config;
    this.model = this.addModule("model", new LlamaInner(config, rng));
    this.lmHead = config.tieEmbeddings ? null : this.addModule("lm_head", new Linear(config.dModel, config.vocabSize, rng, { std: INIT_STD }));
  }

  /** The rotary tables for every position of the context (maxSeqLen rows). */
  get rope(): RopeTable {
    return this.ropeFor(this.config.maxSeqLen);
  }

  /**
   * Rotary tables covering positions [0, need): built on first use and grown by doubling, up to
   * maxSeqLen. A row depends only on its position, so a grown table starts with the old rows;
   * a model with a 32,768-token context serving 2,048 holds 2,048 rows, not 32,768 (8 MB of the
   * Qwen2.5-0.5B shape's memory).
   */
  private ropeFor(need: number): RopeTable {
    const t = this.ropeRows;
    if (t && t.maxPositions >= need) return t;
    const c = this.config;
    const rows = Math.min(c.maxSeqLen, Math.max(need, 2 * (t?.maxPositions ?? 0), 256));
    this.ropeRows = c.ropeScaling ? scaledRopeTable(rows, c.headDim, c.ropeTheta, c.ropeScaling) : ropeTable(rows, c.headDim, c.ropeTheta);
    return this.ropeRows;
  }

  /** The output head's weight (V, d): the embedding when tied. */
  get headWeight() {
    return this.lmHead ? this.lmHead.weight : this.model.embed.weight;
  }

  /**
   * Final hidden states (B·T, d) for ids (B·T) of B sequences of T tokens starting at position 0.
   * `inputAdd` (B·T, d), when given, is added to the token embeddings (extra input features).
   * `segments`, when given, are packed examples: lengths of consecutive runs of rows, each its own
   * sequence (positions restart at 0, attention stays inside it).
   */
  hidden(g: Tape, ids: Int32Array, batch: number, seqLen: number, inputAdd?: Tensor, segments?: Int32Array): Tensor {
    const c = this.config;
    if (seqLen > c.maxSeqLen) throw new ConfigError(`sequence of ${seqLen} tokens is longer than the model's context (${c.maxSeqLen})`);
    const positions = segments ? segmentPositions(g, segments) : sequencePositions(g, batch, seqLen, 0);
    let x = this.model.embed.forward(g, ids);
    if (inputAdd) x = add(g, x, inputAdd);
    const layers = this.model.layers.items;
    const table = this.ropeFor(seqLen); // segments are at most seqLen long
    x = runLayers(g, x, layers.length, (l, x, g) => {
      const blk = layers[l]!;
      const h = blk.attnNorm.forward(g, x);
      const q = rope(g, blk.attn.queries(g, h, c.nHeads), table, positions, { heads: c.nHeads });
      const k = rope(g, blk.attn.keys(g, h, c.nKvHeads), table, positions, { heads: c.nKvHeads });
      const v = blk.attn.v.forward(g, h);
      const a = attention(g, q, k, v, { batch, seqLen, heads: c.nHeads, kvHeads: c.nKvHeads, segments });
      x = add(g, x, blk.attn.o.forward(g, a));
      const m = blk.mlpNorm.forward(g, x);
      const act = swiglu(g, blk.mlp.gate.forward(g, m), blk.mlp.up.forward(g, m));
      return add(g, x, blk.mlp.down.forward(g, act));
    });
    return this.model.norm.forward(g, x);
  }

  /** Logits (B·T, V). */
  forward(g: Tape, ids: Int32Array, batch: number, seqLen: number): Tensor {
    return linear(g, this.hidden(g, ids, batch, seqLen), this.headWeight);
  }

  /**
   * Inference over a KV cache: `ids` (B·Tq) are the next Tq tokens of each of B sequences,
   * sequence b starting at position starts[b]. Their keys and values are written into the
   * cache, and the logits (B·Tq, V) returned, or (B, V) for each sequence's last token with
   * `{ logits: "last" }`. Use an inference tape (grad: false).
   */
  forwardCached(g: Tape, ids: Int32Array, batch: number, tq: number, cache: KvCache, starts: Int32Array, opts?: ForwardCachedOptions): Tensor {
    const c = this.config;
    const n = batch * tq;
    const positions = g.arena.allocInt(n);
    let end = 0;
    for (let b = 0; b < batch; b++) {
      if (starts[b]! + tq > cache.maxSeqLen)
        throw new ConfigError(`sequence ${b} would reach position ${starts[b]! + tq}, beyond the cache's ${cache.maxSeqLen}`);
      for (let t = 0; t < tq; t++) positions[b * tq + t] = starts[b]! + t;
      end = Math.max(end, starts[b]! + tq);
    }
    const table = this.ropeFor(end);
    const layers = this.model.layers.items;
    // A few rows with every projection held in a storage type: all layers in one kernel call,
    // bitwise the step-by-step forward below (see decode-step.ts).
    const plan = n <= DECODE_MAX_ROWS && !g.gradEnabled ? decodePlanFor(c, layers, cache, table.rot) : null;
    if (plan !== null) {
      const x = this.model.embed.forward(g, ids);
      plan.run(x.data, batch, tq, starts, table.cos, table.sin);
      return linear(g, this.model.norm.forward(g, headRows(g, x, batch, tq, opts)), this.headWeight);
    }
    // On an inference tape rope, SwiGLU and the residual adds overwrite their first input (each
    // a fresh projection output read by nothing else) and the MLP runs MLP_ROWS rows at a time:
    // a 512-token Qwen2.5-0.5B prefill takes 25 MB of arena buffers instead of 50.
    const inPlace = { inPlace: true };
    const x = runLayers(g, this.model.embed.forward(g, ids), layers.length, (l, x, g) => {
      const blk = layers[l]!;
      const h = blk.attnNorm.forward(g, x);
      // q/k/v in one call (and gate/up in mlpResidual): one pass over their input, one pool dispatch each.
      const [qp, kp, v] = forwardLinears(g, h, [blk.attn.q, blk.attn.k, blk.attn.v]) as [Tensor, Tensor, Tensor];
      const q = rope(g, blk.attn.queries(g, h, c.nHeads, qp), table, positions, { heads: c.nHeads, inPlace: true });
      const k = rope(g, blk.attn.keys(g, h, c.nKvHeads, kp), table, positions, { heads: c.nKvHeads, inPlace: true });
      cache.write(l, k.data, v.data, batch, tq, starts);
      const a = g.empty([n, c.nHeads * c.headDim]);
      const kv = cache.attendView(l, batch, tq, starts);
      attentionDecode(a.data, q.data, kv.keys, kv.values, starts, batch, tq, c.nHeads, c.nKvHeads, c.headDim, kv.maxT, 1 / Math.sqrt(c.headDim));
      x = add(g, blk.attn.o.forward(g, a), x, inPlace);
      return mlpResidual(g, blk.mlp, blk.mlpNorm.forward(g, x), x);
    });
    return linear(g, this.model.norm.forward(g, headRows(g, x, batch, tq, opts)), this.headWeight);
  }
}
