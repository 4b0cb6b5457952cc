import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { ConfigError, FormatError } from "../errors.ts";
import { validateConfig, type ModelConfig } from "../models/config.ts";
import { GgufFile, kvNumber, kvString, writeGguf } from "./gguf.ts";
import { ggufToHfName, hfToGgufName, readLlamaGguf, writeLlamaGguf } from "./gguf-llama.ts";
import { blockScale, ERROR_BUDGETS } from "./quant.ts";
import { halfToInterleaved } from "./rope-permute.ts";
import { randomModel, SAMPLE_TEXT, tinyByteLevel, tinySentencePiece } from "./testing.ts";

const dir = mkdtempSync(join(tmpdir(), "slm-ggufl-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function tinyConfig(vocabSize: number, over: Partial<ModelConfig> = {}): ModelConfig {
  return validateConfig({
    modelType: "llama",
    vocabSize,
    dModel: 64,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 16,
    ffnDim: 96,
    maxSeqLen: 128,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieEmbeddings: true,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    bosTokenId: 1,
    eosTokenId: 2,
    ...over,
  });
}

test("tensor names map both ways", () => {
  assert.equal(hfToGgufName("model.layers.3.self_attn.k_proj.weight"), "blk.3.attn_k.weight");
  assert.equal(hfToGgufName("model.layers.0.mlp.down_proj.weight"), "blk.0.ffn_down.weight");
  assert.equal(hfToGgufName("lm_head.weight"), "output.weight");
  assert.equal(ggufToHfName("blk.1.ffn_norm.weight"), "model.layers.1.post_attention_layernorm.weight");
  assert.equal(ggufToHfName("token_embd.weight"), "model.embed_tokens.weight");
  assert.equal(hfToGgufName("model.layers.0.foo"), undefined);
});

test("f32 export -> import gives bit-identical tensors and config, metadata as llama.cpp expects", async () => {
  const tok = await tinyByteLevel(320);
  for (const over of [{}, { tieEmbeddings: false }, { modelType: "qwen2" as const, qkvBias: true }]) {
    const eot = tok.specialTokens["<|endoftext|>"]!;
    const model = randomModel(tinyConfig(tok.vocabSize, { bosTokenId: eot, eosTokenId: eot, ...over }), 3);
    const p = join(dir, "f32.gguf");
    const rep = writeLlamaGguf(p, model, { dtype: "f32", tokenizer: tok, name: "tiny" });
    assert.ok(rep.tensors.every((t) => t.type === "F32"));
    const back = readLlamaGguf(p);
    assert.deepEqual(back.config, model.config);
    assert.equal(back.name, "tiny");
    assert.equal(back.tensors.size, model.tensors.size);
    for (const [n, t] of model.tensors) assert.deepEqual(back.tensors.get(n), t, n);
    assert.deepEqual(back.tokenizer!.encode(SAMPLE_TEXT[4]!), tok.encode(SAMPLE_TEXT[4]!));
    const f = GgufFile.open(p);
    try {
      const arch = over.modelType === "qwen2" ? "qwen2" : "llama";
      assert.equal(back.architecture, arch);
      assert.equal(kvString(f.kv, "general.architecture"), arch);
      assert.equal(kvNumber(f.kv, `${arch}.block_count`), 2);
      assert.equal(kvNumber(f.kv, `${arch}.attention.head_count_kv`), 2);
      assert.equal(kvNumber(f.kv, `${arch}.rope.dimension_count`), 16);
      assert.equal(kvNumber(f.kv, "general.file_type"), 0);
      assert.deepEqual(f.info("blk.0.attn_q.weight").shape, [64, 64]);
      assert.deepEqual(f.info("blk.1.attn_k.weight").shape, [32, 64]);
      assert.equal(f.has("output.weight"), over.tieEmbeddings === false);
      // llama stores q/k rows interleaved; qwen2 keeps rotate-half.
      const q = model.tensors.get("model.layers.0.self_attn.q_proj.weight")!.data;
      const stored = f.readFloat32("blk.0.attn_q.weight").data;
      assert.deepEqual(stored, arch === "llama" ? halfToInterleaved(q, 4, 16, 64) : q);
      if (arch === "qwen2") assert.ok(f.has("blk.0.attn_q.bias") && !f.has("blk.0.attn_output.bias"));
    } finally {
      f.close();
    }
  }
});

test("f16, q8_0 and q4_0 exports stay within the per-type budgets; head kept at Q8_0 under q4_0", () => {
  const tok = tinySentencePiece();
  const model = randomModel(tinyConfig(tok.vocabSize, { tieEmbeddings: false }), 5);
  for (const dtype of ["f16", "q8_0", "q4_0"] as const) {
    const p = join(dir, `${dtype}.gguf`);
    const rep = writeLlamaGguf(p, model, { dtype, tokenizer: tok });
    const types = new Map(rep.tensors.map((t) => [t.name, t.type]));
    assert.equal(types.get("blk.0.attn_norm.weight"), "F32");
    assert.equal(types.get("blk.0.ffn_down.weight"), { f16: "F16", q8_0: "Q8_0", q4_0: "Q4_0" }[dtype]);
    assert.equal(types.get("output.weight"), { f16: "F16", q8_0: "Q8_0", q4_0: "Q8_0" }[dtype]);
    const back = readLlamaGguf(p);
    assert.deepEqual(back.config, model.config);
    for (const [n, t] of model.tensors) {
      const got = back.tensors.get(n)!.data;
      const type = types.get(hfToGgufName(n)!)!;
      const budget = ERROR_BUDGETS[type];
      const bs = type === "Q8_0" || type === "Q4_0" ? 32 : 1;
      // q/k rows were permuted before quantizing, so compare against the permuted blocks' scales:
      // a block is 32 consecutive values of one row, and permutation moves whole rows.
      let errSq = 0,
        sq = 0;
      for (let i = 0; i < t.data.length; i += bs) {
        const blk = t.data.subarray(i, i + bs);
        const d = bs === 1 ? Math.abs(blk[0]!) : blockScale(type, blk);
        for (let j = 0; j < bs; j++) {
          const e = Math.abs(got[i + j]! - blk[j]!);
          assert.ok(e <= budget.maxAbsPerScale * d + budget.absFloor, `${dtype} ${n}[${i + j}]: ${e}`);
          errSq += e * e;
          sq += blk[j]! * blk[j]!;
        }
      }
      assert.ok(Math.sqrt(errSq / sq) <= budget.relRms, `${dtype} ${n}: relative RMS ${Math.sqrt(errSq / sq)}`);
    }
    const probe = "The model file holds weights. ☃";
    assert.deepEqual(back.tokenizer!.encode(probe, { addSpecialTokens: true }), tok.encode(probe, { addSpecialTokens: true }));
  }
});

test("unsupported models are ConfigErrors; inconsistent files FormatErrors", () => {
  const model = randomModel(tinyConfig(300), 1);
  const p = join(dir, "x.gguf");
  const gpt2 = { ...model, config: { ...model.config, modelType: "gpt2" as const, nKvHeads: 4, qkvBias: true, oBias: true, mlpBias: true } };
  assert.throws(
    () => writeLlamaGguf(p, gpt2),
    (e: unknown) => e instanceof ConfigError && /GPT-2/.test(e.message),
  );
  const missing = { config: model.config, tensors: new Map(model.tensors) };
  missing.tensors.delete("model.layers.1.mlp.up_proj.weight");
  assert.throws(() => writeLlamaGguf(p, missing), /no tensor "model.layers.1.mlp.up_proj.weight"/);
  assert.throws(() => writeLlamaGguf(p, model, { dtype: "q5_k" as "f32" }), /dtype "q5_k"/);
  // A file whose metadata disagrees with its tensors.
  writeLlamaGguf(p, model, { dtype: "f32" });
  const f = GgufFile.open(p);
  const kv = new Map(f.kv);
  const tensors = f.tensorNames.map((n) => ({ name: n, shape: f.info(n).shape, type: "F32" as const, data: f.readFloat32(n).data }));
  f.close();
  const variant = (edit: (k: typeof kv, t: typeof tensors) => void, re: RegExp) => {
    const k2 = new Map(kv);
    const t2 = tensors.map((t) => ({ ...t }));
    edit(k2, t2);
    const q = join(dir, "bad.gguf");
    writeGguf(q, k2, t2);
    assert.throws(
      () => readLlamaGguf(q),
      (e: unknown) => e instanceof FormatError && re.test(e.message),
      String(re),
    );
  };
  variant((k) => k.set("llama.feed_forward_length", { type: "u32", value: 128 }), /blk\.0\.ffn_gate\.weight" has shape \[96,64\].*\[128,64\]/);
  variant((k) => k.delete("llama.block_count"), /llama\.block_count is missing/);
  // A corrupted context_length (found by the fuzz test: the RoPE tables of 570M positions were a RangeError).
  variant((k) => k.set("llama.context_length", { type: "u32", value: 570_425_344 }), /context_length 570425344 is beyond the 1048576 positions we load/);
  // A corrupted block_count (found by the fuzz test: 2^24 layers ran expectedShapes out of Map entries after ~100 s).
  variant((k) => k.set("llama.block_count", { type: "u32", value: 1 << 24 }), /block_count 16777216 needs at least 150994944 tensors, the file has \d+/);
  variant((k) => k.set("general.architecture", { type: "string", value: "falcon" }), /architecture "falcon"/);
  variant(
    (_k, t) =>
      t.splice(
        t.findIndex((x) => x.name === "blk.1.attn_v.weight"),
        1,
      ),
    /"blk\.1\.attn_v\.weight" is missing/,
  );
  variant((_k, t) => t.push({ name: "blk.0.ffn_gate_exps.weight", shape: [1], type: "F32", data: new Float32Array(1) }), /ffn_gate_exps.*not part/);
  variant((k) => k.set("llama.attention.head_count", { type: "u32", value: 3 }), /head_count|num_attention_heads|multiple/);
});

test("a vocabulary larger than the tokenizer is padded with unused tokens (llama.cpp needs one token per embedding row)", async () => {
  const tok = await tinyByteLevel(300, "qwen");
  const model = randomModel(tinyConfig(tok.vocabSize + 13, { modelType: "qwen2", qkvBias: true }), 4);
  const p = join(dir, "padded.gguf");
  writeLlamaGguf(p, model, { dtype: "f32", tokenizer: tok });
  const f = GgufFile.open(p);
  try {
    const tokens = f.kv.get("tokenizer.ggml.tokens")!.value as string[];
    const types = f.kv.get("tokenizer.ggml.token_type")!.value as Int32Array;
    assert.equal(tokens.length, tok.vocabSize + 13);
    assert.equal(types.length, tok.vocabSize + 13);
    assert.equal(tokens[tok.vocabSize], `[PAD${tok.vocabSize}]`);
    for (let i = tok.vocabSize; i < tokens.length; i++) assert.equal(types[i], 5, `token ${i} is unused`);
    assert.equal(tokens[tok.vocabSize - 1], tok.idToToken(tok.vocabSize - 1));
  } finally {
    f.close();
  }
  const back = readLlamaGguf(p);
  assert.equal(back.config.vocabSize, tok.vocabSize + 13);
  assert.deepEqual(back.tokenizer!.encode(SAMPLE_TEXT[2]!), tok.encode(SAMPLE_TEXT[2]!));
});
