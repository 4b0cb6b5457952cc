// `slm import` and `slm export` through the CLI entry point, on tiny models
// saved in temp directories: HF → HF and GGUF f32 round trips give
// bit-identical logits, f16 / q8_0 / q4_0 stay within LOGIT_BUDGETS, the real
// stories260K (llama2.c) imports, and unsupported combinations, corrupt inputs
// and bad flags exit 1 or 2 with a short message and leave nothing behind.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { LOGIT_BUDGETS } from "../formats/convert.ts";
import { loadModel, saveModelDir } from "../formats/hf-dir.ts";
import { createModel, presetConfig, type CausalLM, type ModelType } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { trainBpe, type Tokenizer } from "../tokenizer/index.ts";
import { Rng } from "../util/rng.ts";
import { runCli } from "./testing.ts";

const root = mkdtempSync(join(tmpdir(), "slm-cli-formats-"));
after(() => rmSync(root, { recursive: true, force: true }));
const repoRoot = join(import.meta.dirname, "..", "..");
// ../shared from the repo root (CI); ../../shared from a git worktree under /work/wt.
const stories =
  [join(repoRoot, "..", "shared"), join(repoRoot, "..", "..", "shared")]
    .map((s) => join(s, "models", "stories260K", "stories260K.bin"))
    .find((p) => existsSync(p)) ?? join(repoRoot, "..", "shared", "models", "stories260K", "stories260K.bin");

const run = (...argv: string[]) => runCli(argv);

function logitsOf(model: CausalLM, ids: Int32Array): Float32Array {
  return model.forward(new Tape({ grad: false }), ids, 1, ids.length).data.slice();
}

/** max |a − b| / (max(b) − min(b)). */
function relMaxErr(a: Float32Array, b: Float32Array): number {
  let m = 0,
    lo = Infinity,
    hi = -Infinity;
  for (let i = 0; i < b.length; i++) {
    m = Math.max(m, Math.abs(a[i]! - b[i]!));
    lo = Math.min(lo, b[i]!);
    hi = Math.max(hi, b[i]!);
  }
  return m / (hi - lo);
}

let tokPromise: Promise<Tokenizer> | undefined;
function tokenizer(): Promise<Tokenizer> {
  tokPromise ??= trainBpe(
    (function* () {
      for (let i = 0; i < 4; i++) yield* ["the cat sat on the mat", "the dog sat on the log", "a model file holds weights"];
    })(),
    { vocabSize: 290 },
  );
  return tokPromise;
}

/** A tiny seeded model saved as an HF directory (rows a multiple of 32, so q8_0/q4_0 apply to every matrix). */
async function tinyModelDir(name: string, modelType: ModelType, seed: number): Promise<{ dir: string; model: CausalLM; tok: Tokenizer }> {
  const gpt2 = modelType === "gpt2";
  const config = presetConfig("nano", 300, {
    modelType,
    dModel: 64,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: gpt2 ? 4 : 2,
    headDim: 16,
    ffnDim: 128,
    maxSeqLen: 64,
    qkvBias: modelType === "qwen2" || gpt2,
    oBias: gpt2,
    mlpBias: gpt2,
    tieEmbeddings: modelType !== "llama",
  });
  const model = createModel(config, seed);
  const tok = await tokenizer();
  const dir = join(root, name);
  saveModelDir(dir, model, { tokenizer: tok });
  return { dir, model, tok };
}

const ids = (() => {
  const rng = new Rng(5);
  return Int32Array.from({ length: 20 }, () => rng.int(300));
})();

for (const modelType of ["llama", "qwen2"] as const) {
  test(`${modelType}: import/export round trips (HF, GGUF f32 exact; f16/bf16/q8_0/q4_0/q4_k_m within budgets)`, async () => {
    const { dir, model, tok } = await tinyModelDir(`src-${modelType}`, modelType, 3);
    const want = logitsOf(model, ids);

    const hf = join(root, `${modelType}-hf`);
    const r = await run("import", dir, "--out", hf);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`\\(hf\\) → .*: ${modelType}, .* params, 2 layers × 64, vocab 300, tokenizer yes, f32`));
    const back = loadModel(hf);
    assert.deepEqual(logitsOf(back.model, ids), want, "model → HF → model");
    assert.deepEqual(back.tokenizer!.encode("the cat sat"), tok.encode("the cat sat"));

    const f32 = join(root, `${modelType}-f32.gguf`);
    const e = await run("export", hf, "--format", "gguf", "--dtype", "f32", "--out", f32);
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /\(gguf, f32\): .*tokenizer yes, tensors .*×F32/);
    const g = loadModel(f32);
    assert.equal(g.source.format, "gguf");
    assert.deepEqual(logitsOf(g.model, ids), want, "model → GGUF f32 → model");
    assert.deepEqual(g.tokenizer!.encode("the dog sat"), tok.encode("the dog sat"));
    // and back to an HF directory through import
    const again = join(root, `${modelType}-from-gguf`);
    assert.equal((await run("import", f32, "--out", again)).code, 0);
    assert.deepEqual(logitsOf(loadModel(again).model, ids), want, "GGUF f32 → HF → model");

    for (const dtype of ["f16", "bf16", "q8_0", "q4_0", "q4_k_m"] as const) {
      const p = join(root, `${modelType}-${dtype}.gguf`);
      const q = await run("export", dir, "--format", "gguf", "--dtype", dtype, "--out", p);
      assert.equal(q.code, 0, q.err);
      const err = relMaxErr(logitsOf(loadModel(p).model, ids), want);
      assert.ok(err > 0 && err <= LOGIT_BUDGETS[dtype], `${dtype}: max |Δlogit| / spread = ${err.toExponential(2)}, budget ${LOGIT_BUDGETS[dtype]}`);
    }
    // a coarser dtype errs more than a finer one
    const errOf = (d: string) => relMaxErr(logitsOf(loadModel(join(root, `${modelType}-${d}.gguf`)).model, ids), want);
    assert.ok(errOf("f16") < errOf("q8_0") && errOf("q8_0") < errOf("q4_0"));
  });
}

test("HF export at f16 / bf16 halves the weights and stays close; gpt2 round-trips through HF", async () => {
  const { dir, model } = await tinyModelDir("src-gpt2", "gpt2", 4);
  const want = logitsOf(model, ids);
  const hf = join(root, "gpt2-hf");
  assert.equal((await run("export", dir, "--format", "hf", "--out", hf)).code, 0);
  assert.deepEqual(logitsOf(loadModel(hf).model, ids), want);
  for (const dtype of ["f16", "bf16"]) {
    const out = join(root, `gpt2-${dtype}`);
    const r = await run("import", dir, "--out", out, "--dtype", dtype);
    assert.equal(r.code, 0, r.err);
    const st = readFileSync(join(out, "model.safetensors"));
    const header = JSON.parse(st.subarray(8, 8 + Number(st.readBigUInt64LE(0))).toString("utf8"));
    assert.equal(header["transformer.wte.weight"].dtype, dtype.toUpperCase());
    const err = relMaxErr(logitsOf(loadModel(out).model, ids), want);
    assert.ok(err > 0 && err < (dtype === "f16" ? 1e-3 : 1e-2), `${dtype}: ${err}`);
  }
});

test("unsupported combinations exit 1 and write nothing", async () => {
  const { dir } = await tinyModelDir("src-gpt2b", "gpt2", 5);
  const before = readdirSync(root).sort();
  const gpt2Gguf = await run("export", dir, "--format", "gguf", "--out", join(root, "no.gguf"));
  assert.equal(gpt2Gguf.code, 1);
  assert.match(gpt2Gguf.err, /GGUF export of GPT-2 models is not supported/);
  const q4hf = await run("export", dir, "--format", "hf", "--dtype", "q4_0", "--out", join(root, "no-hf"));
  assert.equal(q4hf.code, 1);
  assert.match(q4hf.err, /hf export cannot store dtype q4_0/);
  const { dir: llama } = await tinyModelDir("src-llama-b", "llama", 6);
  const kquantHf = await run("export", llama, "--format", "hf", "--dtype", "q4_k_m", "--out", join(root, "no2"));
  assert.equal(kquantHf.code, 1);
  assert.match(kquantHf.err, /hf export cannot store dtype q4_k_m/);
  // an HF export onto an existing file, or a GGUF export onto a directory, is refused
  const file = join(root, "src-llama-b", "config.json");
  const ontoFile = await run("import", llama, "--out", file);
  assert.equal(ontoFile.code, 1);
  assert.match(ontoFile.err, /exists and is a file/);
  assert.ok(readFileSync(file, "utf8").includes("model_type"));
  const ontoDir = await run("export", llama, "--format", "gguf", "--out", join(root, "src-gpt2b"));
  assert.equal(ontoDir.code, 1);
  assert.match(ontoDir.err, /exists and is a directory/);
  assert.deepEqual(readdirSync(root).sort(), [...before, "src-llama-b"].sort());
});

test("corrupt inputs exit 1 with a one-line message and leave no output", async () => {
  const { dir, model } = await tinyModelDir("src-corrupt", "llama", 7);
  const bad = join(root, "corrupt");
  mkdirSync(bad);
  // an HF directory whose safetensors is truncated
  const hfDir = join(bad, "hf");
  mkdirSync(hfDir);
  writeFileSync(join(hfDir, "config.json"), readFileSync(join(dir, "config.json")));
  const st = readFileSync(join(dir, "model.safetensors"));
  writeFileSync(join(hfDir, "model.safetensors"), st.subarray(0, st.length - 100));
  // a truncated GGUF and a garbage llama2.c file
  const gguf = join(root, "ok.gguf");
  assert.equal((await run("export", dir, "--format", "gguf", "--dtype", "q8_0", "--out", gguf)).code, 0);
  const g = readFileSync(gguf);
  writeFileSync(join(bad, "trunc.gguf"), g.subarray(0, Math.floor(g.length / 2)));
  writeFileSync(join(bad, "garbage.bin"), Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) & 255)));
  writeFileSync(join(bad, "notes.txt"), "not a model");
  const outParent = join(root, "outs");
  mkdirSync(outParent);
  const cases: [string, RegExp][] = [
    [hfDir, /truncated|end of file|only \d+ bytes/],
    [join(bad, "trunc.gguf"), /trunc\.gguf/],
    [join(bad, "garbage.bin"), /garbage\.bin/],
    [join(bad, "notes.txt"), /not a model directory or a supported model file/],
    [join(bad, "missing"), /model not found/],
  ];
  for (const [src, re] of cases) {
    for (const argv of [
      ["import", src, "--out", join(outParent, "m")],
      ["export", src, "--format", "gguf", "--out", join(outParent, "m.gguf")],
    ]) {
      const r = await run(...argv);
      assert.equal(r.code, 1, `${argv.join(" ")}: ${r.err}`);
      const lines = r.err.trimEnd().split("\n");
      assert.match(lines[0]!, /^slm (import|export): /);
      assert.match(lines[0]!, re);
      assert.ok(lines.length === 1 || (lines.length === 2 && lines[1]!.startsWith("  hint: ")), r.err);
      assert.deepEqual(readdirSync(outParent), [], `${argv.join(" ")} left ${readdirSync(outParent)}`);
    }
  }
  // a tokenizer bigger than the model's vocabulary is refused before writing
  const small = createModel({ ...model.config, vocabSize: 200, bosTokenId: undefined, eosTokenId: undefined }, 1);
  saveModelDir(join(bad, "small"), small);
  const r = await run("import", join(bad, "small"), "--out", join(outParent, "m"), "--tokenizer", dir);
  assert.equal(r.code, 1);
  assert.match(r.err, /290 tokens but the model's vocabulary is 200/);
  assert.deepEqual(readdirSync(outParent), []);
});

test("usage errors exit 2", async () => {
  assert.equal((await run("import")).code, 2);
  assert.equal((await run("import", "a")).code, 2, "--out missing");
  assert.equal((await run("import", "a", "b", "--out", "c")).code, 2);
  assert.equal((await run("import", "a", "--out", "c", "--dtype", "q8_0")).code, 2);
  assert.equal((await run("export", "a", "--out", "c")).code, 2, "--format missing");
  assert.equal((await run("export", "a", "--format", "onnx", "--out", "c")).code, 2);
  assert.equal((await run("export", "a", "--format", "gguf", "--dtype", "q2_k", "--out", "c")).code, 2);
  assert.equal((await run("export", "a", "--format", "gguf")).code, 2, "--out missing");
  const h = await run("export", "--help");
  assert.equal(h.code, 0);
  assert.match(h.out, /Examples:\n {2}slm export/);
  assert.match((await run("import", "--help")).out, /stories260K/);
});

test("stories260K (llama2.c) imports to an HF directory and exports to GGUF with identical logits", {
  skip: !existsSync(stories) && `absent: ${stories}`,
}, async () => {
  const direct = loadModel(stories);
  const want = logitsOf(direct.model, ids);
  const out = join(root, "stories260K");
  const r = await run("import", stories, "--out", out);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /\(llama2c\) → .*: llama, 260\.0k params, 5 layers × 64, vocab 512, tokenizer no, f32/);
  assert.deepEqual(logitsOf(loadModel(out).model, ids), want);
  const gguf = join(root, "stories260K.gguf");
  assert.equal((await run("export", out, "--format", "gguf", "--dtype", "f32", "--out", gguf)).code, 0);
  assert.deepEqual(logitsOf(loadModel(gguf).model, ids), want);
});
