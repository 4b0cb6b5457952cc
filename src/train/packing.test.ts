// Packing (issue 22, point 3): several SFT examples per row with attention and positions per
// example give the same loss and adapter gradients as one example per padded row.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ShapeError } from "../errors.ts";
import { attachLora, createModel, presetConfig, validateConfig, type ModelConfig } from "../models/index.ts";
import { TOL, assertClose } from "../native/testing.ts";
import { Tape, Tensor, attention } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import { IGNORE_INDEX, SftSource, packedRows, type SftExample } from "./sft.ts";
import { batchLoss } from "./trainer.ts";

const V = 61;
function example(len: number, seed: number): SftExample {
  const r = new Rng(seed);
  const inputs = Int32Array.from({ length: len }, () => r.int(V));
  const targets = Int32Array.from({ length: len }, (_, i) => (i < 2 ? IGNORE_INDEX : r.int(V))); // a prompt, then the answer
  return { inputs, targets, line: seed };
}
const examples = [example(5, 1), example(7, 2), example(4, 3)];

// One small model per family. Gemma 3's sliding layers get a window of 4, shorter than two of the
// examples, so the window cuts inside an example and, packed, must also stop at its start.
const CONFIGS: Record<string, ModelConfig> = {
  llama: presetConfig("nano", V, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 64, maxSeqLen: 32 }),
  gpt2: presetConfig("nano", V, { modelType: "gpt2", dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 4, headDim: 8, ffnDim: 64, maxSeqLen: 32 }),
  gemma3_text: validateConfig({
    modelType: "gemma3_text",
    vocabSize: V,
    dModel: 32,
    nLayers: 3,
    nHeads: 4,
    nKvHeads: 1,
    headDim: 8,
    ffnDim: 48,
    maxSeqLen: 32,
    normEps: 1e-6,
    ropeTheta: 1e6,
    ropeLocalTheta: 1e4,
    slidingWindow: 4,
    queryPreAttnScalar: 8,
    tieEmbeddings: true,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    layerTypes: ["sliding_attention", "sliding_attention", "full_attention"],
  }),
};

for (const [family, config] of Object.entries(CONFIGS)) {
  test(`${family}: packed and unpacked batches of the same examples give the same loss and adapter gradients (full and chunked loss, checkpointing)`, () => {
    for (const [chunked, checkpoint] of [
      [false, false],
      [true, false],
      [true, true],
    ] as const) {
      const run = (pack: boolean) => {
        const model = createModel(config, 3);
        const lora = attachLora(model, { r: 4 }, 2);
        const r = new Rng(8);
        for (const a of lora.adapters.values()) r.fillNormal(a.B.data, 0, 0.05);
        const src = new SftSource(examples, pack ? 1 : 3, 0, 0, { pack, rowLen: 16 });
        const b = src.next();
        const g = new Tape({ checkpoint });
        const loss = batchLoss(model, g, b, chunked);
        g.backward(loss);
        return { b, loss: loss.data[0]!, grads: lora.namedParameters().map(([, p]) => p.grad.slice()) };
      };
      const packed = run(true),
        plain = run(false);
      const what = `${family}${chunked ? " chunked" : ""}${checkpoint ? " checkpointed" : ""}`;
      assert.deepEqual([packed.b.batch, packed.b.seqLen, [...packed.b.segments!].reduce((a, n) => a + n, 0)], [1, 16, 16], "one row of 16 holds all three");
      assert.equal(packed.b.tokens, 16);
      assert.equal(plain.b.tokens, 16, "padding is not counted as throughput");
      assertClose([packed.loss], [plain.loss], TOL.f32, `${what}: loss`);
      packed.grads.forEach((gr, i) => assertClose(gr, plain.grads[i]!, TOL.f32, `${what}: adapter tensor ${i}`));
      assert.ok(plain.grads.every((gr) => gr.some((v) => v !== 0)));
    }
  });
}

test("packed attention with a sliding window: the window counts inside each segment", () => {
  // Two segments of 6 rows in one sequence of 12, window 3: the same as two sequences of 6.
  const r = new Rng(4),
    n = 12,
    w = 8; // 2 heads of 4
  const mk = () => {
    const t = new Tensor(new Float32Array(n * w), [n, w]);
    r.fillNormal(t.data, 0, 1);
    t.requiresGrad = true;
    return t;
  };
  const q = mk(),
    k = mk(),
    v = mk();
  const dout = new Float32Array(n * w);
  r.fillNormal(dout, 0, 1);
  const pass = (opts: { batch: number; seqLen: number; segments?: Int32Array }) => {
    for (const t of [q, k, v]) t.grad = null;
    const g = new Tape();
    const out = attention(g, q, k, v, { ...opts, heads: 2, window: 3 });
    const y = out.data.slice();
    g.backward(out, dout);
    return [y, q.grad!.slice(), k.grad!.slice(), v.grad!.slice()];
  };
  const packed = pass({ batch: 1, seqLen: 12, segments: Int32Array.of(6, 6) }),
    apart = pass({ batch: 2, seqLen: 6 });
  packed.forEach((a, i) => assertClose(a, apart[i]!, TOL.f32, `output / dq / dk / dv [${i}]`));
  const crossing = pass({ batch: 1, seqLen: 12 });
  assert.ok(
    crossing[0]!.some((x, i) => Math.abs(x - packed[0]![i]!) > 1e-3),
    "without segments the window reaches into the other example",
  );
  const inference = attention(new Tape({ grad: false }), q, k, v, { batch: 1, seqLen: 12, heads: 2, window: 3, segments: Int32Array.of(6, 6) });
  assertClose(inference.data, packed[0]!, TOL.f32, "inference (causal kernel, then the window's rows) gives the same output");
});

test("packing fills rows without crossing them, takes fewer batches than one example per row, and resumes exactly", () => {
  const many = Array.from({ length: 11 }, (_, i) => example(3 + (i % 5), 10 + i));
  const src = new SftSource(many, 2, 4, 0, { pack: true, rowLen: 12 });
  const batches = [];
  while (src.epochs < 1) {
    const b = src.next();
    batches.push({ inputs: b.inputs.slice(), segments: b.segments!.slice() });
    let r = 0;
    for (const len of b.segments!) {
      assert.ok(Math.floor(r / b.seqLen) === Math.floor((r + len - 1) / b.seqLen), "no segment crosses a row");
      r += len;
    }
    assert.equal(r, b.batch * b.seqLen);
  }
  assert.ok(batches.length < 11 / 2, `${batches.length} batches of 2 rows for 11 examples`);
  assert.equal(packedRows([5, 7, 4], 12), 2);
  const again = new SftSource(many, 2, 4, 0, { pack: true, rowLen: 12 });
  again.restore({ ...src.state(), drawn: 2 });
  assert.deepEqual(again.next().inputs, batches[2]!.inputs, "resume replays the packing");
  assert.throws(() => new SftSource(many, 2, 4, 0, { pack: true, rowLen: 5 }), /cannot hold the longest example \(7 tokens\)/);
});

test("attention refuses segments that cross a sequence or do not cover the rows", () => {
  const t = (n: number) => new Tensor(new Float32Array(n * 8), [n, 8]);
  const q = t(8),
    k = t(8),
    v = t(8);
  assert.throws(
    () => attention(new Tape(), q, k, v, { batch: 2, seqLen: 4, heads: 2, segments: Int32Array.of(3, 2, 3) }),
    (e: unknown) => e instanceof ShapeError && /crosses the end of a sequence/.test(e.message),
  );
  assert.throws(() => attention(new Tape(), q, k, v, { batch: 2, seqLen: 4, heads: 2, segments: Int32Array.of(4, 3) }), /cover 7 rows/);
});
