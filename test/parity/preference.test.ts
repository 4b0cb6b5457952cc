// Preference losses (DPO sigmoid, IPO, DPO + chosen NLL, ORPO) against PyTorch on the tiny Llama
// of test/fixtures/models/llama-gqa: the loss and the gradient of every LoRA
// adapter (reference = the model with its adapters switched off) and of every
// weight in full fine-tuning, on every kernel backend. Fixtures:
// tools/reference/make_preference_fixtures.py → test/fixtures/preference.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { loadHfTensors } from "../../src/formats/hf-weights.ts";
import { SafetensorsFile } from "../../src/formats/safetensors.ts";
import { attachLora, createModel, fromHfConfig, type CausalLM } from "../../src/models/index.ts";
import { forEachBackend, using } from "../../src/native/testing.ts";
import { Tape } from "../../src/tensor/index.ts";
import type { PreferenceLossOptions } from "../../src/train/dpo-loss.ts";
import type { PreferenceBatch } from "../../src/train/preference-data.ts";
import { PreferenceTrainLoss, withAdaptersOff } from "../../src/train/preference.ts";
import { sequenceLogProbs } from "../../src/train/sequence-logprobs.ts";

const fixtures = join(import.meta.dirname, "..", "fixtures");
const dir = join(fixtures, "preference");
/** Relative error of a whole gradient tensor, ‖got − want‖ / ‖want‖. */
const GRAD_RTOL = 1e-3;
/** Relative error of a loss or a log-probability. */
const VALUE_RTOL = 1e-4;

const inputs = JSON.parse(readFileSync(join(dir, "inputs.json"), "utf8")) as {
  model: string;
  pairs: number;
  ids: number[][];
  targets: number[][];
  lora: { r: number; alpha: number; targets: string[] };
  beta: number;
  orpo_lambda: number;
  rpo_alpha: number;
};
const rows = inputs.ids.length,
  T = inputs.ids[0]!.length;
const batch: PreferenceBatch = {
  inputs: Int32Array.from(inputs.ids.flat()),
  targets: Int32Array.from(inputs.targets.flat()),
  batch: rows,
  seqLen: T,
  pairIds: Int32Array.from({ length: inputs.pairs }, (_, i) => i),
};
const LOSSES: [string, PreferenceLossOptions][] = [
  ["dpo_sigmoid", { objective: "dpo", loss: "sigmoid", beta: inputs.beta, orpoLambda: inputs.orpo_lambda }],
  ["dpo_ipo", { objective: "dpo", loss: "ipo", beta: inputs.beta, orpoLambda: inputs.orpo_lambda }],
  ["dpo_rpo", { objective: "dpo", loss: "sigmoid", beta: inputs.beta, orpoLambda: inputs.orpo_lambda, rpoAlpha: inputs.rpo_alpha }],
  ["orpo", { objective: "orpo", loss: "sigmoid", beta: inputs.beta, orpoLambda: inputs.orpo_lambda }],
];

function baseModel(): CausalLM {
  const mdir = join(fixtures, "models", inputs.model);
  const model = createModel(fromHfConfig(JSON.parse(readFileSync(join(mdir, "config.json"), "utf8"))));
  const w = SafetensorsFile.open(join(mdir, "model.safetensors"));
  loadHfTensors(model, (n) => w.readFloat32(n), w.names, inputs.model);
  w.close();
  return model;
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0,
    den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12);
}

function logProbs(model: CausalLM): Float32Array {
  const g = new Tape({ grad: false });
  return sequenceLogProbs(g, model.hidden(g, batch.inputs, rows, T), model.headWeight, batch.targets, rows).data.slice();
}

forEachBackend("preference parity", (c) => {
  test("LoRA: sequence log-probs, reference (adapters off), losses and adapter gradients match PyTorch", () =>
    using(c, () => {
      const expected = SafetensorsFile.open(join(dir, "expected.safetensors"));
      const model = baseModel();
      const lora = attachLora(model, { r: inputs.lora.r, alpha: inputs.lora.alpha, targets: inputs.lora.targets });
      const ad = SafetensorsFile.open(join(dir, "adapters.safetensors"));
      const params = lora.namedParameters();
      assert.deepEqual(params.map(([n]) => n).sort(), [...ad.names].sort());
      for (const [n, p] of params) p.data.set(ad.readFloat32(n).data);
      ad.close();
      const ref = withAdaptersOff(lora, () => logProbs(model));
      assert.ok(relErr(ref, expected.readFloat32("lora.ref_logps").data) <= VALUE_RTOL, "reference log-probs");
      assert.ok(relErr(logProbs(model), expected.readFloat32("lora.logps").data) <= VALUE_RTOL, "policy log-probs");
      for (const [name, opts] of LOSSES) {
        for (const [, p] of params) p.grad!.fill(0);
        const g = new Tape();
        const loss = new PreferenceTrainLoss(model, opts, opts.objective === "dpo" ? ref : null).compute(g, model.hidden(g, batch.inputs, rows, T), batch);
        const want = expected.readFloat32(`lora.${name}.loss`).data[0]!;
        assert.ok(Math.abs(loss.data[0]! - want) <= VALUE_RTOL * Math.abs(want), `${name}: loss ${loss.data[0]} vs PyTorch ${want}`);
        g.backward(loss);
        for (const [n, p] of params) {
          const e = relErr(p.grad!, expected.readFloat32(`lora.${name}.grad.${n}`).data);
          assert.ok(e <= GRAD_RTOL, `${name} ${n}: gradient relative error ${e.toExponential(2)} > ${GRAD_RTOL}`);
        }
      }
      expected.close();
    }));

  test("full fine-tuning: losses and the gradient of every weight (the head's included) match PyTorch", () =>
    using(c, () => {
      const expected = SafetensorsFile.open(join(dir, "expected.safetensors"));
      const model = baseModel();
      assert.ok(relErr(logProbs(model), expected.readFloat32("full.logps").data) <= VALUE_RTOL, "policy log-probs");
      const ref = expected.readFloat32("lora.logps").data; // the fixture's reference: the adapted model
      for (const [name, opts] of LOSSES) {
        for (const p of model.parameters()) p.grad?.fill(0);
        const g = new Tape();
        const loss = new PreferenceTrainLoss(model, opts, opts.objective === "dpo" ? ref : null).compute(g, model.hidden(g, batch.inputs, rows, T), batch);
        const want = expected.readFloat32(`full.${name}.loss`).data[0]!;
        assert.ok(Math.abs(loss.data[0]! - want) <= VALUE_RTOL * Math.abs(want), `${name}: loss ${loss.data[0]} vs PyTorch ${want}`);
        g.backward(loss);
        for (const [n, p] of model.namedParameters()) {
          const e = relErr(p.grad!, expected.readFloat32(`full.${name}.grad.${n}`).data);
          assert.ok(e <= GRAD_RTOL, `${name} ${n}: gradient relative error ${e.toExponential(2)} > ${GRAD_RTOL}`);
        }
      }
      expected.close();
    }));
});
