// GPT-2 parity with PyTorch's own layers instead of our PyTorch reference: the
// fixture in test/fixtures/independent/gpt2-torch-nn was made by
// tools/independent/gpt2_torch_nn.py from nn.Embedding,
// nn.TransformerEncoderLayer (pre-norm, nn.MultiheadAttention, tanh GELU,
// causal mask) and nn.LayerNorm with a tied head, saved under Hugging Face
// GPT-2 names; it imports nothing from tools/reference. Loaded by our HF
// loader, our logits must equal PyTorch's on every kernel backend.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { loadModel } from "../../src/formats/hf-dir.ts";
import { SafetensorsFile } from "../../src/formats/safetensors.ts";
import { forEachBackend, using } from "../../src/native/testing.ts";
import { Tape } from "../../src/tensor/index.ts";

const dir = join(import.meta.dirname, "..", "fixtures", "independent", "gpt2-torch-nn");
/** PyTorch float32 on CPU vs ours; the logits spread over ~8.7. */
const LOGITS_ATOL = 1e-4;

forEachBackend("GPT-2 vs torch.nn layers", (c) => {
  test("logits match PyTorch's stock transformer layers loaded under HF GPT-2 names", () =>
    using(c, () => {
      const { model, config } = loadModel(dir);
      assert.equal(config.modelType, "gpt2");
      const { ids } = JSON.parse(readFileSync(join(dir, "inputs.json"), "utf8")) as { ids: number[][] };
      const B = ids.length,
        T = ids[0]!.length;
      const got = model.forward(new Tape({ grad: false }), Int32Array.from(ids.flat()), B, T).data;
      const f = SafetensorsFile.open(join(dir, "expected.safetensors"));
      const want = f.readFloat32("logits").data;
      f.close();
      assert.equal(got.length, want.length);
      let worst = 0,
        at = 0;
      for (let i = 0; i < want.length; i++) if (Math.abs(got[i]! - want[i]!) > worst) [worst, at] = [Math.abs(got[i]! - want[i]!), i];
      assert.ok(worst <= LOGITS_ATOL, `max |ours − torch.nn| ${worst.toExponential(2)} at ${at} (ours ${got[at]}, PyTorch ${want[at]})`);
    }));
});
