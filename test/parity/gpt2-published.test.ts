// GPT-2 parity with a published figure, not with our PyTorch reference: OpenAI's
// GPT-2 small (the Hugging Face "gpt2" config: vocabulary 50,257, 1,024
// positions, width 768, 12 layers, 12 heads, tied embeddings) has 124,439,808
// parameters. Our Gpt2Model built from that config.json must hold exactly that
// many, and countParameters must agree. A GPT-2 block misread the same way in
// our model and in tools/reference/models.py (a missing bias, an untied head,
// the MLP width) passes test/parity/models.test.ts but not this. The model is
// built with initialisation skipped, so its 124M-value arrays stay untouched
// zero pages (~0.1 s, ~100 MB).
import assert from "node:assert/strict";
import { test } from "node:test";

import { Gpt2Model } from "../../src/models/gpt2.ts";
import { countParameters, fromHfConfig } from "../../src/models/index.ts";
import { Rng } from "../../src/util/rng.ts";

const GPT2_SMALL_PARAMETERS = 124_439_808;

test("GPT-2 small from its official config.json has the published 124,439,808 parameters", () => {
  const config = fromHfConfig({
    model_type: "gpt2",
    vocab_size: 50257,
    n_positions: 1024,
    n_ctx: 1024,
    n_embd: 768,
    n_layer: 12,
    n_head: 12,
    n_inner: null,
    activation_function: "gelu_new",
    layer_norm_epsilon: 1e-5,
    bos_token_id: 50256,
    eos_token_id: 50256,
  });
  assert.equal(config.tieEmbeddings, true, "GPT-2 ties its head to the token embeddings");
  const noInit = new Rng(0);
  noInit.fillNormal = (a: Float32Array) => a; // shapes only: skip drawing 124M random numbers
  const model = new Gpt2Model(config, noInit);
  const params = model.namedParameters();
  assert.equal(new Set(params.map(([, p]) => p)).size, params.length, "a parameter is listed twice");
  const total = params.reduce((a, [, p]) => a + p.size, 0);
  assert.equal(total, GPT2_SMALL_PARAMETERS, `our GPT-2 small has ${total} parameters`);
  assert.equal(countParameters(config).total, GPT2_SMALL_PARAMETERS);
});
