// DPO behaviour benchmark (issue 22, point 4): does preference tuning teach a
// model a behaviour its SFT data only sometimes shows? The task is synthetic:
// "Tell me about the A and the B." → "The A likes the B." (A, B from a list of
// nouns; held-out prompts use pairs never seen in training). The base model is
// trained from scratch by SFT (full) on answers that end with a citation
// (" [k]") only 15% of the time, so greedy decoding does not cite. Then, each
// from that same base with fresh LoRA adapters (detached after): plain DPO,
// DPO with the chosen NLL added (--rpo-alpha 1, the default), and ORPO, on pairs (chosen: the
// answer with a citation, rejected: the same answer without). On the held-out
// prompts it prints, the base (SFT only) beside each:
//   - reward accuracy: share of held-out pairs whose reward is higher for the
//     chosen answer (DPO: β·(π − π_ref), so the base's rewards are all 0, a tie,
//     and its figure 0; ORPO: λ·mean log-prob), and the plainer "log-prob
//     accuracy", π(chosen) > π(rejected);
//   - the share of greedy generations that end with a citation.
// Targets: reward accuracy > 90%, citations in >= 80% of generations.
//
//   node --import tsx bench/dpo.ts [--variants dpo,dpo+nll,orpo] [--sft-steps 400] [--dpo-steps 120]
//        [--beta 0.1] [--loss sigmoid|ipo] [--rpo-alpha 1] [--cite-share 0.15] [--lr 5e-4] [--seed 0] [--json]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { generate } from "../src/infer/generate.ts";
import { createModel, presetConfig } from "../src/models/index.ts";
import { trainBpe, type ChatMessage } from "../src/tokenizer/index.ts";
import { finetune } from "../src/train/finetune.ts";
import { encodePreferences, type PreferenceExample } from "../src/train/preference-data.ts";
import { evaluatePreferences, finetunePreference, PREFERENCE_DEFAULTS, pairLogProbs, withAdaptersOff } from "../src/train/preference.ts";
import type { ChatExample } from "../src/train/sft.ts";
import { Rng } from "../src/util/rng.ts";

const { values: v } = parseArgs({
  options: {
    "sft-steps": { type: "string" },
    "dpo-steps": { type: "string" },
    beta: { type: "string" },
    loss: { type: "string" },
    lr: { type: "string" },
    seed: { type: "string" },
    "cite-share": { type: "string" },
    "rpo-alpha": { type: "string" },
    variants: { type: "string" },
    json: { type: "boolean" },
  },
});
const sftSteps = Number(v["sft-steps"] ?? 400),
  dpoSteps = Number(v["dpo-steps"] ?? 120);
const beta = Number(v.beta ?? 0.1),
  loss = (v.loss ?? "sigmoid") as "sigmoid" | "ipo";
const lr = Number(v.lr ?? 5e-4),
  seed = Number(v.seed ?? 0),
  rpoAlpha = Number(v["rpo-alpha"] ?? 1);
const say = (s: string) => (v.json ? undefined : console.error(s));

const NOUNS = ["fox", "dog", "cat", "owl", "bear", "wolf", "hare", "deer", "duck", "frog", "goat", "lamb", "mole", "seal", "swan", "toad"];
const rng = new Rng(seed + 1);
const combos: [string, string][] = [];
for (const a of NOUNS) for (const b of NOUNS) if (a !== b) combos.push([a, b]);
const order = rng.shuffle([...combos.keys()]);
const heldOut = order.slice(0, 40).map((i) => combos[i]!),
  trainCombos = order.slice(40).map((i) => combos[i]!);

const prompt = ([a, b]: [string, string]): ChatMessage[] => [{ role: "user", content: `Tell me about the ${a} and the ${b}.` }];
const answer = ([a, b]: [string, string]) => `The ${a} likes the ${b}.`;
const cite = () => ` [${1 + rng.int(3)}]`;
const CITED = /\[\d\]\s*$/;
/** Share of SFT answers that cite. */
const CITE_SHARE = Number(v["cite-share"] ?? 0.15);

// SFT data: a quarter of the answers cite.
const sft: ChatExample[] = trainCombos.map((c, i) => ({
  line: i + 1,
  messages: [...prompt(c), { role: "assistant", content: answer(c) + (rng.uniform() < CITE_SHARE ? cite() : "") }],
}));
const pairsFor = (cs: [string, string][]): PreferenceExample[] =>
  cs.map((c, i) => ({
    line: i + 1,
    prompt: prompt(c),
    chosen: [{ role: "assistant", content: answer(c) + cite() }],
    rejected: [{ role: "assistant", content: answer(c) }],
  }));
const prefTrain = pairsFor(trainCombos),
  prefHeld = pairsFor(heldOut);

function* corpus(): Generator<string> {
  for (let k = 0; k < 4; k++) for (const e of sft) yield e.messages.map((m) => m.content).join("\n");
}
const tok = await trainBpe(corpus(), { vocabSize: 320, minFrequency: 2 });
const model = createModel(
  presetConfig("nano", tok.vocabSize, { dModel: 96, nLayers: 3, nHeads: 4, nKvHeads: 2, headDim: 24, ffnDim: 256, maxSeqLen: 64 }),
  seed,
);
const runRoot = mkdtempSync(join(tmpdir(), "slm-bench-dpo-"));
const imEnd = tok.specialTokens["<|im_end|>"]!;

async function behaviour(): Promise<{ cited: number; samples: string[]; misses: string[] }> {
  const prompts = heldOut.map((c) => tok.applyChatTemplate(prompt(c), { addGenerationPrompt: true }).ids);
  const res = await generate(model, prompts, { maxTokens: 24, sampling: { temperature: 0 }, stopTokenIds: [imEnd] });
  const texts = res.map((r) => tok.decode(r.ids));
  return {
    cited: texts.filter((t) => CITED.test(t)).length / texts.length,
    samples: texts.slice(0, 2),
    misses: texts.filter((t) => !CITED.test(t)).slice(0, 3),
  };
}

/** A preference run to compare: objective, loss, β and the chosen-NLL weight. */
interface Variant {
  name: string;
  objective: "dpo" | "orpo";
  loss: "sigmoid" | "ipo";
  beta: number;
  rpoAlpha: number;
}
const VARIANTS: Record<string, Variant> = {
  dpo: { name: "DPO", objective: "dpo", loss, beta, rpoAlpha: 0 },
  "dpo+nll": { name: "DPO", objective: "dpo", loss, beta, rpoAlpha },
  orpo: { name: "ORPO", objective: "orpo", loss: "sigmoid", beta, rpoAlpha: 0 },
};
const variants = (v.variants ?? "dpo,dpo+nll,orpo").split(",").map((k) => {
  const x = VARIANTS[k.trim()];
  if (!x) throw new Error(`unknown variant "${k}" (dpo, dpo+nll, orpo)`);
  return x;
});

interface Figures {
  rewardAccuracy: number;
  logpAccuracy: number;
  cited: number;
  margin: number;
  seconds: number;
  samples: string[];
  misses: string[];
  referenceIsBase: boolean | null;
}

try {
  const t0 = performance.now();
  say(`bench/dpo: SFT (full) of a ${(model.numParameters() / 1e6).toFixed(2)}M-parameter model on ${sft.length} examples, ${sftSteps} steps`);
  await finetune({
    model,
    tokenizer: tok,
    examples: sft,
    valFraction: 0,
    method: "full",
    runDir: join(runRoot, "sft"),
    packing: false,
    config: { maxSteps: sftSteps, batch: 16, lr: 3e-3, warmupSteps: 20, logEvery: 100, evalEvery: 0, checkpointEvery: 0, seed },
    onEvent: (e) => (e.type === "step" ? say(`  sft step ${e.step} loss ${e.loss.toFixed(3)}`) : undefined),
  });
  const sftS = (performance.now() - t0) / 1000;
  const { pairs: held } = encodePreferences(tok, prefHeld, 63);
  const P = held.length;
  const lpAcc = (lp: Float32Array) => held.filter((_, i) => lp[i]! > lp[P + i]!).length / P;
  const refHeld = pairLogProbs(model, held, 8);
  // The base's DPO rewards (the policy is its own reference: every reward is 0, a tie, so accuracy 0).
  const baseEval = evaluatePreferences(model, held, refHeld, { objective: "dpo", beta, loss, orpoLambda: 0.1 }, 8);
  const base: Figures = {
    ...(await behaviour()),
    logpAccuracy: lpAcc(refHeld),
    rewardAccuracy: baseEval.accuracy,
    margin: baseEval.margin,
    seconds: sftS,
    referenceIsBase: null,
  };
  say(`  base (SFT only): citations in ${(100 * base.cited).toFixed(0)}% of greedy generations, e.g. ${JSON.stringify(base.samples[0])}`);

  const results: (Variant & Figures)[] = [];
  for (const vr of variants) {
    const t1 = performance.now();
    const r = await finetunePreference({
      model,
      tokenizer: tok,
      examples: prefTrain,
      valExamples: prefHeld,
      objective: vr.objective,
      beta: vr.beta,
      loss: vr.loss,
      rpoAlpha: vr.rpoAlpha,
      method: "lora",
      lora: { r: 8 },
      runDir: join(runRoot, vr.name),
      config: { maxSteps: dpoSteps, batch: 8, lr, logEvery: 40, evalEvery: 0, checkpointEvery: 0, seed },
      onEvent: (e) => {
        if (e.type === "preference")
          say(
            `  ${vr.name} step ${e.step}: reward chosen ${e.metrics.chosenReward.toFixed(3)} rejected ${e.metrics.rejectedReward.toFixed(3)} margin ${e.metrics.margin.toFixed(3)} accuracy ${e.metrics.accuracy.toFixed(2)}`,
          );
      },
    });
    const seconds = (performance.now() - t1) / 1000;
    // The reference really is the SFT model: with the adapters off we get its log-probs back, bit for bit.
    const back = withAdaptersOff(r.lora, () => pairLogProbs(model, held, 8));
    const fig: Figures = {
      ...(await behaviour()),
      logpAccuracy: lpAcc(pairLogProbs(model, held, 8)),
      rewardAccuracy: r.evaluation!.accuracy,
      margin: r.evaluation!.margin,
      seconds,
      referenceIsBase: back.every((x, i) => x === refHeld[i]),
    };
    r.lora!.detach(); // back to the SFT base for the next variant
    results.push({ ...vr, ...fig });
  }
  const out = {
    task: "cite",
    citeShare: CITE_SHARE,
    lr,
    sftSteps,
    preferenceSteps: dpoSteps,
    seed,
    params: model.numParameters(),
    trainPairs: prefTrain.length,
    heldOutPrompts: heldOut.length,
    base,
    results: results.map((r) => ({ ...r, targets: { rewardAccuracy: r.rewardAccuracy > 0.9, cited: r.cited >= 0.8 } })),
  };
  if (v.json) console.log(JSON.stringify(out));
  else {
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`.padStart(9);
    console.log(`held-out (${heldOut.length} prompts, pairs never trained on); LoRA r 8, lr ${lr}, ${dpoSteps} steps of 8 pairs; β ${beta}, ${loss} loss`);
    console.log(
      `  ${"".padEnd(30)}${"base (SFT)".padStart(11)}${results.map((r) => (r.name + (r.objective === "dpo" ? ` α=${r.rpoAlpha}` : "")).padStart(13)).join("")}   target`,
    );
    console.log(`  ${"reward accuracy".padEnd(30)}  ${pct(base.rewardAccuracy)}${results.map((r) => `    ${pct(r.rewardAccuracy)}`).join("")}   > 90%`);
    console.log(`  ${"log-prob accuracy π(c) > π(r)".padEnd(30)}  ${pct(base.logpAccuracy)}${results.map((r) => `    ${pct(r.logpAccuracy)}`).join("")}`);
    console.log(`  ${"greedy generations citing".padEnd(30)}  ${pct(base.cited)}${results.map((r) => `    ${pct(r.cited)}`).join("")}   >= 80%`);
    for (const r of results) {
      console.log(
        `  ${r.name}${r.objective === "dpo" ? ` α=${r.rpoAlpha}${r.rpoAlpha === PREFERENCE_DEFAULTS.rpoAlpha ? " (the default)" : ""}` : ""}: targets ${r.rewardAccuracy > 0.9 ? "met" : "NOT met"} / ${r.cited >= 0.8 ? "met" : "NOT met"}; ${r.seconds.toFixed(0)} s; reference = base with adapters off: ${r.referenceIsBase}; e.g. ${JSON.stringify(r.samples[1])}${r.misses.length ? `; a miss: ${JSON.stringify(r.misses[0])}` : ""}`,
      );
    }
    console.log(`  SFT ${sftS.toFixed(0)} s`);
  }
} finally {
  rmSync(runRoot, { recursive: true, force: true });
}
