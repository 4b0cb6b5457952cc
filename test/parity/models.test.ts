// Model parity with the plain PyTorch reference (tools/reference/models.py):
// for tiny Llama (GQA, untied head), Qwen2-style (q/k/v biases, tied head),
// GPT-2, Qwen3 (q/k norm, head_dim != hidden/heads), Gemma 3 (sliding window
// that cuts, two RoPE bases, linear scaling on the global layer) and Llama
// with each rope_scaling type (llama3; linear with SmolLM2's 15/5 heads;
// yarn) configurations, our logits, loss and every parameter gradient match
// the fixtures in test/fixtures/models, on every kernel backend.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { loadHfTensors } from "../../src/formats/hf-weights.ts";
import { SafetensorsFile } from "../../src/formats/safetensors.ts";
import { createModel, fromHfConfig } from "../../src/models/index.ts";
import { forEachBackend, using } from "../../src/native/testing.ts";
import { Tape, crossEntropy } from "../../src/tensor/index.ts";

const root = join(import.meta.dirname, "..", "fixtures", "models");
const LOGITS_ATOL = 1e-4;
const GRAD_RTOL = 1e-3;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** ‖a − b‖ / ‖b‖: relative error of a whole gradient tensor. */
function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0,
    den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12);
}

const FIXTURES = ["llama-gqa", "qwen2-tied", "gpt2", "qwen3", "gemma3", "llama-rope-llama3", "llama-rope-linear-15h", "llama-rope-yarn"];

for (const name of FIXTURES) {
  forEachBackend(`parity ${name}`, (c) => {
    test("logits, loss and gradients match PyTorch", () =>
      using(c, () => {
        const dir = join(root, name);
        const config = fromHfConfig(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")));
        const model = createModel(config);
        const weights = SafetensorsFile.open(join(dir, "model.safetensors"));
        loadHfTensors(model, (n) => weights.readFloat32(n), weights.names, name);
        weights.close();
        const inputs = JSON.parse(readFileSync(join(dir, "inputs.json"), "utf8")) as { ids: number[][]; targets: number[][] };
        const B = inputs.ids.length,
          T = inputs.ids[0]!.length;
        const ids = Int32Array.from(inputs.ids.flat());
        const targets = Int32Array.from(inputs.targets.flat());

        const expected = SafetensorsFile.open(join(dir, "expected.safetensors"));
        const g = new Tape();
        const logits = model.forward(g, ids, B, T);
        const want = expected.readFloat32("logits").data;
        const dl = maxAbsDiff(logits.data, want);
        assert.ok(dl <= LOGITS_ATOL, `logits max abs error ${dl.toExponential(2)} > ${LOGITS_ATOL}`);

        const loss = crossEntropy(g, logits, targets, { ignoreIndex: -100 });
        const wantLoss = expected.readFloat32("loss").data[0]!;
        assert.ok(Math.abs(loss.data[0]! - wantLoss) <= 1e-5, `loss ${loss.data[0]} vs ${wantLoss}`);

        g.backward(loss);
        for (const [pname, p] of model.namedParameters()) {
          let wantGrad = expected.readFloat32(`grad.${pname}`).data;
          if (config.modelType === "gpt2" && /\.(c_attn|c_proj|c_fc)\.weight$/.test(pname)) {
            const [rows, cols] = [p.shape[1]!, p.shape[0]!]; // HF (in, out) → ours (out, in)
            const t = new Float32Array(wantGrad.length);
            for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) t[k * rows + r] = wantGrad[r * cols + k]!;
            wantGrad = t;
          }
          const e = relErr(p.grad!, wantGrad);
          assert.ok(e <= GRAD_RTOL, `${pname}: gradient relative error ${e.toExponential(2)} > ${GRAD_RTOL}`);
        }
        expected.close();
      }));
  });
}
