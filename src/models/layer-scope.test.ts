import assert from "node:assert/strict";
import { test } from "node:test";

import { TOL, assertClose } from "../native/testing.ts";
import { Tape, crossEntropy } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import { attachLora, createModel, KvCache, presetConfig } from "./index.ts";

test("an inference pass holds one layer's activations: the arena does not grow with the layer count, and the logits are unchanged", () => {
  const run = (layers: number) => {
    const config = presetConfig("nano", 101, { nLayers: layers, maxSeqLen: 64 });
    const model = createModel(config, 3);
    const g = new Tape({ grad: false });
    const ids = Int32Array.from({ length: 48 }, (_, i) => (i * 7 + 3) % 101);
    const logits = model.forwardCached(g, ids, 1, 48, new KvCache(config, 1, 64), Int32Array.of(0), { logits: "last" }).data.slice();
    // The same pass on a recording tape keeps everything (what backward would need).
    const rec = new Tape();
    const same = model.forwardCached(rec, ids, 1, 48, new KvCache(config, 1, 64), Int32Array.of(0), { logits: "last" }).data;
    return { capacity: g.arena.stats().capacity, recorded: rec.arena.stats().capacity, logits, same };
  };
  const two = run(2),
    eight = run(8);
  assert.deepEqual(eight.logits, eight.same, "rewinding the arena between layers changes nothing");
  assert.ok(eight.capacity < two.capacity * 1.2, `8 layers hold ${eight.capacity} floats, 2 layers ${two.capacity}`);
  assert.ok(eight.recorded > two.recorded * 2, "a recording tape keeps every layer's activations");
});

test("activation checkpointing: the same loss and gradients (full and LoRA, Llama and GPT-2), and a step holds far less", () => {
  for (const [family, lora] of [
    ["llama", false],
    ["llama", true],
    ["gpt2", true],
  ] as const) {
    const run = (checkpoint: boolean, nLayers = 6) => {
      const config = presetConfig("nano", 101, { nLayers, maxSeqLen: 64, ...(family === "gpt2" ? { modelType: "gpt2" as const } : {}) });
      const model = createModel(config, 4);
      let params = model.namedParameters().map(([, p]) => p);
      if (lora) {
        const a = attachLora(model, { r: 4 }, 9);
        for (const ad of a.adapters.values()) new Rng(5).fillUniform(ad.B.data, -0.1, 0.1); // B ≠ 0, so A gets a gradient
        params = a.namedParameters().map(([, p]) => p);
      }
      const g = new Tape({ checkpoint });
      const ids = Int32Array.from({ length: 2 * 40 }, (_, i) => (i * 7 + 3) % 101);
      const targets = Int32Array.from(ids, (t, i) => (i % 9 === 0 ? -100 : (t + 1) % 101));
      const loss = crossEntropy(g, model.forward(g, ids, 2, 40), targets);
      g.backward(loss);
      return { loss: loss.data[0]!, grads: params.map((p) => p.grad.slice()), capacity: g.arena.stats().capacity, work: g.workArena.stats().capacity };
    };
    const plain = run(false),
      ck = run(true);
    const what = `${family}${lora ? " + LoRA" : ""}`;
    assert.equal(ck.loss, plain.loss, `${what}: the forward is the same computation`);
    ck.grads.forEach((gr, i) => assertClose(gr, plain.grads[i]!, TOL.f32, `${what}: gradient ${i}`));
    assert.ok(
      plain.grads.some((gr) => gr.some((v) => v !== 0)),
      `${what}: gradients are not all zero`,
    );
    // What each added layer costs a step: its input and output, against all its activations and their gradients.
    const perLayerCk = (ck.capacity - run(true, 2).capacity) / 4,
      perLayer = (plain.capacity - run(false, 2).capacity) / 4;
    assert.ok(perLayerCk < perLayer * 0.2, `${what}: a layer adds ${perLayerCk} floats to a checkpointed step, ${perLayer} to a plain one`);
    // The forward passes and the recomputations share the work arena's slots: it holds one
    // recorded layer and its gradients (what a layer adds to a plain step), not that plus a forward.
    assert.equal(plain.work, 0, `${what}: a plain step does not use the work arena`);
    assert.ok(ck.work > 0 && ck.work <= perLayer * 1.05, `${what}: the work arena holds ${ck.work} floats, one plain layer ${perLayer}`);
    const oneLayer = run(false, 1).capacity; // a plain step of one layer: the edges plus one layer's activations
    assert.ok(
      ck.capacity < oneLayer - perLayer / 2,
      `${what}: no layer's activations are in the main arena (${ck.capacity} floats; a plain one-layer step ${oneLayer})`,
    );
  }
});
