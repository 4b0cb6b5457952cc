import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { FormatError } from "../errors.ts";
import { loadAdapter } from "../formats/peft.ts";
import { tinyByteLevel } from "../formats/testing.ts";
import { createModel, presetConfig, validateConfig, type CausalLM } from "../models/index.ts";
import { Tape, crossEntropy } from "../tensor/index.ts";
import { Tokenizer } from "../tokenizer/index.ts";
import { finetune } from "./finetune.ts";
import { IGNORE_INDEX, SftSource, encodeExamples, parseChatJsonl, splitExamples, sftValidation, type ChatExample } from "./sft.ts";

const root = mkdtempSync(join(tmpdir(), "slm-sft-"));
after(() => rmSync(root, { recursive: true, force: true }));
const tok = await tinyByteLevel(400);

function model(seed = 0): CausalLM {
  return createModel(presetConfig("nano", tok.vocabSize, { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 48, maxSeqLen: 96 }), seed);
}

const chat: ChatExample = {
  line: 1,
  messages: [
    { role: "system", content: "You answer briefly." },
    { role: "user", content: "The quick brown fox jumps over the lazy dog?" },
    { role: "assistant", content: "The dog sleeps; the fox runs on." },
  ],
};

/** Per-position loss terms -log p(target) (0 where the target is ignored) and dLoss/dlogits rows. */
function lossTerms(m: CausalLM, inputs: Int32Array, targets: Int32Array): { terms: number[]; grad: Float32Array; V: number } {
  const g = new Tape();
  const logits = m.forward(g, inputs, 1, inputs.length);
  const V = logits.cols;
  const terms = Array.from(targets, (tg, t) => {
    if (tg === IGNORE_INDEX) return 0;
    const row = logits.data.subarray(t * V, (t + 1) * V);
    let mx = -Infinity;
    for (const v of row) mx = Math.max(mx, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - mx);
    return Math.log(s) + mx - row[tg]!;
  });
  g.backward(crossEntropy(g, logits, targets));
  return { terms, grad: logits.grad!.slice(), V };
}

test("loss mask: only assistant tokens are targets; changing a token inside a user turn changes no loss term at that position", () => {
  const { examples } = encodeExamples(tok, [chat], 95);
  const ex = examples[0]!;
  const trained = [...ex.targets].filter((t) => t !== IGNORE_INDEX);
  assert.equal(tok.decode(trained), "The dog sleeps; the fox runs on.<|im_end|>");
  // Positions whose predicted token lies in the user turn.
  const enc = tok.applyChatTemplate(chat.messages);
  const userStart = enc.text.indexOf(chat.messages[1]!.content);
  const { starts } = tok.encodeWithOffsets(enc.text);
  const userTok = starts
    .map((s, i) => [s, i] as const)
    .filter(([s]) => s >= userStart && s < userStart + chat.messages[1]!.content.length)
    .map(([, i]) => i);
  assert.ok(userTok.length > 3);
  const p = userTok[Math.floor(userTok.length / 2)]!; // a token inside the user turn
  const m = model(1);
  const before = lossTerms(m, ex.inputs, ex.targets);
  const inputs2 = ex.inputs.slice();
  inputs2[p] = (inputs2[p]! + 17) % tok.vocabSize;
  assert.notEqual(inputs2[p], ex.inputs[p]);
  const after2 = lossTerms(m, inputs2, ex.targets);
  for (const t of [p - 1, p]) {
    assert.equal(ex.targets[t], IGNORE_INDEX, `position ${t} (in the user turn) is not a target`);
    assert.equal(before.terms[t], 0);
    assert.equal(after2.terms[t], 0, "the changed user token contributes no loss term at its position");
    for (const gr of [before.grad, after2.grad])
      assert.ok(
        gr.subarray(t * before.V, (t + 1) * before.V).every((v) => v === 0),
        "and no gradient",
      );
  }
  // Causality: every loss term before the change is identical.
  for (let t = 0; t < p; t++) assert.equal(after2.terms[t], before.terms[t]);
  // Assistant positions do have loss terms.
  assert.ok(before.terms.filter((v) => v > 0).length === trained.length);
});

test("parseChatJsonl: line-numbered errors for bad lines; blank lines skipped", () => {
  const good = JSON.stringify({ messages: chat.messages });
  assert.equal(parseChatJsonl(`${good}\n\n${good}\n`).length, 2);
  assert.equal(parseChatJsonl(`${good}\n\n${good}\n`)[1]!.line, 3);
  const cases: Array<[string, RegExp]> = [
    [`${good}\n{not json`, /f\.jsonl:2: not valid JSON/],
    [`{"msgs": []}`, /f\.jsonl:1: expected an object with a "messages" array/],
    [`{"messages": []}`, /:1: "messages" is empty/],
    [`{"messages": [{"role": "robot", "content": "x"}]}`, /messages\[0\]\.role must be/],
    [`{"messages": [{"role": "user", "content": 3}]}`, /messages\[0\]\.content must be a string/],
    [`{"messages": [{"role": "user", "content": "hi"}]}`, /no assistant message/],
  ];
  for (const [text, re] of cases)
    assert.throws(
      () => parseChatJsonl(text, "f.jsonl"),
      (e: Error) => e instanceof FormatError && re.test(e.message),
      re.source,
    );
});

test("batches: one example per row, padded at the end with ignored targets; epochs reshuffle; resume restores the order", () => {
  const exs = [
    chat,
    { ...chat, messages: [chat.messages[1]!, { role: "assistant", content: "Yes." }] },
    {
      ...chat,
      messages: [
        { role: "user", content: "Tokens?" },
        { role: "assistant", content: "Numbers and back." },
      ],
    },
  ];
  const { examples } = encodeExamples(tok, exs, 95);
  const src = new SftSource(examples, 2, 7, 1);
  const b = src.next();
  assert.equal(b.batch, 2);
  const lens = examples.map((e) => e.inputs.length);
  assert.ok(lens.includes(b.seqLen) && b.seqLen <= Math.max(...lens));
  for (let r = 0; r < 2; r++) {
    const row = b.targets.subarray(r * b.seqLen, (r + 1) * b.seqLen);
    const ex = examples.find((e) => e.inputs.every((v, i) => b.inputs[r * b.seqLen + i] === v))!;
    assert.ok(ex, "each row starts with one whole example");
    assert.ok(
      row.subarray(ex.inputs.length).every((v) => v === IGNORE_INDEX),
      "padding is never a target",
    );
    assert.ok(
      b.inputs.subarray(r * b.seqLen + ex.inputs.length, (r + 1) * b.seqLen).every((v) => v === 1),
      "padded with padId",
    );
  }
  const seq = (s: SftSource, n: number) => Array.from({ length: n }, () => Array.from(s.next().inputs.slice(0, 4)).join(","));
  const a = new SftSource(examples, 2, 7);
  const first = seq(a, 3);
  const st = a.state();
  const rest = seq(a, 4);
  const c = new SftSource(examples, 2, 7);
  c.restore(st);
  assert.deepEqual(seq(c, 4), rest);
  assert.equal(seq(new SftSource(examples, 2, 7), 3).join("|"), first.join("|"));
  // Truncation keeps the start; an example without assistant tokens left is dropped.
  const short = encodeExamples(tok, exs, 8);
  assert.ok(short.stats.dropped + short.stats.examples === 3 && short.stats.truncated >= 1);
  // Validation batches: every example once, in order.
  const val = [...sftValidation(examples, 2)()];
  assert.deepEqual(
    val.map((v) => v.batch),
    [2, 1],
  );
  const sp = splitExamples([...Array(20).keys()], 0.1, 3);
  assert.equal(sp.val.length, 2);
  assert.deepEqual(
    [...sp.train, ...sp.val].sort((x, y) => x - y),
    [...Array(20).keys()],
  );
});

const data: ChatExample[] = Array.from({ length: 24 }, (_, i) => ({
  line: i + 1,
  messages: [
    { role: "user", content: ["Tell me about tokens.", "What is a model file?", "Who is quick?"][i % 3]! },
    { role: "assistant", content: ["Tokens, merges and vocabularies.", "A model file holds weights.", "The quick brown fox."][i % 3]! },
  ],
}));

test("finetune --method lora: trains only the adapters, val loss falls, writes a loadable PEFT adapter, metrics and summary", async () => {
  const m = model(2);
  // A random base has tiny logits (tied head, std 0.02), which no change of the hidden states
  // can move far; widen the embedding so adapters have a head worth steering.
  for (const v of m.parameters()) if (v.shape[0] === tok.vocabSize) for (let i = 0; i < v.size; i++) v.data[i]! *= 25;
  const w0 = m.parameters().map((p) => p.data.slice());
  const runDir = join(root, "lora");
  const r = await finetune({
    model: m,
    tokenizer: tok,
    examples: data,
    method: "lora",
    lora: { r: 8, alpha: 32 },
    config: { maxSteps: 30, batch: 4, lr: 3e-2, evalEvery: 10, logEvery: 5 },
    runDir,
    baseModel: "tiny",
  });
  m.parameters().forEach((p, i) => assert.deepEqual(p.data, w0[i], "the base weights did not move"));
  const metrics = readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const evals = metrics.filter((x) => x.type === "eval").map((x) => x.valLoss as number);
  assert.ok(evals.length >= 3 && evals[evals.length - 1]! < evals[0]! - 0.3, `val loss falls: ${evals.join(", ")}`);
  const summary = JSON.parse(readFileSync(join(runDir, "summary.json"), "utf8"));
  assert.equal(summary.trainableParams, r.lora!.numParameters());
  assert.equal(summary.memory.gradientBytes, 4 * r.lora!.numParameters());
  assert.equal(summary.memory.optimizerBytes, 8 * r.lora!.numParameters());
  assert.ok(summary.tokensPerS > 0 && summary.finalValLoss === r.finalValLoss);
  assert.equal(metrics[metrics.length - 1]!.type, "summary");
  // The saved adapter reproduces the trained model's outputs on a fresh base.
  const ids = Int32Array.from(
    data[0]!.messages[0]!.content.split("")
      .map((_, i) => (i * 3) % tok.vocabSize)
      .slice(0, 12),
  );
  const want = m.forward(new Tape({ grad: false }), ids, 1, ids.length).data.slice();
  const fresh = model(2);
  fresh.parameters().forEach((p, i) => p.data.set(w0[i]!));
  loadAdapter(join(runDir, "adapter"), fresh);
  const got = fresh.forward(new Tape({ grad: false }), ids, 1, ids.length).data;
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-5);
  assert.ok(existsSync(join(runDir, "finetune-config.json")));
});

test("finetune --method full: every parameter trains and a model directory is written", async () => {
  const m = model(3);
  const w0 = m.parameters().map((p) => p.data.slice());
  const runDir = join(root, "full");
  const warnings: string[] = [];
  const r = await finetune({
    model: m,
    tokenizer: tok,
    examples: data,
    method: "full",
    config: { maxSteps: 6, batch: 4, lr: 1e-3, evalEvery: 3 },
    runDir,
    memoryBudgetBytes: 1000,
    onEvent: (e) => e.type === "warn" && warnings.push(e.message),
  });
  assert.equal(r.lora, null);
  assert.equal(warnings.length, 1, "one warning before training: the estimate exceeds the budget");
  assert.match(warnings[0]!, /^estimated peak memory \d+ MB exceeds the free memory \(0 MB\): weights \d+ MB, gradients \+ optimizer \d+ MB/);
  assert.ok(r.memoryEstimate.trainingStateBytes === 12 * m.numParameters() && !r.checkpointing && r.packing);
  assert.ok(m.parameters().every((p, i) => p.data.some((v, j) => v !== w0[i]![j])));
  assert.ok(existsSync(join(runDir, "model", "model.safetensors")));
  const summary = JSON.parse(readFileSync(join(runDir, "summary.json"), "utf8"));
  assert.equal(summary.memory.optimizerBytes, 8 * m.numParameters());
});

test("finetune packs by default on every family (GPT-2: learned positions, Gemma 3: sliding windows)", async () => {
  const configs = {
    gpt2: presetConfig("nano", tok.vocabSize, { modelType: "gpt2", dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 4, headDim: 8, ffnDim: 48, maxSeqLen: 96 }),
    gemma3_text: validateConfig({
      modelType: "gemma3_text",
      vocabSize: tok.vocabSize,
      dModel: 32,
      nLayers: 2,
      nHeads: 4,
      nKvHeads: 1,
      headDim: 8,
      ffnDim: 48,
      maxSeqLen: 96,
      normEps: 1e-6,
      ropeTheta: 1e6,
      ropeLocalTheta: 1e4,
      slidingWindow: 8,
      queryPreAttnScalar: 8,
      tieEmbeddings: true,
      qkvBias: false,
      oBias: false,
      mlpBias: false,
      layerTypes: ["sliding_attention", "full_attention"],
    }),
  };
  for (const [family, config] of Object.entries(configs)) {
    const r = await finetune({
      model: createModel(config, 1),
      tokenizer: tok,
      examples: data,
      method: "lora",
      config: { maxSteps: 2, batch: 2, evalEvery: 2 },
      runDir: join(root, `pack-${family}`),
    });
    assert.ok(r.packing, `${family}: packing is the default`);
    assert.ok(Number.isFinite(r.finalValLoss), `${family}: trained and evaluated`);
  }
});

test("an empty chat_template is 'no template' even beside ChatML tokens, and the error says so", () => {
  const plain = new Tokenizer({ ...tok.spec, config: { ...tok.spec.config, chat_template: "" } });
  assert.ok(plain.specialTokens["<|im_start|>"] !== undefined, "the test tokenizer has ChatML tokens");
  const ex: ChatExample[] = [
    {
      line: 1,
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: "hello" },
      ],
    },
  ];
  assert.throws(() => encodeExamples(plain, ex, 64), /sets an empty chat_template/);
  assert.doesNotThrow(() => encodeExamples(tok, ex, 64));
});
