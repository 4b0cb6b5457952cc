// Llama-family parity with an implementation that is not ours: real llama.cpp.
// bench/interop/llamacpp.ts wrote tiny random Llama models (two layers, GQA,
// a byte-level BPE tokenizer with a tied head, a SentencePiece one with an
// untied head) and a Qwen2-style one (q/k/v biases, llama.cpp's qwen2
// architecture) as GGUF f32 / f16 / q8_0 / q4_0 with our writer, ran them in
// llama.cpp (node-llama-cpp 3.21.1) and saved llama.cpp's next-token
// log-probabilities after 16 tokens in bench/interop/llamacpp-logprobs.json.
// Here the same files are rebuilt (the models and tokenizers are seeded) and
// loaded by our loadModel, and our log-probabilities must match llama.cpp's on
// every kernel backend. Unlike test/parity/models.test.ts, nothing goes through
// tools/reference: a misreading of the architecture shared by our model and our
// PyTorch reference (RoPE pairing, GQA head mapping, norm placement, the q/k
// permutation of our GGUF writer) shows up here. No llama.cpp needed to run it.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { writeLlamaGguf, type GgufExportDtype } from "../../src/formats/gguf-llama.ts";
import { SAMPLE_TEXT, tinyByteLevel, tinySentencePiece } from "../../src/formats/testing.ts";
import { forEachBackend, using } from "../../src/native/testing.ts";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { compareLogprobs, interopModel, ourLastLogprobs } from "../../bench/interop/models.ts";

const saved = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "bench", "interop", "llamacpp-logprobs.json"), "utf8")) as {
  kind: string;
  dtype: GgufExportDtype;
  greedyNext: number;
  logprobs?: { inputIds: number[]; lastPosition: (number | null)[] };
}[];

/**
 * max |ours − llama.cpp| allowed, in nats. Measured 2026-12-07 over the three models (weights at
 * std 0.1, INTEROP_STD): f32 ≤ 2.8e-3, f16 ≤ 2.3e-3, q8_0 ≤ 4.5e-2, q4_0 ≤ 5.2e-2. llama.cpp keeps
 * its KV cache in f16 and multiplies quantized weights by activations quantized to 8 bits; we
 * dequantize the weights and compute in float32. Its log-probabilities spread over ~4.7 nats.
 */
const TOLERANCE: Record<string, number> = { f32: 1e-2, f16: 1e-2, q8_0: 0.12, q4_0: 0.12 };

const tmp = mkdtempSync(join(tmpdir(), "slm-llamacpp-parity-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const bytelevel = await tinyByteLevel(400);
const toks: Record<string, Tokenizer> = { bytelevel, sentencepiece: tinySentencePiece(), qwen2: bytelevel };
const runs = saved.filter((r) => r.logprobs);

test("the saved llama.cpp log-probabilities cover the three models and all four dtypes, for the ids we encode today", () => {
  const want = ["bytelevel", "qwen2", "sentencepiece"].flatMap((k) => ["f16", "f32", "q4_0", "q8_0"].map((d) => `${k}/${d}`));
  assert.deepEqual(runs.map((r) => `${r.kind}/${r.dtype}`).sort(), want);
  for (const r of runs) {
    assert.deepEqual(
      r.logprobs!.inputIds,
      toks[r.kind]!.encode(SAMPLE_TEXT[0]!).slice(0, 16),
      `${r.kind}: the saved input ids are not our encoding of the sample any more; rerun bench/interop/llamacpp.ts with llama.cpp`,
    );
    const lp = r.logprobs!.lastPosition.filter((x): x is number => x !== null);
    assert.equal(lp.length, toks[r.kind]!.vocabSize, `${r.kind}/${r.dtype}: llama.cpp returned a probability for every token`);
    const spread = Math.max(...lp) - Math.min(...lp);
    assert.ok(
      spread > 20 * TOLERANCE[r.dtype]!,
      `${r.kind}/${r.dtype}: llama.cpp's log-probabilities spread over only ${spread}, too little for the tolerance to mean anything`,
    );
  }
});

forEachBackend("llama.cpp parity", (c) => {
  test("our log-probabilities of GGUF exports equal llama.cpp's (llama and qwen2; f32, f16, q8_0, q4_0; byte-level and SentencePiece vocabularies)", () =>
    using(c, () => {
      for (const r of runs) {
        const tok = toks[r.kind]!;
        const path = join(tmp, `${r.kind}-${r.dtype}.gguf`);
        writeLlamaGguf(path, interopModel(r.kind, tok), { dtype: r.dtype, tokenizer: tok, name: `slmkit-interop-${r.kind}` });
        const cmp = compareLogprobs(ourLastLogprobs(path, r.logprobs!.inputIds), r.logprobs!.lastPosition);
        assert.ok(
          cmp.maxAbsDiff <= TOLERANCE[r.dtype]!,
          `${r.kind}/${r.dtype}: max |Δ log p| vs llama.cpp ${cmp.maxAbsDiff.toExponential(2)} > ${TOLERANCE[r.dtype]}`,
        );
        assert.equal(cmp.oursArgmax, r.greedyNext, `${r.kind}/${r.dtype}: our most likely next token vs llama.cpp's`);
      }
    }));
});
