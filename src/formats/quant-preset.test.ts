import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfigError } from "../errors.ts";
import { validateConfig } from "../models/config.ts";
import { parseStoragePreset, storageTypeFor, useMoreBits } from "./quant-preset.ts";

const config = (over = {}) =>
  validateConfig({
    modelType: "llama",
    vocabSize: 512,
    dModel: 512,
    nLayers: 16,
    nHeads: 8,
    nKvHeads: 2,
    headDim: 64,
    ffnDim: 1024,
    maxSeqLen: 64,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieEmbeddings: true,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    ...over,
  });

test("use_more_bits picks llama.cpp's layers: the first and last eighth, and every third between", () => {
  // 16 layers: eighth = 2, 7/8 = 14 → 0, 1, then (i - 2) % 3 == 2 → 4, 7, 10, 13, then 14, 15.
  assert.deepEqual(
    Array.from({ length: 16 }, (_, i) => i).filter((i) => useMoreBits(i, 16)),
    [0, 1, 4, 7, 10, 13, 14, 15],
  );
  // 24 layers (Qwen2.5-0.5B): eighth 3, 7/8 = 21.
  assert.deepEqual(
    Array.from({ length: 24 }, (_, i) => i).filter((i) => useMoreBits(i, 24)),
    [0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23],
  );
});

test("q4_k_m: Q6_K for the head and the more-bits layers' attn_v / ffn_down, Q4_K elsewhere, fallbacks for narrow rows", () => {
  const c = config();
  const t = (name: string, shape: number[]) => storageTypeFor("q4_k_m", name, shape, c);
  assert.equal(t("model.embed_tokens.weight", [512, 512]), "Q6_K"); // tied: the head
  assert.equal(t("model.layers.0.self_attn.v_proj.weight", [128, 512]), "Q6_K");
  assert.equal(t("model.layers.2.self_attn.v_proj.weight", [128, 512]), "Q4_K");
  assert.equal(t("model.layers.4.mlp.down_proj.weight", [512, 1024]), "Q6_K");
  assert.equal(t("model.layers.5.mlp.down_proj.weight", [512, 1024]), "Q4_K");
  assert.equal(t("model.layers.5.mlp.up_proj.weight", [1024, 512]), "Q4_K");
  assert.equal(t("model.layers.5.input_layernorm.weight", [512]), "F32");
  // Rows of 896 are not whole super-blocks of 256: Q4_K → Q5_0, Q6_K → Q8_0 (as llama-quantize); rows of 40 fit neither: F16.
  assert.equal(t("model.layers.5.mlp.up_proj.weight", [4864, 896]), "Q5_0");
  assert.equal(storageTypeFor("q5_k_m", "model.layers.5.mlp.up_proj.weight", [4864, 896], c), "Q5_1");
  assert.equal(t("model.layers.0.self_attn.v_proj.weight", [128, 896]), "Q8_0");
  assert.equal(t("model.layers.5.mlp.up_proj.weight", [64, 40]), "F16");
  // Untied: the embedding is an ordinary matrix, lm_head the head.
  const u = config({ tieEmbeddings: false });
  assert.equal(storageTypeFor("q4_k_m", "model.embed_tokens.weight", [512, 512], u), "Q4_K");
  assert.equal(storageTypeFor("q4_k_m", "lm_head.weight", [512, 512], u), "Q6_K");
  assert.equal(storageTypeFor("q5_k_m", "model.layers.5.mlp.up_proj.weight", [1024, 512], c), "Q5_K");
  assert.equal(storageTypeFor("q6_k", "model.layers.5.mlp.up_proj.weight", [1024, 512], c), "Q6_K");
});

test("the older presets keep their types: q4_0 with a Q8_0 head, q8_0, f16", () => {
  const c = config();
  assert.equal(storageTypeFor("q4_0", "model.embed_tokens.weight", [512, 512], c), "Q8_0");
  assert.equal(storageTypeFor("q4_0", "model.layers.1.mlp.up_proj.weight", [1024, 512], c), "Q4_0");
  assert.equal(storageTypeFor("q8_0", "model.layers.1.mlp.up_proj.weight", [1024, 512], c), "Q8_0");
  assert.equal(storageTypeFor("q8_0", "model.layers.1.mlp.up_proj.weight", [64, 40], c), "F16");
  assert.equal(storageTypeFor("f16", "model.layers.1.mlp.up_proj.weight", [64, 40], c), "F16");
  assert.equal(storageTypeFor("f32", "model.layers.1.mlp.up_proj.weight", [64, 40], c), "F32");
});

test("preset names parse case-insensitively; others are a ConfigError listing the choices", () => {
  assert.equal(parseStoragePreset("Q4_K_M"), "q4_k_m");
  assert.throws(
    () => parseStoragePreset("q3_k"),
    (e: unknown) => e instanceof ConfigError && /q3_k/.test(e.message) && /q4_k_m/.test(String((e as ConfigError).hint)),
  );
});
