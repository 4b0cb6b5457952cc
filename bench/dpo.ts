// DPO behaviour benchmark (issue 22, point 4): does preference tuning teach a
// model a behaviour its SFT data only sometimes shows? The task is synthetic:
// "Tell me about the A and the B." → "The A likes the B." (A, B from a list of
// nouns; held-out prompts use pairs never seen in training). The base model is
// trained from scratch by SFT (full) on answers that end with a citation ("
// [k]") only a quarter of the time, so greedy decoding almost never cites.
// Then DPO with LoRA on pairs (chosen: the answer with a citation, rejected:
// the same answer without) teaches it to cite. On held-out prompts it prints,
// base (SFT only) beside DPO:
//   - reward accuracy: share of held-out pairs whose DPO reward β·(π − π_ref)
//     is higher for the chosen answer (the base's rewards are all 0, a tie:
//     its figure is 0 by construction), and the plainer "log-prob accuracy",
//     π(chosen) > π(rejected), for both models;
//   - the share of greedy generations that end with a citation.
// Targets: reward accuracy > 90%, citations in >= 80% of generations.
//
//   node --import tsx bench/dpo.ts [--sft-steps 600] [--dpo-steps 120] [--beta 0.1] [--loss sigmoid|ipo]
//        [--objective dpo|orpo] [--rpo-alpha 0] [--cite-share 0.15] [--lr 2e-3] [--seed 0] [--json]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { generate } from "../src/infer/generate.ts";
import { createModel, presetConfig } from "../src/models/index.ts";
import { trainBpe, type ChatMessage } from "../src/tokenizer/index.ts";
import { finetune } from "../src/train/finetune.ts";
import { encodePreferences, type PreferenceExample } from "../src/train/preference-data.ts";
import { evaluatePreferences, finetunePreference, pairLogProbs, withAdaptersOff } from "../src/train/preference.ts";
import type { ChatExample } from "../src/train/sft.ts";
import { Rng } from "../src/util/rng.ts";

const { values: v } = parseArgs({
  options: {
    "sft-steps": { type: "string" }, "dpo-steps": { type: "string" }, beta: { type: "string" }, loss: { type: "string" },
    objective: { type: "string" }, lr: { type: "string" }, seed: { type: "string" }, "cite-share": { type: "string" }, "rpo-alpha": { type: "string" }, json: { type: "boolean" },
  },
});
const sftSteps = Number(v["sft-steps"] ?? 600), dpoSteps = Number(v["dpo-steps"] ?? 120);
const beta = Number(v.beta ?? 0.1), loss = (v.loss ?? "sigmoid") as "sigmoid" | "ipo";
const objective = (v.objective ?? "dpo") as "dpo" | "orpo";
const lr = Number(v.lr ?? 2e-3), seed = Number(v.seed ?? 0), rpoAlpha = Number(v["rpo-alpha"] ?? 0);
const say = (s: string) => (v.json ? undefined : console.error(s));

const NOUNS = ["fox", "dog", "cat", "owl", "bear", "wolf", "hare", "deer", "duck", "frog", "goat", "lamb", "mole", "seal", "swan", "toad"];
const rng = new Rng(seed + 1);
const combos: [string, string][] = [];
for (const a of NOUNS) for (const b of NOUNS) if (a !== b) combos.push([a, b]);
const order = rng.shuffle([...combos.keys()]);
const heldOut = order.slice(0, 40).map((i) => combos[i]!), trainCombos = order.slice(40).map((i) => combos[i]!);

const prompt = ([a, b]: [string, string]): ChatMessage[] => [{ role: "user", content: `Tell me about the ${a} and the ${b}.` }];
const answer = ([a, b]: [string, string]) => `The ${a} likes the ${b}.`;
const cite = () => ` [${1 + rng.int(3)}]`;
const CITED = /\[\d\]\s*$/;
/** Share of SFT answers that cite. */
const CITE_SHARE = Number(v["cite-share"] ?? 0.15);

// SFT data: a quarter of the answers cite.
const sft: ChatExample[] = trainCombos.map((c, i) => ({ line: i + 1, messages: [...prompt(c), { role: "assistant", content: answer(c) + (rng.uniform() < CITE_SHARE ? cite() : "") }] }));
const pairsFor = (cs: [string, string][]): PreferenceExample[] => cs.map((c, i) => ({ line: i + 1, prompt: prompt(c), chosen: [{ role: "assistant", content: answer(c) + cite() }], rejected: [{ role: "assistant", content: answer(c) }] }));
const prefTrain = pairsFor(trainCombos), prefHeld = pairsFor(heldOut);

function* corpus(): Generator<string> {
  for (let k = 0; k < 4; k++) for (const e of sft) yield e.messages.map((m) => m.content).join("\n");
}
const tok = await trainBpe(corpus(), { vocabSize: 320, minFrequency: 2 });
const model = createModel(presetConfig("nano", tok.vocabSize, { dModel: 96, nLayers: 3, nHeads: 4, nKvHeads: 2, headDim: 24, ffnDim: 256, maxSeqLen: 64 }), seed);
const runRoot = mkdtempSync(join(tmpdir(), "slm-bench-dpo-"));
const imEnd = tok.specialTokens["<|im_end|>"]!;

async function behaviour(): Promise<{ cited: number; samples: string[]; misses: string[] }> {
  const prompts = heldOut.map((c) => tok.applyChatTemplate(prompt(c), { addGenerationPrompt: true }).ids);
  const res = await generate(model, prompts, { maxTokens: 24, sampling: { temperature: 0 }, stopTokenIds: [imEnd] });
  const texts = res.map((r) => tok.decode(r.ids));
  return { cited: texts.filter((t) => CITED.test(t)).length / texts.length, samples: texts.slice(0, 2), misses: texts.filter((t) => !CITED.test(t)).slice(0, 3) };
}

try {
  const t0 = performance.now();
  say(`bench/dpo: SFT (full) of a ${(model.numParameters() / 1e6).toFixed(2)}M-parameter model on ${sft.length} examples, ${sftSteps} steps`);
  const s = await finetune({
    model, tokenizer: tok, examples: sft, valFraction: 0, method: "full", runDir: join(runRoot, "sft"), packing: false,
    config: { maxSteps: sftSteps, batch: 16, lr: 3e-3, warmupSteps: 20, logEvery: 100, evalEvery: 0, checkpointEvery: 0, seed },
    onEvent: (e) => (e.type === "step" ? say(`  sft step ${e.step} loss ${e.loss.toFixed(3)}`) : undefined),
  });
  const sftS = (performance.now() - t0) / 1000;
  const { pairs: held } = encodePreferences(tok, prefHeld, 63);
  const P = held.length;
  const lpAcc = (lp: Float32Array) => held.filter((_, i) => lp[i]! > lp[P + i]!).length / P;
  const refHeld = pairLogProbs(model, held, 8);
  // The base's rewards under the same objective (for DPO the policy is its own reference: every reward is 0, a tie).
  const baseEval = evaluatePreferences(model, held, refHeld, { objective, beta, loss, orpoLambda: 0.1, rpoAlpha }, 8);
  const base = { ...(await behaviour()), logpAccuracy: lpAcc(refHeld), rewardAccuracy: baseEval.accuracy };
  say(`  base (SFT only): citations in ${(100 * base.cited).toFixed(0)}% of greedy generations, e.g. ${JSON.stringify(base.samples[0])}`);

  const t1 = performance.now();
  const r = await finetunePreference({
    model, tokenizer: tok, examples: prefTrain, valExamples: prefHeld, objective, beta, loss, rpoAlpha, method: "lora", lora: { r: 8 },
    runDir: join(runRoot, "dpo"), config: { maxSteps: dpoSteps, batch: 8, lr, logEvery: 20, evalEvery: 0, checkpointEvery: 0, seed },
    onEvent: (e) => {
      if (e.type === "preference") say(`  ${objective} step ${e.step}: reward chosen ${e.metrics.chosenReward.toFixed(3)} rejected ${e.metrics.rejectedReward.toFixed(3)} margin ${e.metrics.margin.toFixed(3)} accuracy ${e.metrics.accuracy.toFixed(2)}`);
    },
  });
  const dpoS = (performance.now() - t1) / 1000;
  const after = { ...(await behaviour()), logpAccuracy: lpAcc(pairLogProbs(model, held, 8)), rewardAccuracy: r.evaluation!.accuracy, margin: r.evaluation!.margin };
  // The reference really is the SFT model: with the adapters off we get its log-probs back.
  const back = withAdaptersOff(r.lora, () => pairLogProbs(model, held, 8));
  const refOk = back.every((x, i) => x === refHeld[i]);
  const out = {
    task: "cite", objective, loss, beta, rpoAlpha, citeShare: CITE_SHARE, lr, sftSteps, dpoSteps, seed, params: model.numParameters(), trainPairs: prefTrain.length, heldOutPrompts: heldOut.length,
    base, dpo: after, seconds: { sft: sftS, preference: dpoS }, referenceIsBase: refOk,
    targets: { rewardAccuracy: after.rewardAccuracy > 0.9, cited: after.cited >= 0.8 },
  };
  if (v.json) console.log(JSON.stringify(out));
  else {
    console.log(`held-out (${heldOut.length} prompts)        base (SFT)   ${objective.toUpperCase()} (LoRA)   target`);
    console.log(`  reward accuracy               ${(100 * base.rewardAccuracy).toFixed(1).padStart(6)}%   ${(100 * after.rewardAccuracy).toFixed(1).padStart(10)}%    > 90%  ${out.targets.rewardAccuracy ? "met" : "NOT met"}`);
    console.log(`  log-prob accuracy π(c) > π(r) ${(100 * base.logpAccuracy).toFixed(1).padStart(6)}%   ${(100 * after.logpAccuracy).toFixed(1).padStart(10)}%`);
    console.log(`  greedy generations citing     ${(100 * base.cited).toFixed(1).padStart(6)}%   ${(100 * after.cited).toFixed(1).padStart(10)}%    >= 80% ${out.targets.cited ? "met" : "NOT met"}`);
    console.log(`  samples after: ${JSON.stringify(after.samples)}; misses: ${JSON.stringify(after.misses)}`);
    console.log(`  SFT ${sftS.toFixed(0)} s, ${objective} ${dpoS.toFixed(0)} s; reference = base with adapters off: ${refOk}`);
  }
} finally {
  rmSync(runRoot, { recursive: true, force: true });
}
