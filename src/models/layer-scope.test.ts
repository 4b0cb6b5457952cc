import assert from "node:assert/strict";
import { test } from "node:test";

import { Tape } from "../tensor/index.ts";
import { createModel, KvCache, presetConfig } from "./index.ts";

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
  const two = run(2), eight = run(8);
  assert.deepEqual(eight.logits, eight.same, "rewinding the arena between layers changes nothing");
  assert.ok(eight.capacity < two.capacity * 1.2, `8 layers hold ${eight.capacity} floats, 2 layers ${two.capacity}`);
  assert.ok(eight.recorded > two.recorded * 2, "a recording tape keeps every layer's activations");
});
