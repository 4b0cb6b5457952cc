// Test and benchmark helpers for the formats: a random Llama-family model in
// our in-memory form, a small trained byte-level BPE tokenizer and a small
// SentencePiece-style one (merges learned here by plain BPE counting over
// "▁"-prefixed words, with <0xXX> byte fallback). Deterministic for a seed.
// Not part of the library API; knows nothing about files.
import type { ModelConfig } from "../models/config.ts";
import { Tokenizer, specialToken } from "../tokenizer/tokenizer.ts";
import { trainBpe } from "../tokenizer/train.ts";
import { Rng } from "../util/rng.ts";
import { expectedShapes, type ModelWeights } from "./gguf-llama.ts";

/**
 * Random weights (normal, std `std`, default 0.02; biases std 0.1; norm scales around 1: stored
 * weights around 1, or around 0 for Gemma's (1 + w)) for every tensor the config needs. At 0.02
 * attention scores are near zero and attention is nearly uniform; a check that must see RoPE and
 * the attention pattern needs a larger std (bench/interop/models.ts).
 */
export function randomModel(config: ModelConfig, seed = 1, std = 0.02): ModelWeights {
  const rng = new Rng(seed);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const normMean = config.modelType === "gemma3_text" ? 0 : 1;
  for (const [name, shape] of expectedShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = name.endsWith("norm.weight")
      ? rng.fillNormal(new Float32Array(n), normMean, 0.1)
      : rng.fillNormal(new Float32Array(n), 0, name.endsWith("bias") ? 0.1 : std);
    tensors.set(name, { shape, data });
  }
  return { config, tensors };
}

export const SAMPLE_TEXT = [
  "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs on.",
  "Small language models can be trained on a laptop, then served to a browser.",
  "Tokens, merges and vocabularies: the tokenizer turns text into numbers and back.",
  "A model file holds weights, a configuration and the tokenizer that goes with it.",
  "Über straße café — 数据 模型 😀 123 4567 x_y = f(x) + 1;",
];

/** A byte-level BPE tokenizer trained on SAMPLE_TEXT (cl100k/llama3 regex unless told). */
export async function tinyByteLevel(vocabSize = 400, pattern: "cl100k" | "gpt2" | "qwen" = "cl100k"): Promise<Tokenizer> {
  function* corpus(): Generator<string> {
    for (let i = 0; i < 20; i++) yield* SAMPLE_TEXT; // an iterable of texts (a string array would be file paths)
  }
  return trainBpe(corpus(), { vocabSize, pattern, minFrequency: 2 });
}

/** A Llama-2-style SentencePiece BPE tokenizer (<unk>, <s>, </s>, 256 byte tokens, characters, learned merges). */
export function tinySentencePiece(merges = 120): Tokenizer {
  const vocab = new Map<string, number>([
    ["<unk>", 0],
    ["<s>", 1],
    ["</s>", 2],
  ]);
  for (let b = 0; b < 256; b++) vocab.set(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, 3 + b);
  const words = new Map<string, number>();
  for (const line of SAMPLE_TEXT) for (const w of line.split(" ")) words.set(`\u2581${w}`, (words.get(`\u2581${w}`) ?? 0) + 1);
  // Characters seen (except a few, so byte fallback is exercised).
  for (const w of words.keys()) for (const ch of w) if (!vocab.has(ch) && !"😀数".includes(ch)) vocab.set(ch, vocab.size);
  let split = [...words].map(([w, n]) => ({ syms: Array.from(w).filter((ch) => vocab.has(ch)), n }));
  const learned: Array<[string, string]> = [];
  for (let m = 0; m < merges; m++) {
    const counts = new Map<string, number>();
    for (const { syms, n } of split)
      for (let i = 0; i + 1 < syms.length; i++) {
        const k = `${syms[i]}\u0000${syms[i + 1]}`;
        counts.set(k, (counts.get(k) ?? 0) + n);
      }
    let best = "",
      bestN = 1;
    for (const [k, n] of counts) if (n > bestN || (n === bestN && best !== "" && k < best)) [best, bestN] = [k, n];
    if (best === "") break;
    const [a, b] = best.split("\u0000") as [string, string];
    learned.push([a, b]);
    if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);
    split = split.map(({ syms, n }) => {
      const out: string[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(syms[i]!);
      }
      return { syms: out, n };
    });
  }
  return new Tokenizer({
    model: { kind: "sentencepiece", vocab, merges: learned, byteFallback: true, unkToken: "<unk>", ignoreMerges: false },
    normalizer: [],
    preTokenizer: { type: "metaspace", replacement: "\u2581", prependScheme: "first", split: false },
    decodeStripLeadingSpace: true,
    addedTokens: [specialToken("<unk>", 0), specialToken("<s>", 1), specialToken("</s>", 2)],
    postProcessor: { prefix: [1], suffix: [] },
    config: { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>" },
  });
}
