// The Gemma 3 text decoder (HF model_type gemma3_text, Gemma3ForCausalLM):
// token embedding scaled by √hidden; blocks of
//   x += post_attention_norm(attention(input_norm(x)))
//   x += post_feedforward_norm(GeGLU-MLP(pre_feedforward_norm(x)))
// where every RMSNorm scales by (1 + w) (weights stored as w, zeros at init),
// attention is grouped-/multi-query with per-head q_norm / k_norm before RoPE
// and a softmax scale of query_pre_attn_scalar^-1/2, and layers alternate
// between sliding-window attention (RoPE base rope_local_base_freq, no
// scaling) and full attention (rope_theta, with rope_scaling) as layer_types
// says; then a final (1 + w) RMSNorm and the output head (tied by default).
// Parameters carry Hugging Face names. Training runs through the tape;
// generation over a KV cache is forwardCached. Knows nothing about files or
// tokenizers.
import { ConfigError } from "../errors.ts";
import { attentionDecode } from "../native/ops/attention.ts";
import {
  Embedding,
  Linear,
  Module,
  ModuleList,
  RMSNorm,
  add,
  attention,
  geglu,
  linear,
  rope,
  scale,
  segmentPositions,
  sequencePositions,
  type RopeTable,
  type Tape,
  type Tensor,
} from "../tensor/index.ts";
import { windowAttentionDecode } from "../tensor/window-attention.ts";
import { Rng } from "../util/rng.ts";
import { headRows, type ForwardCachedOptions } from "./cached-logits.ts";
import type { ModelConfig } from "./config.ts";
import type { KvCache, KvFloatView } from "./kv-cache.ts";
import { runLayers } from "./layer-scope.ts";
import { INIT_STD } from "./llama.ts";
import { scaledRopeTable } from "./rope-scaling.ts";

class GemmaAttention extends Module {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly qNorm: RMSNorm;
  readonly kNorm: RMSNorm;
  constructor(c: ModelConfig, rng: Rng) {
    super();
    const resid = INIT_STD / Math.sqrt(2 * c.nLayers);
    const norm = { eps: c.normEps, offset: 1 };
    this.q = this.addModule("q_proj", new Linear(c.dModel, c.nHeads * c.headDim, rng, { bias: c.qkvBias, std: INIT_STD }));
    this.k = this.addModule("k_proj", new Linear(c.dModel, c.nKvHeads * c.headDim, rng, { bias: c.qkvBias, std: INIT_STD }));
    this.v = this.addModule("v_proj", new Linear(c.dModel, c.nKvHeads * c.headDim, rng, { bias: c.qkvBias, std: INIT_STD }));
    this.o = this.addModule("o_proj", new Linear(c.nHeads * c.headDim, c.dModel, rng, { bias: c.oBias, std: resid }));
    this.qNorm = this.addModule("q_norm", new RMSNorm(c.headDim, norm));
    this.kNorm = this.addModule("k_norm", new RMSNorm(c.headDim, norm));
  }
}

class GemmaMlp extends Module {
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
  constructor(c: ModelConfig, rng: Rng) {
    super();
    const resid = INIT_STD / Math.sqrt(2 * c.nLayers);
    this.gate = this.addModule("gate_proj", new Linear(c.dModel, c.ffnDim, rng, { std: INIT_STD }));
    this.up = this.addModule("up_proj", new Linear(c.dModel, c.ffnDim, rng, { std: INIT_STD }));
    this.down = this.addModule("down_proj", new Linear(c.ffnDim, c.dModel, rng, { std: resid }));
  }
}

class GemmaBlock extends Module {
  readonly inputNorm: RMSNorm;
  readonly attn: GemmaAttention;
  readonly postAttnNorm: RMSNorm;
  readonly preMlpNorm: RMSNorm;
  readonly mlp: GemmaMlp;
  readonly postMlpNorm: RMSNorm;
  constructor(c: ModelConfig, rng: Rng) {
    super();
    const norm = { eps: c.normEps, offset: 1 };
    this.inputNorm = this.addModule("input_layernorm", new RMSNorm(c.dModel, norm));
    this.attn = this.addModule("self_attn", new GemmaAttention(c, rng));
    this.postAttnNorm = this.addModule("post_attention_layernorm", new RMSNorm(c.dModel, norm));
    this.preMlpNorm = this.addModule("pre_feedforward_layernorm", new RMSNorm(c.dModel, norm));
    this.mlp = this.addModule("mlp", new GemmaMlp(c, rng));
    this.postMlpNorm = this.addModule("post_feedforward_layernorm", new RMSNorm(c.dModel, norm));
  }
}

class GemmaInner extends Module {
  readonly embed: Embedding;
  readonly layers: ModuleList<GemmaBlock>;
  readonly norm: RMSNorm;
  constructor(c: ModelConfig, rng: Rng) {
    super();
    this.embed = this.addModule("embed_tokens", new Embedding(c.vocabSize, c.dModel, rng, { std: INIT_STD }));
    this.layers = this.addModule("layers", new ModuleList(Array.from({ length: c.nLayers }, () => new GemmaBlock(c, rng))));
    this.norm = this.addModule("norm", new RMSNorm(c.dModel, { eps: c.normEps, offset: 1 }));
  }
}

export class GemmaModel extends Module {
  readonly config: ModelConfig;
  readonly model: GemmaInner;
  readonly lmHead: Linear | null;
  /** RoPE of the full-attention layers (rope_theta, rope_scaling) and of the sliding ones (rope_local_base_freq). */
  readonly ropeGlobal: RopeTable;
  readonly ropeLocal: RopeTable;
  /** √hidden as the embedding's float32 multiplier (HF casts it to the weights' dtype). */
  readonly embedScale: number;
  /** 1/√query_pre_attn_scalar. */
  readonly attnScale: number;

  constructor(config: ModelConfig, rng: Rng = new Rng(0)) {
    super();
    if (config.modelType !== "gemma3_text") throw new ConfigError(`GemmaModel: model_type is ${config.modelType}`);
    this.config = config;
    this.model = this.addModule("model", new GemmaInner(config, rng));
    this.lmHead = config.tieEmbeddings ? null : this.addModule("lm_head", new Linear(config.dModel, config.vocabSize, rng, { std: INIT_STD }));
    this.ropeGlobal = scaledRopeTable(config.maxSeqLen, config.headDim, config.ropeTheta, config.ropeScaling);
    this.ropeLocal = scaledRopeTable(config.maxSeqLen, config.headDim, config.ropeLocalTheta!, undefined);
    this.embedScale = Math.fround(Math.sqrt(config.dModel));
    this.attnScale = 1 / Math.sqrt(config.queryPreAttnScalar!);
  }

  /** The output head's weight (V, d): the embedding when tied. */
  get headWeight() {
    return this.lmHead ? this.lmHead.weight : this.model.embed.weight;
  }

  /** Whether layer l attends through a sliding window. */
  isSliding(l: number): boolean {
    return this.config.layerTypes![l] === "sliding_attention";
  }

  /** q (N, H·D) and k (N, KVH·D) normalised per head and rotated for layer l; v (N, KVH·D). */
  private qkv(g: Tape, blk: GemmaBlock, l: number, h: Tensor, positions: Int32Array): { q: Tensor; k: Tensor; v: Tensor } {
    const c = this.config;
    const table = this.isSliding(l) ? this.ropeLocal : this.ropeGlobal;
    const q = rope(g, blk.attn.qNorm.forwardHeads(g, blk.attn.q.forward(g, h), c.nHeads), table, positions, { heads: c.nHeads });
    const k = rope(g, blk.attn.kNorm.forwardHeads(g, blk.attn.k.forward(g, h), c.nKvHeads), table, positions, { heads: c.nKvHeads });
    return { q, k, v: blk.attn.v.forward(g, h) };
  }

  /** The rest of block `blk` once attention has produced `a` (N, H·D): output projection, norms, MLP, residuals. */
  private finish(g: Tape, blk: GemmaBlock, x: Tensor, a: Tensor): Tensor {
    x = add(g, x, blk.postAttnNorm.forward(g, blk.attn.o.forward(g, a)));
    const m = blk.preMlpNorm.forward(g, x);
    const act = geglu(g, blk.mlp.gate.forward(g, m), blk.mlp.up.forward(g, m));
    return add(g, x, blk.postMlpNorm.forward(g, blk.mlp.down.forward(g, act)));
  }

  /**
   * Final hidden states (B·T, d) for ids (B·T) of B sequences of T tokens starting at position 0.
   * `inputAdd` (B·T, d), when given, is added to the scaled token embeddings. `segments`: packed
   * examples, as LlamaModel.hidden (a sliding layer's window also stops at an example's start).
   */
  hidden(g: Tape, ids: Int32Array, batch: number, seqLen: number, inputAdd?: Tensor, segments?: Int32Array): Tensor {
    const c = this.config;
    if (seqLen > c.maxSeqLen) throw new ConfigError(`sequence of ${seqLen} tokens is longer than the model's context (${c.maxSeqLen})`);
    const positions = segments ? segmentPositions(g, segments) : sequencePositions(g, batch, seqLen, 0);
    let x0 = scale(g, this.model.embed.forward(g, ids), this.embedScale);
    if (inputAdd) x0 = add(g, x0, inputAdd);
    const layers = this.model.layers.items;
    const x = runLayers(g, x0, layers.length, (l, x, g) => {
      const blk = layers[l]!;
      const { q, k, v } = this.qkv(g, blk, l, blk.inputNorm.forward(g, x), positions);
      const a = attention(g, q, k, v, {
        batch,
        seqLen,
        heads: c.nHeads,
        kvHeads: c.nKvHeads,
        scale: this.attnScale,
        segments,
        ...(this.isSliding(l) ? { window: c.slidingWindow! } : {}),
      });
      return this.finish(g, blk, x, a);
    });
    return this.model.norm.forward(g, x);
  }

  /** Logits (B·T, V). */
  forward(g: Tape, ids: Int32Array, batch: number, seqLen: number): Tensor {
    return linear(g, this.hidden(g, ids, batch, seqLen), this.headWeight);
  }

  /**
   * One decode step of a sliding layer past the window: each sequence's last W cached keys and
   * values are copied into a (B,KVH,W,D) scratch cache, where the native causal decode kernel
   * attends to exactly them (5x faster than the TypeScript window kernel at Gemma-3-270M's
   * 4 heads of 256 and W 512: ~1 ms against ~5 ms per layer, measured under load).
   */
  private windowDecodeOne(g: Tape, out: Float32Array, q: Float32Array, kv: KvFloatView, starts: Int32Array, batch: number): void {
    const c = this.config,
      d = c.headDim,
      kvh = c.nKvHeads,
      maxT = kv.maxT;
    const w = Math.min(c.slidingWindow!, maxT);
    const kAll = kv.keys,
      vAll = kv.values;
    const k = g.scratch(batch * kvh * w * d),
      v = g.scratch(batch * kvh * w * d); // (B,KVH,W,D)
    const last = g.arena.allocInt(batch); // position of each sequence's query in the scratch window
    for (let b = 0; b < batch; b++) {
      const pos = starts[b]!,
        lo = Math.max(0, pos - w + 1),
        n = pos - lo + 1;
      for (let h = 0; h < kvh; h++) {
        const from = ((b * kvh + h) * maxT + lo) * d,
          to = (b * kvh + h) * w * d;
        k.set(kAll.subarray(from, from + n * d), to);
        v.set(vAll.subarray(from, from + n * d), to);
      }
      last[b] = n - 1;
    }
    attentionDecode(out, q, k, v, last, batch, 1, c.nHeads, kvh, d, w, this.attnScale);
  }

  /** See LlamaModel.forwardCached. Sliding layers attend to the last sliding_window positions only. */
  forwardCached(g: Tape, ids: Int32Array, batch: number, tq: number, cache: KvCache, starts: Int32Array, opts?: ForwardCachedOptions): Tensor {
    const c = this.config;
    const n = batch * tq;
    const positions = g.arena.allocInt(n);
    let reach = 0; // one past the furthest position of the call
    for (let b = 0; b < batch; b++) {
      if (starts[b]! + tq > Math.min(cache.maxSeqLen, c.maxSeqLen))
        throw new ConfigError(`sequence ${b} would reach position ${starts[b]! + tq}, beyond the context`);
      for (let t = 0; t < tq; t++) positions[b * tq + t] = starts[b]! + t;
      reach = Math.max(reach, starts[b]! + tq);
    }
    const layers = this.model.layers.items;
    const x = runLayers(g, scale(g, this.model.embed.forward(g, ids), this.embedScale), layers.length, (l, x, g) => {
      const blk = layers[l]!;
      const { q, k, v } = this.qkv(g, blk, l, blk.inputNorm.forward(g, x), positions);
      cache.write(l, k.data, v.data, batch, tq, starts);
      const a = g.empty([n, c.nHeads * c.headDim]);
      // While no query is past the window, a sliding layer sees what a causal one does.
      const kv = cache.attendView(l, batch, tq, starts);
      if (this.isSliding(l) && reach > c.slidingWindow!) {
        if (tq === 1) this.windowDecodeOne(g, a.data, q.data, kv, starts, batch);
        else {
          // A prompt chunk: the causal kernel gives the queries before the window cuts, the TypeScript kernel the rest.
          attentionDecode(a.data, q.data, kv.keys, kv.values, starts, batch, tq, c.nHeads, c.nKvHeads, c.headDim, kv.maxT, this.attnScale);
          windowAttentionDecode(
            a.data,
            q.data,
            kv.keys,
            kv.values,
            starts,
            batch,
            tq,
            c.nHeads,
            c.nKvHeads,
            c.headDim,
            kv.maxT,
            this.attnScale,
            c.slidingWindow!,
            true,
          );
        }
      } else {
        attentionDecode(a.data, q.data, kv.keys, kv.values, starts, batch, tq, c.nHeads, c.nKvHeads, c.headDim, kv.maxT, this.attnScale);
      }
      return this.finish(g, blk, x, a);
    });
    return linear(g, this.model.norm.forward(g, headRows(g, x, batch, tq, opts)), this.headWeight);
  }
}
