// Interop check on a TRAINED model: a `micro` model directory exported by us as
// GGUF (f32, q8_0, q4_0, q4_k_m), loaded by real llama.cpp (node-llama-cpp's prebuilt
// CPU build), greedy-decoded from the same prompt token ids as our own greedy
// generation; reports, per file, how many of the generated tokens match ours
// (f32 model directory as the reference) and where they first diverge, and
// also how llama.cpp compares with our own decoding of the same quantized file.
// Knows nothing about training beyond running `slm train` when no model is given.
//
// bench/interop/ is its own small package (package.json pins node-llama-cpp
// 3.21.1) so the main install stays light. No lock file is committed. Install
// it outside the repo tree (or here, never committing node_modules):
//   cd bench/interop && npm install --omit=optional
// or, as on the development machine, in /work/interop (see llamacpp.ts), then:
//   SLM_NODE_LLAMA_CPP=/work/interop node --import tsx bench/interop/micro-greedy.ts [MODEL_DIR] [--tokens N] [--prompt TEXT] [--kv F32|F16]
// SLM_NODE_LLAMA_CPP defaults to bench/interop itself. Without MODEL_DIR a micro
// model is trained first (node bin/slm.js train --data examples/handbook
// --preset micro --max-steps 150 --out /tmp/slm-micro-interop). Without
// node-llama-cpp the script prints a skip message and exits 0.
// From the package: cd bench/interop && npm run micro-greedy [-- MODEL_DIR].
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { exportModel } from "../../src/formats/convert.ts";
import { loadModel } from "../../src/formats/hf-dir.ts";
import { generate } from "../../src/infer/generate.ts";
import { loadNodeLlamaCpp } from "./node-llama-cpp.ts";

const repoRoot = join(import.meta.dirname, "..", "..");

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Number of leading equal tokens, and the first difference. */
function agreement(ours: number[], theirs: number[]) {
  let prefix = 0;
  while (prefix < ours.length && prefix < theirs.length && ours[prefix] === theirs[prefix]) prefix++;
  let matching = 0;
  for (let i = 0; i < Math.min(ours.length, theirs.length); i++) if (ours[i] === theirs[i]) matching++;
  const identical = prefix === ours.length && prefix === theirs.length;
  return {
    identical,
    matchingPrefix: prefix,
    matchingPositions: matching,
    of: ours.length,
    ...(identical ? {} : { firstDivergence: { index: prefix, ours: ours.slice(prefix, prefix + 4), llamaCpp: theirs.slice(prefix, prefix + 4) } }),
  };
}

const nlc = await loadNodeLlamaCpp(import.meta.dirname);
if (!nlc) {
  console.log(
    JSON.stringify({ skipped: "node-llama-cpp not found (set SLM_NODE_LLAMA_CPP to the directory whose node_modules holds it; see the top of this file)" }),
  );
  process.exit(0);
}

const nTokens = Number(arg("--tokens") ?? 64);
const promptText = arg("--prompt") ?? "How do I apply for leave?";
const kvType = arg("--kv") ?? "F32"; // llama.cpp's KV cache type (node-llama-cpp's default is F16)
let modelDir = process.argv.slice(2).find((a, i, all) => !a.startsWith("--") && !(i > 0 && all[i - 1]!.startsWith("--")));
if (!modelDir) {
  const out = "/tmp/slm-micro-interop";
  modelDir = join(out, "model");
  if (!existsSync(join(modelDir, "config.json"))) {
    console.error(`training a micro model into ${out} …`);
    const r = spawnSync(
      process.execPath,
      [join(repoRoot, "bin", "slm.js"), "train", "--data", join(repoRoot, "examples", "handbook"), "--preset", "micro", "--max-steps", "150", "--out", out],
      { stdio: "inherit" },
    );
    if (r.status !== 0) throw new Error(`slm train failed (${r.status})`);
  }
}

const loaded = loadModel(modelDir);
if (!loaded.tokenizer) throw new Error(`${modelDir} has no tokenizer`);
const prompt = loaded.tokenizer.encode(promptText);
const greedy = { temperature: 0 };
const [ref] = await generate(loaded.model, [prompt], { maxTokens: nTokens, sampling: greedy, stopTokenIds: [] });
const oursF32 = ref!.ids;

const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: "error" });
const dir = mkdtempSync(join(tmpdir(), "slm-micro-interop-"));
const results: any[] = [];
try {
  for (const dtype of ["f32", "q8_0", "q4_0", "q4_k_m"] as const) {
    const path = join(dir, `micro-${dtype}.gguf`);
    exportModel(loaded, path, { format: "gguf", dtype, name: "slmkit-micro" });
    // Our own greedy decoding of the same GGUF file, kept quantized as the inference commands run it.
    const mine = loadModel(path, { keepQuantized: true });
    const [own] = await generate(mine.model, [prompt], { maxTokens: nTokens, sampling: greedy, stopTokenIds: [] });
    const m = await llama.loadModel({ modelPath: path });
    // f32 KV cache unless told (node-llama-cpp defaults to f16), no flash attention, raw token
    // ids (no BOS added, no chat wrapper: evaluate() takes the ids as given).
    const ctx = await m.createContext({
      contextSize: 256,
      threads: 2,
      flashAttention: false,
      experimentalKvCacheKeyType: kvType,
      experimentalKvCacheValueType: kvType,
    });
    const kvCache = { key: nlc.GgmlType?.[ctx.kvCacheKeyType] ?? ctx.kvCacheKeyType, value: nlc.GgmlType?.[ctx.kvCacheValueType] ?? ctx.kvCacheValueType };
    const theirs: number[] = [];
    for await (const t of ctx.getSequence().evaluate(prompt, { temperature: 0, topK: 1 })) {
      theirs.push(t);
      if (theirs.length >= nTokens) break;
    }
    await ctx.dispose();
    await m.dispose();
    results.push({
      dtype,
      kvCache,
      llamaCppVsOursF32: agreement(oursF32, theirs),
      llamaCppVsOursSameFile: agreement(own!.ids, theirs),
      oursSameFileVsOursF32: agreement(oursF32, own!.ids),
      llamaCppText: loaded.tokenizer.decode(theirs),
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(
  JSON.stringify({
    model: modelDir,
    prompt: promptText,
    promptIds: prompt,
    tokens: nTokens,
    kvCacheRequested: kvType,
    oursText: loaded.tokenizer.decode(oursF32),
  }),
);
for (const r of results) console.log(JSON.stringify(r));
