// Interop check: GGUF files written by slmkit, loaded by real llama.cpp.
// Writes a tiny random Llama model with (a) a trained byte-level BPE tokenizer
// and (b) a SentencePiece-style one, and (c) a Qwen2-style model (q/k/v biases)
// with the byte-level tokenizer, each as f32, f16, q8_0 and q4_0; loads
// every file with node-llama-cpp's prebuilt llama.cpp (CPU only); reports
// whether it loaded, the vocabulary size llama.cpp sees, whether llama.cpp's
// tokenization of a sample equals ours, and greedy next tokens; and saves
// llama.cpp's log-probabilities for a fixed token sequence to a JSON file; and
// compares them with our own: the same GGUF file loaded by our loadModel
// (dequantized to float32), log-softmax of our logits at the same position,
// max |Δ log p| per file ("oursVsLlamaCpp").
//
// Without node-llama-cpp (or with --saved), the script only rebuilds the same
// files and compares our log-probabilities with those saved in
// bench/interop/llamacpp-logprobs.json:
//   node --import tsx bench/interop/llamacpp.ts --saved
//
// node-llama-cpp is NOT a dependency of slmkit. bench/interop/ is its own small
// package pinning it (cd bench/interop && npm install --omit=optional; then
// `npm run llamacpp` there), or install it outside the repo:
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

import { readLlamaGguf, writeLlamaGguf, type GgufExportDtype } from "../../src/formats/gguf-llama.ts";
import { SAMPLE_TEXT, tinyByteLevel, tinySentencePiece } from "../../src/formats/testing.ts";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { compareLogprobs, interopModel, ourLastLogprobs } from "./models.ts";
import { loadNodeLlamaCpp } from "./node-llama-cpp.ts";

const nlc = process.argv.includes("--saved") ? null : await loadNodeLlamaCpp();
if (!nlc) {
  // Compare with the saved llama.cpp log-probabilities.
  const saved = "bench/interop/llamacpp-logprobs.json";
  if (!existsSync(saved)) {
    console.log(JSON.stringify({ skipped: "node-llama-cpp not found (set SLM_NODE_LLAMA_CPP, see the top of this file) and no saved log-probabilities" }));
    process.exit(0);
  }
  const runs = JSON.parse(readFileSync(saved, "utf8")) as any[];
  const tmp = mkdtempSync(join(tmpdir(), "slm-interop-"));
  try {
    const bytelevel = await tinyByteLevel(400);
    const toks: Record<string, Tokenizer> = { bytelevel, sentencepiece: tinySentencePiece(), qwen2: bytelevel };
    for (const r of runs) {
      if (!r.logprobs) continue;
      const tok = toks[r.kind]!;
      const path = join(tmp, `${r.kind}-${r.dtype}.gguf`);
      writeLlamaGguf(path, interopModel(r.kind, tok), { dtype: r.dtype, tokenizer: tok, name: `slmkit-interop-${r.kind}` });
      const c = compareLogprobs(ourLastLogprobs(path, r.logprobs.inputIds), r.logprobs.lastPosition);
      console.log(
        JSON.stringify({
          kind: r.kind,
          dtype: r.dtype,
          against: saved,
          oursVsLlamaCpp: c.maxAbsDiff,
          sameArgmax: c.sameArgmax,
          llamaCppGreedyNext: r.greedyNext,
          oursArgmax: c.oursArgmax,
        }),
      );
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(0);
}

const outPath = process.argv.slice(2).find((a) => !a.startsWith("--")) ?? "bench/interop/llamacpp-logprobs.json";
const dir = mkdtempSync(join(tmpdir(), "slm-interop-"));
const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: "error" });
const sample = SAMPLE_TEXT.join(" ");
const results: any[] = [];

async function check(kind: string, tok: Tokenizer): Promise<void> {
  const model = interopModel(kind, tok);
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
      const input = seq.map((t, i) =>
        i === seq.length - 1 ? [t, { generateNext: { probabilities: true, token: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] : t,
      );
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
      const c = compareLogprobs(ourLastLogprobs(path, seq), logp);
      r.oursVsLlamaCpp = c.maxAbsDiff;
      r.oursSameArgmax = c.sameArgmax;
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
  await check("qwen2", await tinyByteLevel(400));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
writeFileSync(outPath, `${JSON.stringify(results, null, 1)}\n`);
// Cross-dtype agreement of llama.cpp's own next-token log-probabilities (f32 as the reference).
for (const kind of ["bytelevel", "sentencepiece", "qwen2"]) {
  const ref = results.find((r) => r.kind === kind && r.dtype === "f32")?.logprobs?.lastPosition as (number | null)[] | undefined;
  for (const r of results.filter((x) => x.kind === kind)) {
    if (!ref || !r.logprobs) continue;
    let worst = 0;
    for (let i = 0; i < ref.length; i++)
      if (ref[i] !== null && r.logprobs.lastPosition[i] !== null) worst = Math.max(worst, Math.abs(ref[i]! - r.logprobs.lastPosition[i]));
    r.maxAbsLogprobDiffVsF32 = worst;
  }
}
for (const r of results) {
  const { logprobs: _l, ...summary } = r;
  console.log(JSON.stringify(summary));
}
console.log(JSON.stringify({ savedTo: outPath }));
