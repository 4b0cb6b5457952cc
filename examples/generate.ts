// Generate text from a model: load it (a Hugging Face directory, a .gguf
// file, a llama2.c .bin, or an org/name in the Hugging Face cache), encode a
// prompt, sample, print the tokens as they come.
//
//   node --conditions=slmkit-source --import tsx examples/generate.ts MODEL "Annual leave" [MAX_TOKENS]
//   (from an installed package: import from "slmkit" as below, no flags needed)
import { generate, loadModel, stopTokenIds } from "slmkit";

const [modelPath, prompt = "Once upon a time", maxTokens = "40"] = process.argv.slice(2);
if (!modelPath) {
  console.error("usage: generate.ts MODEL [PROMPT] [MAX_TOKENS]");
  process.exit(2);
}

const loaded = loadModel(modelPath);
const tok = loaded.tokenizer;
if (!tok) throw new Error(`${modelPath} has no tokenizer`);

const stream = tok.createStreamDecoder();
process.stdout.write(prompt);
const [result] = await generate(loaded.model, [tok.encode(prompt)], {
  maxTokens: Number(maxTokens),
  sampling: { temperature: 0.8, topK: 40 },
  seed: 1,
  stopTokenIds: stopTokenIds(loaded),
  onToken: (_seq, id) => void process.stdout.write(stream.push(id)),
});
process.stdout.write(`${stream.flush()}\n`);
console.error(`${result!.ids.length} tokens, finish reason: ${result!.finishReason}`);
