// GPT-2: token and learned position embeddings, blocks of pre-LayerNorm
// multi-head attention (one fused q|k|v projection) and a GELU MLP, all with
// biases, a final LayerNorm and an output head tied to the token embedding.
// Parameters carry Hugging Face names; note that HF stores GPT-2's linear
// weights as (in, out) ("Conv1D") while ours are (out, in) like every other
// Linear: the formats layer transposes on load and save.
// Knows nothing about files or tokenizers.
import { ConfigError } from "../errors.ts";
import { attentionDecode } from "../native/ops/attention.ts";
import {
  Embedding,
  LayerNorm,
  Linear,
  Module,
  ModuleList,
  add,
  attention,
  columns,
  gelu,
  linear,
  segmentPositions,
  sequencePositions,
  type Tape,
  type Tensor,
} from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import type { ModelConfig } from "./config.ts";
import { headRows, type ForwardCachedOptions } from "./cached-logits.ts";
import type { KvCache } from "./kv-cache.ts";
import { runLayers } from "./layer-scope.ts";
import { INIT_STD } from "./llama.ts";

class Gpt2Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  constructor(c: ModelConfig, rng: Rng) {
    super();
    this.qkv = this.addModule("c_attn", new Linear(c.dModel, 3 * c.dModel, rng, { bias: true, std: INIT_STD }));
    this.proj = this.addModule("c_proj", new Linear(c.dModel, c.dModel, rng, { bias: true, std: INIT_STD / Math.sqrt(2 * c.nLayers) }));
  }
}

class Gpt2Mlp extends Module {
  readonly fc: Linear;
  readonly proj: Linear;
  constructor(c: ModelConfig, rng: Rng) {
    super();
    this.fc = this.addModule("c_fc", new Linear(c.dModel, c.ffnDim, rng, { bias: true, std: INIT_STD }));
    this.proj = this.addModule("c_proj", new Linear(c.ffnDim, c.dModel, rng, { bias: true, std: INIT_STD / Math.sqrt(2 * c.nLayers) }));
  }
}

class Gpt2Block extends Module {
  readonly ln1: LayerNorm;
  readonly attn: Gpt2Attention;
  readonly ln2: LayerNorm;
  readonly mlp: Gpt2Mlp;
  constructor(c: ModelConfig, rng: Rng) {
    super();
    this.ln1 = this.addModule("ln_1", new LayerNorm(c.dModel, { eps: c.normEps }));
    this.attn = this.addModule("attn", new Gpt2Attention(c, rng));
    this.ln2 = this.addModule("ln_2", new LayerNorm(c.dModel, { eps: c.normEps }));
    this.mlp = this.addModule("mlp", new Gpt2Mlp(c, rng));
  }
}

class Gpt2Inner extends Module {
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly h: ModuleList<Gpt2Block>;
  readonly lnF: LayerNorm;
  constructor(c: ModelConfig, rng: Rng) {
    super();
    this.wte = this.addModule("wte", new Embedding(c.vocabSize, c.dModel, rng, { std: INIT_STD }));
    this.wpe = this.addModule("wpe", new Embedding(c.maxSeqLen, c.dModel, rng, { std: 0.01 }));
    this.h = this.addModule("h", new ModuleList(Array.from({ length: c.nLayers }, () => new Gpt2Block(c, rng))));
    this.lnF = this.addModule("ln_f", new LayerNorm(c.dModel, { eps: c.normEps }));
  }
}

export class Gpt2Model extends Module {
  readonly config: ModelConfig;
  readonly transformer: Gpt2Inner;

  constructor(config: ModelConfig, rng: Rng = new Rng(0)) {
    super();
    if (config.modelType !== "gpt2") throw new ConfigError(`Gpt2Model: model_type is ${config.modelType}`);
    this.config = config;
    this.transformer = this.addModule("transformer", new Gpt2Inner(config, rng));
  }

  get headWeight() {
    return this.transformer.wte.weight;
  }

  private block(g: Tape, blk: Gpt2Block, x: Tensor, attend: (qkv: Tensor) => Tensor): Tensor {
    const qkv = blk.attn.qkv.forward(g, blk.ln1.forward(g, x));
    x = add(g, x, blk.attn.proj.forward(g, attend(qkv)));
    const m = gelu(g, blk.mlp.fc.forward(g, blk.ln2.forward(g, x)));
    return add(g, x, blk.mlp.proj.forward(g, m));
  }

  /**
   * Final hidden states (B·T, d) for ids (B·T) of B sequences of T tokens starting at position 0.
   * `inputAdd` (B·T, d), when given, is added to the token + position embeddings. `segments`:
   * packed examples, as LlamaModel.hidden (each example's learned positions start at 0).
   */
  hidden(g: Tape, ids: Int32Array, batch: number, seqLen: number, inputAdd?: Tensor, segments?: Int32Array): Tensor {
    const c = this.config,
      d = c.dModel;
    if (seqLen > c.maxSeqLen) throw new ConfigError(`sequence of ${seqLen} tokens is longer than the model's context (${c.maxSeqLen})`);
    const positions = segments ? segmentPositions(g, segments) : sequencePositions(g, batch, seqLen, 0);
    let x0 = add(g, this.transformer.wte.forward(g, ids), this.transformer.wpe.forward(g, positions));
    if (inputAdd) x0 = add(g, x0, inputAdd);
    const blocks = this.transformer.h.items;
    const x = runLayers(g, x0, blocks.length, (l, x, g) =>
      this.block(g, blocks[l]!, x, (qkv) =>
        attention(g, columns(qkv, 0, d), columns(qkv, d, d), columns(qkv, 2 * d, d), { batch, seqLen, heads: c.nHeads, segments }),
      ),
    );
    return this.transformer.lnF.forward(g, x);
  }

  /** Logits (B·T, V). */
  forward(g: Tape, ids: Int32Array, batch: number, seqLen: number): Tensor {
    return linear(g, this.hidden(g, ids, batch, seqLen), this.headWeight);
  }

  /** See LlamaModel.forwardCached. */
  forwardCached(g: Tape, ids: Int32Array, batch: number, tq: number, cache: KvCache, starts: Int32Array, opts?: ForwardCachedOptions): Tensor {
    const c = this.config,
      d = c.dModel,
      n = batch * tq;
    const positions = g.arena.allocInt(n);
    for (let b = 0; b < batch; b++) {
      if (starts[b]! + tq > Math.min(cache.maxSeqLen, c.maxSeqLen))
        throw new ConfigError(`sequence ${b} would reach position ${starts[b]! + tq}, beyond the context`);
      for (let t = 0; t < tq; t++) positions[b * tq + t] = starts[b]! + t;
    }
    const blocks = this.transformer.h.items;
    const x = runLayers(g, add(g, this.transformer.wte.forward(g, ids), this.transformer.wpe.forward(g, positions)), blocks.length, (l, x, g) =>
      this.block(g, blocks[l]!, x, (qkv) => {
        // qkv (N, 3d): q = columns [0,d), k = [d,2d), v = [2d,3d)
        cache.write(l, qkv.data.subarray(d), qkv.data.subarray(2 * d), batch, tq, starts, 3 * d);
        const q = g.empty([n, d]);
        for (let i = 0; i < n; i++) q.data.set(qkv.data.subarray(i * 3 * d, i * 3 * d + d), i * d);
        const a = g.empty([n, d]);
        const kv = cache.attendView(l, batch, tq, starts);
        attentionDecode(a.data, q.data, kv.keys, kv.values, starts, batch, tq, c.nHeads, c.nHeads, c.headDim, kv.maxT, 1 / Math.sqrt(c.headDim));
        return a;
      }),
    );
    return linear(g, this.transformer.lnF.forward(g, headRows(g, x, batch, tq, opts)), this.headWeight);
  }
}
