// LoRA over a frozen quantized base (issue 22, point 1): the adapters' gradients over a q8_0 /
// q4_0 base equal those over the float32 base holding the same (dequantized) values.
import assert from "node:assert/strict";
import { test } from "node:test";

import { UsageError } from "../errors.ts";
import { dequantize, quantize } from "../formats/quant.ts";
import { qweight, type QType } from "../native/ops/qgemm.ts";
import { TOL, assertClose, forEachBackend, quantizedModelTol, using } from "../native/testing.ts";
import { Tape, crossEntropy, linearCrossEntropy } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import { attachLora, createModel, presetConfig, type CausalLM } from "./index.ts";

const V = 101;
const config = presetConfig("nano", V, { dModel: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 16, ffnDim: 128, maxSeqLen: 32 }); // widths: whole blocks of 32
const B = 2,
  T = 20; // 40 rows: the quantized kernels' prefill path, as in training
const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % V);
const targets = Int32Array.from(ids, (t, i) => (i % 9 === 0 ? -100 : (t * 3 + 1) % V));

/** The same random model twice: every matrix quantized to `type`, and float32 holding the dequantized values. */
function pair(type: QType): { quant: CausalLM; float: CausalLM } {
  const quant = createModel(config, 2),
    float = createModel(config, 2);
  const fp = new Map(float.namedParameters());
  for (const [name, p] of quant.namedParameters()) {
    if (p.ndim !== 2) continue;
    const bytes = quantize(type, p.data);
    fp.get(name)!.data.set(dequantize(type, bytes, p.size));
    p.setQuantized(qweight(type, bytes, p.shape[0]!, p.shape[1]!));
  }
  return { quant, float };
}

function adapterGrads(model: CausalLM, chunked: boolean, adapted?: string[]): { loss: number; grads: Float32Array[] } {
  const lora = attachLora(model, { r: 4, ...(adapted ? { targets: adapted } : {}) }, 9);
  const r = new Rng(5);
  for (const a of lora.adapters.values()) r.fillNormal(a.B.data, 0, 0.05); // B ≠ 0: A gets a gradient too
  const g = new Tape();
  const loss = chunked
    ? linearCrossEntropy(g, model.hidden(g, ids, B, T), model.headWeight, targets, { chunkRows: 32 })
    : crossEntropy(g, model.forward(g, ids, B, T), targets);
  g.backward(loss);
  return { loss: loss.data[0]!, grads: lora.namedParameters().map(([, p]) => p.grad.slice()) };
}

forEachBackend("LoRA over a quantized base", (c) => {
  for (const type of ["Q8_0", "Q4_0"] as const) {
    test(`${type}: adapter gradients equal those over the dequantized float32 base (TOL.f32Loose; TOL.int8Act where prefill rounds activations), full and chunked loss`, () =>
      using(c, () => {
        const tol = quantizedModelTol(c, TOL.f32Loose);
        // Adapters on every projection (each frozen layer's input gradient is added from the shared
        // transient buffer), or on q and gate only (o and down have none: theirs is written straight in).
        const cases: [boolean, string[] | undefined][] = [
          [false, undefined],
          [true, undefined],
          [false, ["q", "gate"]],
        ];
        for (const [chunked, adapted] of cases) {
          const { quant, float } = pair(type);
          const q = adapterGrads(quant, chunked, adapted),
            f = adapterGrads(float, chunked, adapted);
          assertClose([q.loss], [f.loss], tol, `${type} loss`);
          q.grads.forEach((gr, i) => assertClose(gr, f.grads[i]!, tol, `${type}${chunked ? " chunked" : ""}: adapter tensor ${i}`));
          assert.ok(
            f.grads.every((gr) => gr.some((v) => v !== 0)),
            "every adapter tensor has a gradient",
          );
          assert.ok(
            quant.namedParameters().every(([, p]) => p.ndim !== 2 || (p.quant !== null && !p.requiresGrad)),
            "the base stays quantized and frozen",
          );
        }
      }));
  }
});

test("merging an adapter into a quantized weight in place is refused by name", () => {
  const { quant } = pair("Q8_0");
  const lora = attachLora(quant, { r: 2 }, 1);
  assert.throws(
    () => lora.merge(),
    (e: unknown) => e instanceof UsageError && /quantized/.test(e.message) && /slm merge/.test(String((e as UsageError).hint)),
  );
});
