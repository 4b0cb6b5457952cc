// GGUF for the 2025-26 architectures: qwen3 (attn_q_norm / attn_k_norm),
// gemma3 ((1 + w) norms stored as the scale, sandwich norms, sliding-window
// keys) and Llama with rope_scaling (llama3 as rope_freqs.weight, linear and
// yarn as rope.scaling.* keys). Our export reads back to the same model; files
// built here by hand the way llama.cpp's converter writes them (its tensor
// names, its +1 on Gemma norms, its defaults left out) load in ours and give
// the logits of the Hugging Face model they came from.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { ConfigError } from "../errors.ts";
import { createModel, validateConfig, type ModelConfig } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { GgufFile, gv, kvNumber, kvString, writeGguf, type GgufTensorToWrite, type GgufValue } from "./gguf.ts";
import { readLlamaGguf, writeLlamaGguf, type ModelWeights } from "./gguf-llama.ts";
import { loadGgufModel } from "./hf-dir.ts";
import { loadHfTensors } from "./hf-weights.ts";
import { randomModel } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-gguf-arch-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const base = {
  vocabSize: 97,
  dModel: 48,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  headDim: 16,
  ffnDim: 64,
  maxSeqLen: 128,
  normEps: 1e-6,
  ropeTheta: 10000,
  tieEmbeddings: true,
  qkvBias: false,
  oBias: false,
  mlpBias: false,
  bosTokenId: 1,
  eosTokenId: 2,
};
const qwen3 = (): ModelConfig => validateConfig({ ...base, modelType: "qwen3", dModel: 32, ropeTheta: 1e6 }); // head_dim 16 != 32 / 4
const gemma3 = (over: Partial<ModelConfig> = {}): ModelConfig =>
  validateConfig({
    ...base,
    modelType: "gemma3_text",
    nLayers: 4,
    nKvHeads: 1,
    ropeTheta: 1e6,
    ropeLocalTheta: 10000,
    slidingWindow: 3,
    queryPreAttnScalar: 16,
    layerTypes: ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
    ...over,
  });
const llama = (ropeScaling: ModelConfig["ropeScaling"]): ModelConfig =>
  validateConfig({ ...base, modelType: "llama", tieEmbeddings: false, ...(ropeScaling ? { ropeScaling } : {}) });
const LLAMA3 = { type: "llama3" as const, factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 };

/** Our logits for ids from HF-named tensors, the model built straight from them. */
function hfLogits(w: ModelWeights, ids: Int32Array): Float32Array {
  const m = createModel(w.config);
  loadHfTensors(m, (n) => w.tensors.get(n), w.tensors.keys());
  return m.forward(new Tape({ grad: false }), ids, 1, ids.length).data;
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const IDS = Int32Array.from([1, 5, 9, 17, 33, 2, 8, 60, 61, 3]); // 10 tokens: past the window of 3

test("f32 export -> import: same config, same tensors, same logits (qwen3, gemma3, llama with each rope_scaling)", () => {
  const configs: [string, ModelConfig][] = [
    ["qwen3", qwen3()],
    ["gemma3", gemma3()],
    ["gemma3 linear", gemma3({ ropeScaling: { type: "linear", factor: 8 } })],
    ["llama3 rope", llama(LLAMA3)],
    ["linear rope", llama({ type: "linear", factor: 4 })],
    ["yarn rope", llama({ type: "yarn", factor: 4, originalMaxPositions: 32, betaFast: 32, betaSlow: 1, attentionFactor: 1.25, truncate: true })],
  ];
  for (const [what, c] of configs) {
    const w = randomModel(c, 7);
    const p = join(dir, "rt.gguf");
    writeLlamaGguf(p, w, { dtype: "f32" });
    const back = readLlamaGguf(p);
    const wantConfig =
      c.ropeScaling?.type === "yarn"
        ? {
            ...c,
            ropeScaling: { ...c.ropeScaling, attentionFactor: back.config.ropeScaling!.type === "yarn" ? back.config.ropeScaling!.attentionFactor : NaN },
          }
        : c;
    assert.deepEqual(back.config, wantConfig, what);
    if (c.ropeScaling?.type === "yarn")
      assert.ok(Math.abs((back.config.ropeScaling as { attentionFactor: number }).attentionFactor - 1.25) < 1e-6, `${what}: attention factor`);
    for (const [n, t] of w.tensors) {
      const got = back.tensors.get(n)!;
      assert.deepEqual(got.shape, t.shape, n);
      // Gemma's norms go through 1 + w and back in float32: equal to rounding.
      assert.ok(maxAbs(got.data, t.data) <= (c.modelType === "gemma3_text" && n.endsWith("norm.weight") ? 1e-7 : 0), `${what}: ${n}`);
    }
    assert.ok(maxAbs(hfLogits(back, IDS), hfLogits(w, IDS)) < 1e-5, `${what}: logits`);
  }
});

test("what our export stores: architecture names, llama.cpp tensor names, keys, +1 on Gemma norms, rope_freqs", () => {
  const g = randomModel(gemma3(), 3);
  let p = join(dir, "g.gguf");
  writeLlamaGguf(p, g, { dtype: "f32" });
  let f = GgufFile.open(p);
  try {
    assert.equal(kvString(f.kv, "general.architecture"), "gemma3");
    assert.equal(kvNumber(f.kv, "gemma3.attention.sliding_window"), 3);
    assert.equal(kvNumber(f.kv, "gemma3.attention.sliding_window_pattern"), 2);
    assert.equal(kvNumber(f.kv, "gemma3.rope.freq_base_swa"), 10000);
    assert.equal(kvNumber(f.kv, "gemma3.attention.key_length"), 16);
    for (const n of ["attn_norm", "attn_q_norm", "attn_k_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"]) assert.ok(f.has(`blk.1.${n}.weight`), n);
    const w = g.tensors.get("model.layers.1.pre_feedforward_layernorm.weight")!.data;
    assert.deepEqual(
      f.readFloat32("blk.1.ffn_norm.weight").data,
      Float32Array.from(w, (x) => x + 1),
    );
  } finally {
    f.close();
  }
  p = join(dir, "q.gguf");
  writeLlamaGguf(p, randomModel(qwen3(), 3), { dtype: "f16" });
  f = GgufFile.open(p);
  try {
    assert.equal(kvString(f.kv, "general.architecture"), "qwen3");
    assert.equal(kvNumber(f.kv, "qwen3.attention.key_length"), 16);
    assert.deepEqual(f.info("blk.0.attn_q.weight").shape, [64, 32]);
    assert.deepEqual(f.info("blk.0.attn_k_norm.weight").shape, [16]);
  } finally {
    f.close();
  }
  p = join(dir, "l3.gguf");
  writeLlamaGguf(p, randomModel(llama(LLAMA3), 3), { dtype: "f16" });
  f = GgufFile.open(p);
  try {
    assert.equal(f.info("rope_freqs.weight").type.name, "F32");
    const fr = f.readFloat32("rope_freqs.weight").data;
    assert.equal(fr.length, 8);
    assert.equal(fr[0], 1);
    assert.equal(fr[7], 32);
    assert.equal(kvString(f.kv, "llama.rope.scaling.type"), undefined);
  } finally {
    f.close();
  }
});

test("export refuses what llama.cpp cannot express, before writing", () => {
  const p = join(dir, "refused.gguf");
  assert.throws(
    () => writeLlamaGguf(p, randomModel(gemma3({ queryPreAttnScalar: 24 }), 1)),
    (e: unknown) => e instanceof ConfigError && /query_pre_attn_scalar is 24/.test(e.message),
  );
  assert.throws(
    () => writeLlamaGguf(p, randomModel(gemma3({ layerTypes: ["sliding_attention", "full_attention", "full_attention", "sliding_attention"] }), 1)),
    /repeat with a period/,
  );
  assert.throws(
    () => writeLlamaGguf(p, randomModel(validateConfig({ ...base, modelType: "qwen2", qkvBias: true, ropeScaling: LLAMA3 }), 1)),
    /llama architecture only/,
  );
  assert.throws(
    () =>
      writeLlamaGguf(
        p,
        randomModel(llama({ type: "yarn", factor: 4, originalMaxPositions: 32, betaFast: 16, betaSlow: 1, attentionFactor: 1, truncate: true }), 1),
      ),
    /beta_fast/,
  );
  assert.throws(() => GgufFile.open(p), /./, "nothing was written");
});

// ---- files as llama.cpp's converter (convert_hf_to_gguf.py) writes them, built here without our writer

const CONVERTER_LAYER: Record<string, string> = {
  "input_layernorm.weight": "attn_norm.weight",
  "self_attn.q_proj.weight": "attn_q.weight",
  "self_attn.k_proj.weight": "attn_k.weight",
  "self_attn.v_proj.weight": "attn_v.weight",
  "self_attn.o_proj.weight": "attn_output.weight",
  "self_attn.q_norm.weight": "attn_q_norm.weight",
  "self_attn.k_norm.weight": "attn_k_norm.weight",
  "mlp.gate_proj.weight": "ffn_gate.weight",
  "mlp.up_proj.weight": "ffn_up.weight",
  "mlp.down_proj.weight": "ffn_down.weight",
};

/** Interleave q/k rows per head as the converter's LlamaModel.permute does (rotate-half -> pairs). */
function converterPermute(w: Float32Array, heads: number, cols: number): Float32Array {
  const rows = w.length / cols,
    hd = rows / heads,
    out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < hd / 2; i++)
      for (const half of [0, 1]) {
        out.set(w.subarray((h * hd + half * (hd / 2) + i) * cols, (h * hd + half * (hd / 2) + i + 1) * cols), (h * hd + 2 * i + half) * cols);
      }
  return out;
}

function converterFile(
  path: string,
  arch: "qwen3" | "gemma3" | "llama",
  w: ModelWeights,
  extraKv: [string, GgufValue][] = [],
  extraTensors: GgufTensorToWrite[] = [],
): void {
  const c = w.config;
  const kv: [string, GgufValue][] = [
    ["general.architecture", gv.str(arch)],
    [`${arch}.context_length`, gv.u32(c.maxSeqLen)],
    [`${arch}.embedding_length`, gv.u32(c.dModel)],
    [`${arch}.block_count`, gv.u32(c.nLayers)],
    [`${arch}.feed_forward_length`, gv.u32(c.ffnDim)],
    [`${arch}.attention.head_count`, gv.u32(c.nHeads)],
    [`${arch}.attention.head_count_kv`, gv.u32(c.nKvHeads)],
    [`${arch}.rope.freq_base`, gv.f32(c.ropeTheta)],
    [`${arch}.attention.layer_norm_rms_epsilon`, gv.f32(c.normEps)],
    [`${arch}.attention.key_length`, gv.u32(c.headDim)],
    [`${arch}.attention.value_length`, gv.u32(c.headDim)],
    ...extraKv,
  ];
  const layer: Record<string, string> =
    arch === "gemma3"
      ? {
          ...CONVERTER_LAYER,
          "post_attention_layernorm.weight": "post_attention_norm.weight",
          "pre_feedforward_layernorm.weight": "ffn_norm.weight",
          "post_feedforward_layernorm.weight": "post_ffw_norm.weight",
        }
      : { ...CONVERTER_LAYER, "post_attention_layernorm.weight": "ffn_norm.weight" };
  const tensors: GgufTensorToWrite[] = [...extraTensors];
  for (const [hf, t] of w.tensors) {
    let name: string;
    if (hf === "model.embed_tokens.weight") name = "token_embd.weight";
    else if (hf === "model.norm.weight") name = "output_norm.weight";
    else if (hf === "lm_head.weight") name = "output.weight";
    else {
      const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf)!;
      name = `blk.${m[1]}.${layer[m[2]!]!}`;
    }
    let data = t.data;
    if (arch === "gemma3" && hf.endsWith("norm.weight")) data = Float32Array.from(data, (x) => x + 1);
    if (arch === "llama" && /[qk]_proj\.weight$/.test(hf)) data = converterPermute(data, hf.includes("q_proj") ? c.nHeads : c.nKvHeads, c.dModel);
    tensors.push({ name, shape: t.shape, type: t.shape.length === 2 ? "F16" : "F32", data });
  }
  writeGguf(path, kv, tensors);
}

test("GGUF files laid out as llama.cpp's converter writes them load in ours with the HF model's logits", () => {
  // qwen3
  let w = randomModel(qwen3(), 11);
  let p = join(dir, "conv-qwen3.gguf");
  converterFile(p, "qwen3", w);
  let m = loadGgufModel(p);
  assert.equal(m.config.modelType, "qwen3");
  const f16 = (x: ModelWeights) => ({
    config: x.config,
    tensors: new Map([...x.tensors].map(([n, t]) => [n, { shape: t.shape, data: t.shape.length === 2 ? roundF16(t.data) : t.data }])),
  });
  assert.ok(maxAbs(m.model.forward(new Tape({ grad: false }), IDS, 1, IDS.length).data, hfLogits(f16(w), IDS)) < 1e-4, "qwen3 logits");

  // gemma3 (Gemma-3-270M's converter output: sliding_window only; pattern 6 and local base 10000 are llama.cpp's defaults)
  const g = gemma3({
    nLayers: 7,
    slidingWindow: 4,
    queryPreAttnScalar: 16,
    layerTypes: Array.from({ length: 7 }, (_, i) => ((i + 1) % 6 === 0 ? "full_attention" : "sliding_attention")),
  });
  w = randomModel(g, 12);
  p = join(dir, "conv-gemma3.gguf");
  converterFile(p, "gemma3", w, [["gemma3.attention.sliding_window", gv.u32(4)]]);
  m = loadGgufModel(p);
  assert.deepEqual(m.config.layerTypes, g.layerTypes);
  assert.equal(m.config.ropeLocalTheta, 10000);
  assert.ok(maxAbs(m.model.forward(new Tape({ grad: false }), IDS, 1, IDS.length).data, hfLogits(f16(w), IDS)) < 1e-4, "gemma3 logits");

  // Llama 3.2: rope_freqs.weight computed as the converter does (wavelength bands), q/k permuted
  w = randomModel(llama(LLAMA3), 13);
  const inv = Array.from({ length: 8 }, (_, i) => 1 / 10000 ** ((2 * i) / 16));
  const freqs = Float32Array.from(inv, (fq) => {
    const wave = (2 * Math.PI) / fq;
    if (wave < 8192 / 4) return 1;
    if (wave > 8192 / 1) return 32;
    const smooth = (8192 / wave - 1) / (4 - 1);
    return 1 / ((1 - smooth) / 32 + smooth);
  });
  p = join(dir, "conv-llama3.gguf");
  converterFile(p, "llama", w, [["llama.rope.dimension_count", gv.u32(16)]], [{ name: "rope_freqs.weight", shape: [8], type: "F32", data: freqs }]);
  m = loadGgufModel(p);
  assert.deepEqual(m.config.ropeScaling, LLAMA3);
  assert.ok(maxAbs(m.model.forward(new Tape({ grad: false }), IDS, 1, IDS.length).data, hfLogits(f16(w), IDS)) < 1e-4, "llama3 logits");
});

/** Values rounded through float16 (the converter's storage of matrices here). */
function roundF16(a: Float32Array): Float32Array {
  const p = join(dir, "round.gguf");
  writeGguf(p, [["general.architecture", gv.str("x")]], [{ name: "t", shape: [a.length], type: "F16", data: a }]);
  const f = GgufFile.open(p);
  try {
    return f.readFloat32("t").data;
  } finally {
    f.close();
  }
}
