// Documents to a chatting model, end to end: ingest a folder of documents
// (training a BPE tokenizer on them), pretrain a small model on the dataset
// for a few steps, save it as a Hugging Face directory, then ask it one
// question in a chat turn. A model pretrained for minutes writes text in the
// documents' style but is not trained to answer: see docs/finetune.md for
// chat fine-tuning and examples/ask.ts for cited answers.
//
//   node --conditions=slmkit-source --import tsx examples/train-chat.ts DOCS OUT [STEPS]
import { join } from "node:path";

import {
  chatPromptIds,
  createModel,
  generate,
  ingest,
  loadModel,
  openDataset,
  presetConfig,
  saveModelDir,
  stopTokenIds,
  Tokenizer,
  train,
  trainTextTokenizer,
} from "slmkit";

const [docs, out, steps = "30"] = process.argv.slice(2);
if (!docs || !out) {
  console.error("usage: train-chat.ts DOCS OUT [STEPS]");
  process.exit(2);
}

// 1. Documents → a dataset: cleaned sections, a 1,024-token BPE vocabulary, token shards.
const manifest = await ingest({ inputs: [docs], out: join(out, "dataset"), trainTokenizer: trainTextTokenizer, vocabSize: 1024 });
console.log(`ingested ${manifest.counts.documents} documents, ${manifest.tokens?.train ?? 0} training tokens`);

// 2. Pretrain the smallest preset (~1M parameters) on it.
const ds = openDataset(join(out, "dataset"));
const model = createModel(presetConfig("nano", ds.vocabSize), 1);
const result = await train({
  model,
  train: ds.train,
  val: ds.val ?? undefined,
  runDir: join(out, "run"),
  config: { maxSteps: Number(steps), batch: 4, seqLen: 64, lr: 3e-3, evalEvery: Number(steps), logEvery: 10 },
  onEvent: (e) => e.type === "eval" && console.log(`step ${e.step}: validation loss ${e.valLoss.toFixed(3)}`),
});
saveModelDir(join(out, "model"), model, { tokenizer: Tokenizer.fromFile(ds.tokenizerDir!) });
ds.close();
console.log(`trained ${result.counters.step} steps; saved ${join(out, "model")}`);

// 3. One chat turn with the saved model (its tokenizer has no chat template: a plain
//    "User: … Assistant:" prompt is used).
const m = loadModel(join(out, "model"));
const prompt = chatPromptIds(m.tokenizer!, [{ role: "user", content: "How do I request leave?" }]);
const [reply] = await generate(m.model, [prompt], { maxTokens: 30, sampling: { temperature: 0.7 }, seed: 1, stopTokenIds: stopTokenIds(m, true) });
console.log(`assistant: ${m.tokenizer!.decode(reply!.ids).trim()}`);
