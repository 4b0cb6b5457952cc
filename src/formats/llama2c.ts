// Reader for llama2.c's legacy checkpoint (.bin): a header of 7 int32 (dim,
// hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size — negative when the
// classifier is untied — and seq_len), then float32 arrays in a fixed order.
// Produces our ModelConfig and tensors under Hugging Face Llama names, with
// q/k rows permuted from llama2.c's interleaved RoPE pairs to rotate-half.
// Every size is checked against the file size before anything is read.
// Token ids only: llama2.c keeps its tokenizer in a separate file.
import { closeSync, fstatSync } from "node:fs";

import { FormatError } from "../errors.ts";
import { validateConfig, type ModelConfig } from "../models/config.ts";
import { interleavedToHalf } from "./rope-permute.ts";
import { openForRead, readExactly } from "./file-io.ts";

export interface LoadedWeights {
  config: ModelConfig;
  /** Tensors by Hugging Face name, float32, row-major. */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

const MAX_DIM = 1 << 16;

export function readLlama2c(path: string): LoadedWeights {
  const fd = openForRead(path);
  try {
    const size = fstatSync(fd).size;
    if (size < 28) throw new FormatError(`${path}: ${size} bytes is too short for a llama2.c header (28 bytes)`);
    const hb = Buffer.alloc(28);
    readExactly(fd, hb, 0, path);
    const [dim, hidden, layers, heads, kvHeads, vocabRaw, seqLen] = Array.from({ length: 7 }, (_, i) => hb.readInt32LE(4 * i)) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const vocab = Math.abs(vocabRaw);
    const shared = vocabRaw > 0;
    const bad = (name: string, v: number) => {
      throw new FormatError(`${path}: header field ${name} = ${v} is out of range`, { hint: "is this a llama2.c .bin checkpoint (legacy format, version 0)?" });
    };
    for (const [name, v] of [
      ["dim", dim],
      ["hidden_dim", hidden],
      ["n_layers", layers],
      ["n_heads", heads],
      ["n_kv_heads", kvHeads],
      ["vocab_size", vocab],
      ["seq_len", seqLen],
    ] as const) {
      if (!(v >= 1 && v <= MAX_DIM * 16)) bad(name, v);
    }
    if (dim % heads !== 0) bad("dim (not a multiple of n_heads)", dim);
    if (heads % kvHeads !== 0) bad("n_kv_heads (does not divide n_heads)", kvHeads);
    const hd = dim / heads;
    if (hd % 2 !== 0) bad("head size (odd)", hd);
    const kvDim = hd * kvHeads;
    const counts: [string, number][] = [
      ["token_embedding", vocab * dim],
      ["rms_att", layers * dim],
      ["wq", layers * dim * dim],
      ["wk", layers * kvDim * dim],
      ["wv", layers * kvDim * dim],
      ["wo", layers * dim * dim],
      ["rms_ffn", layers * dim],
      ["w1", layers * hidden * dim],
      ["w2", layers * dim * hidden],
      ["w3", layers * hidden * dim],
      ["rms_final", dim],
      ["freq_cis", seqLen * hd], // real + imag halves, unused
    ];
    if (!shared) counts.push(["classifier", vocab * dim]);
    const need = 28 + 4 * counts.reduce((a, [, n]) => a + n, 0);
    if (size !== need) {
      throw new FormatError(
        `${path}: file is ${size} bytes; a llama2.c checkpoint with this header (dim ${dim}, hidden ${hidden}, ${layers} layers, vocab ${vocab}${shared ? "" : ", untied classifier"}) is ${need} bytes`,
        { hint: "the file is truncated, padded, or not in the legacy llama2.c format" },
      );
    }
    let pos = 28;
    const read = (n: number): Float32Array => {
      const out = new Float32Array(n);
      readExactly(fd, new Uint8Array(out.buffer), pos, path);
      pos += out.byteLength;
      return out;
    };
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    const perLayer = (name: string, n: number, rows: number, cols: number, fn: (l: number, w: Float32Array) => void) => {
      const all = read(n);
      const each = rows * cols;
      for (let l = 0; l < layers; l++) fn(l, all.slice(l * each, (l + 1) * each));
      void name;
    };
    const L = (l: number, s: string) => `model.layers.${l}.${s}`;
    tensors.set("model.embed_tokens.weight", { shape: [vocab, dim], data: read(vocab * dim) });
    perLayer("rms_att", layers * dim, 1, dim, (l, w) => tensors.set(L(l, "input_layernorm.weight"), { shape: [dim], data: w }));
    perLayer("wq", layers * dim * dim, dim, dim, (l, w) =>
      tensors.set(L(l, "self_attn.q_proj.weight"), { shape: [dim, dim], data: interleavedToHalf(w, heads, hd, dim) }),
    );
    perLayer("wk", layers * kvDim * dim, kvDim, dim, (l, w) =>
      tensors.set(L(l, "self_attn.k_proj.weight"), { shape: [kvDim, dim], data: interleavedToHalf(w, kvHeads, hd, dim) }),
    );
    perLayer("wv", layers * kvDim * dim, kvDim, dim, (l, w) => tensors.set(L(l, "self_attn.v_proj.weight"), { shape: [kvDim, dim], data: w }));
    perLayer("wo", layers * dim * dim, dim, dim, (l, w) => tensors.set(L(l, "self_attn.o_proj.weight"), { shape: [dim, dim], data: w }));
    perLayer("rms_ffn", layers * dim, 1, dim, (l, w) => tensors.set(L(l, "post_attention_layernorm.weight"), { shape: [dim], data: w }));
    perLayer("w1", layers * hidden * dim, hidden, dim, (l, w) => tensors.set(L(l, "mlp.gate_proj.weight"), { shape: [hidden, dim], data: w }));
    perLayer("w2", layers * dim * hidden, dim, hidden, (l, w) => tensors.set(L(l, "mlp.down_proj.weight"), { shape: [dim, hidden], data: w }));
    perLayer("w3", layers * hidden * dim, hidden, dim, (l, w) => tensors.set(L(l, "mlp.up_proj.weight"), { shape: [hidden, dim], data: w }));
    tensors.set("model.norm.weight", { shape: [dim], data: read(dim) });
    pos += 4 * seqLen * hd; // skip freq_cis
    if (!shared) tensors.set("lm_head.weight", { shape: [vocab, dim], data: read(vocab * dim) });
    const config = validateConfig({
      modelType: "llama",
      vocabSize: vocab,
      dModel: dim,
      nLayers: layers,
      nHeads: heads,
      nKvHeads: kvHeads,
      headDim: hd,
      ffnDim: hidden,
      maxSeqLen: seqLen,
      normEps: 1e-5,
      ropeTheta: 10000,
      tieEmbeddings: shared,
      qkvBias: false,
      oBias: false,
      mlpBias: false,
      bosTokenId: vocab > 1 ? 1 : undefined,
      eosTokenId: vocab > 2 ? 2 : undefined,
    });
    return { config, tensors };
  } finally {
    closeSync(fd);
  }
}
