// Interop check: GGUF files written by slmkit, loaded by real llama.cpp.
// Writes a tiny random Llama model with (a) a trained byte-level BPE tokenizer
// and (b) a SentencePiece-style one, each as f32, f16, q8_0 and q4_0; loads
// every file with node-llama-cpp's prebuilt llama.cpp (CPU only); reports
// whether it loaded, the vocabulary size llama.cpp sees, whether llama.cpp's
// tokenization of a sample equals ours, and greedy next tokens; and saves
// llama.cpp's log-probabilities for a fixed token sequence to a JSON file, to
// compare with our model's logits (log-softmax) once the model code lands.
//
// node-llama-cpp is NOT a dependency of slmkit. Install it outside the repo:
//   mkdir -p /work/interop && cd /work/interop && npm init -y
//   npm install node-llama-cpp@3.21.1 @node-llama-cpp/linux-x64@3.21.1 --ignore-scripts
//   (then delete node_modules/@node-llama-cpp/*cuda* *vulkan* if npm added them)
// and run from the repo root:
//   SLM_NODE_LLAMA_CPP=/work/interop node --import tsx bench/interop/llamacpp.ts [out.json]
// SLM_NODE_LLAMA_CPP is the directory whose node_modules holds node-llama-cpp.
// Without it the script prints a skip message and exits 0.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import { validateConfig } from "../../src/models/config.ts";
import { readLlamaGguf, writeLlamaGguf, type GgufExportDtype } from "../../src/formats/gguf-llama.ts";
import { randomModel, SAMPLE_TEXT, tinyByteLevel, tinySentencePiece } from "../../src/formats/testing.ts";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.ts";

async function loadNodeLlamaCpp(): Promise<any | null> {
  const root = process.env.SLM_NODE_LLAMA_CPP;
  if (!root) return null;
  const pkgDir = join(root, "node_modules", "node-llama-cpp");
  if (!existsSync(join(pkgDir, "package.json"))) return null;
  const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
  const entry = pkg.exports?.["."]?.import ?? pkg.main ?? "dist/index.js";
  return import(pathToFileURL(join(pkgDir, entry)).href);
}

const nlc = await loadNodeLlamaCpp();
if (!nlc) {
  console.log(JSON.stringify({ skipped: "node-llama-cpp not found: set SLM_NODE_LLAMA_CPP to the directory holding node_modules/node-llama-cpp (see the top of this file)" }));
  process.exit(0);
}

const outPath = process.argv[2] ?? "bench/interop/llamacpp-logprobs.json";
const dir = mkdtempSync(join(tmpdir(), "slm-interop-"));
const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: "error" });
const sample = SAMPLE_TEXT.join(" ");
const results: any[] = [];

async function check(kind: string, tok: Tokenizer): Promise<void> {
  const eos = tok.tokenToId("</s>") ?? tok.specialTokens["<|endoftext|>"];
  const bos = tok.tokenToId("<s>") ?? eos;
  const config = validateConfig({
    modelType: "llama", vocabSize: tok.vocabSize, dModel: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 16, ffnDim: 128, maxSeqLen: 128,
    normEps: 1e-5, ropeTheta: 10000, tieEmbeddings: kind === "bytelevel", qkvBias: false, oBias: false, mlpBias: false, bosTokenId: bos, eosTokenId: eos,
  });
  const model = randomModel(config, 42);
  // A fixed token sequence: our encoding of the first sample sentence.
  const seq = tok.encode(SAMPLE_TEXT[0]!).slice(0, 16);
  for (const dtype of ["f32", "f16", "q8_0", "q4_0"] as GgufExportDtype[]) {
    const path = join(dir, `${kind}-${dtype}.gguf`);
    writeLlamaGguf(path, model, { dtype, tokenizer: tok, name: `slmkit-interop-${kind}` });
    const ours = readLlamaGguf(path);
    const r: any = { kind, dtype, loaded: false };
    try {
      const m = await llama.loadModel({ modelPath: path });
      r.loaded = true;
      r.vocabularyType = m.vocabularyType;
      // llama.cpp refuses a file whose token list and token_embd rows disagree, so loading checks the size;
      // node-llama-cpp's own GGUF parser reports the token count, llama.cpp the special ids it resolved.
      r.vocabSize = { ours: tok.vocabSize, ggufParser: m.fileInfo?.metadata?.tokenizer?.ggml?.tokens?.length ?? null };
      r.llamaCppSpecial = { bos: m.tokens.bos, eos: m.tokens.eos, bosString: m.tokens.bosString, eosString: m.tokens.eosString };
      const theirs: number[] = Array.from(m.tokenize(sample, false));
      const mine = ours.tokenizer!.encode(sample, { allowedSpecial: "none" });
      r.tokensEqual = JSON.stringify(theirs) === JSON.stringify(mine);
      r.tokenCount = { llamaCpp: theirs.length, ours: mine.length };
      if (!r.tokensEqual) {
        let i = 0;
        while (i < theirs.length && theirs[i] === mine[i]) i++;
        r.firstDifference = { index: i, llamaCpp: theirs.slice(i, i + 5), ours: mine.slice(i, i + 5) };
      }
      r.detokenizeOk = m.detokenize(theirs) === sample;
      const ctx = await m.createContext({ contextSize: 128, threads: 2 });
      const s = ctx.getSequence();
      const input = seq.map((t, i) => (i === seq.length - 1 ? [t, { generateNext: { probabilities: true, token: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] : t));
      const out = await s.controlledEvaluate(input);
      const last = out[seq.length - 1];
      const probs: Map<number, number> = last?.next?.probabilities ?? new Map();
      const logp = new Array(tok.vocabSize).fill(null);
      for (const [t, p] of probs) logp[t] = Math.log(p);
      let argmax = -1;
      for (let i = 0; i < logp.length; i++) if (logp[i] !== null && (argmax < 0 || logp[i] > logp[argmax])) argmax = i;
      r.probabilitiesReturned = probs.size;
      r.greedyNext = argmax;
      r.logprobs = { inputIds: seq, lastPosition: logp };
      await ctx.dispose();
      // Greedy generation: 8 tokens after the sequence.
      const ctx2 = await m.createContext({ contextSize: 128, threads: 2 });
      const gen: number[] = [];
      for await (const t of ctx2.getSequence().evaluate(seq, { temperature: 0 })) {
        gen.push(t);
        if (gen.length >= 8) break;
      }
      r.greedy8 = gen;
      r.greedy8Text = ours.tokenizer!.decode(gen);
      await ctx2.dispose();
      await m.dispose();
    } catch (e) {
      r.error = (e as Error).message;
    }
    results.push(r);
  }
}

try {
  await check("bytelevel", await tinyByteLevel(400));
  await check("sentencepiece", tinySentencePiece());
} finally {
  rmSync(dir, { recursive: true, force: true });
}
writeFileSync(outPath, JSON.stringify(results, null, 1) + "\n");
// Cross-dtype agreement of llama.cpp's own next-token log-probabilities (f32 as the reference).
for (const kind of ["bytelevel", "sentencepiece"]) {
  const ref = results.find((r) => r.kind === kind && r.dtype === "f32")?.logprobs?.lastPosition as (number | null)[] | undefined;
  for (const r of results.filter((x) => x.kind === kind)) {
    if (!ref || !r.logprobs) continue;
    let worst = 0;
    for (let i = 0; i < ref.length; i++) if (ref[i] !== null && r.logprobs.lastPosition[i] !== null) worst = Math.max(worst, Math.abs(ref[i]! - r.logprobs.lastPosition[i]));
    r.maxAbsLogprobDiffVsF32 = worst;
  }
}
for (const r of results) {
  const { logprobs: _l, ...summary } = r;
  console.log(JSON.stringify(summary));
}
console.log(JSON.stringify({ savedTo: outPath }));
