// Prompt lookup's draft-length policy, judged without timing: greedy output does
// not depend on drafting, so for a fixed (prompt, output) pair the drafts any
// lookup policy would make, the tokens each step would keep and the number of
// steps follow from the token ids alone. This replays the outputs that
// bench/speculative.ts --dump saved through the real Speculator (the current
// policy) and through a few alternatives written here, and prints tokens per
// step (load-independent) and the speed-up they imply for given costs of a
// verification of tq tokens relative to a one-token step (--costs, e.g. the
// quiet `verification cost` rows of bench/speculative.ts).
//
//   node --import tsx bench/speculative-policy.ts --dump FILE [--costs 1,1,1,1,1.02,1.03,1.05,1.07] [--json]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import type { CausalLM } from "../src/models/index.ts";
import { promptLookup } from "../src/infer/prompt-lookup.ts";
import { SPECULATION_DEFAULTS, Speculator, type SpecSequence } from "../src/infer/speculative.ts";

const { values: v } = parseArgs({ options: { dump: { type: "string" }, costs: { type: "string" }, json: { type: "boolean" } } });
if (!v.dump) {
  console.error("usage: node --import tsx bench/speculative-policy.ts --dump FILE (from bench/speculative.ts --dump FILE) [--costs c1,…,c8]");
  process.exit(2);
}
const cases = readFileSync(v.dump, "utf8")
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l) as { row: string; prompt: number[]; output: number[]; maxTokens: number });
const costs = (v.costs ?? "1,1,1,1,1,1,1,1").split(",").map(Number); // costs[tq - 1]
if (costs.length < 8 || costs.some((c) => !(c > 0))) throw new Error(`--costs needs 8 positive numbers (tq 1..8), got "${v.costs}"`);
const maxK = SPECULATION_DEFAULTS.maxDraftTokens;

interface Tally {
  tokens: number;
  steps: number;
  time: number;
  proposed: number;
  accepted: number;
}

type Case = { prompt: number[]; output: number[]; maxTokens: number };

/**
 * One output replayed: `draft(seq)` proposes, `kept` reports the outcome; the first output token
 * comes from prefill. Drafts past the output's end (its stop token) count as rejected, as they are.
 */
function replay(c: Case, draft: (s: SpecSequence) => number[], kept: (s: SpecSequence, d: number[], n: number) => void, t: Tally): void {
  const output = c.output;
  const seq: SpecSequence & { history: number[] } = { history: [...c.prompt, output[0]!], limit: c.maxTokens, sampled: 1, finish: null };
  while (seq.sampled < output.length) {
    const d = draft(seq);
    let n = 0;
    while (n < d.length && d[n] === output[seq.sampled + n]) n++;
    const got = Math.min(n + 1, output.length - seq.sampled);
    for (let i = 0; i < got; i++) seq.history.push(output[seq.sampled + i]!);
    seq.sampled += got;
    t.tokens += got;
    t.steps++;
    t.time += costs[d.length]!;
    t.proposed += d.length;
    t.accepted += n;
    if (d.length > 0) kept(seq, d, n);
  }
}

/** A lookup policy written here: draft length from the last round's outcome. */
function simple(start: number, next: (k: number, proposed: number, kept: number) => number) {
  return (c: Case, t: Tally) => {
    let k = start;
    replay(
      c,
      (s) => promptLookup(s.history, Math.max(0, Math.min(k, s.limit - s.sampled - 1))),
      (_s, d, n) => {
        k = next(k, d.length, n);
      },
      t,
    );
  };
}

const policies: [string, (c: Case, t: Tally) => void][] = [
  [
    "current (Speculator)",
    (c, t) => {
      // The target model is only used by a draft model; prompt lookup alone never touches it.
      const ctx = c.prompt.length + c.maxTokens;
      const spec = new Speculator(null as unknown as CausalLM, { promptLookup: true }, 1, ctx);
      replay(
        c,
        (s) => spec.plan([s], ctx)?.drafts[0] ?? [],
        (s, d, n) => spec.record(s, "lookup", d.length, n),
        t,
      );
    },
  ],
  ["always the most (7)", simple(maxK, () => maxK)],
  ["start 7, after a rejection kept + 1", simple(maxK, (k, p, n) => (n === p ? Math.min(maxK, k + 2) : Math.max(2, n + 1)))],
  ["start 2, +2 after a full accept", simple(2, (k, p, n) => (n === p ? Math.min(maxK, k + 2) : k))],
];

const out: Record<string, unknown>[] = [];
for (const row of [...new Set(cases.map((c) => c.row))]) {
  for (const [name, run] of policies) {
    const t: Tally = { tokens: 0, steps: 0, time: 0, proposed: 0, accepted: 0 };
    for (const c of cases.filter((c) => c.row === row)) run(c, t);
    const r = {
      row,
      policy: name,
      tokensPerStep: +(t.tokens / t.steps).toFixed(2),
      speedup: +(t.tokens / t.time).toFixed(2),
      acceptance: t.proposed ? +(t.accepted / t.proposed).toFixed(3) : null,
      proposed: t.proposed,
    };
    out.push(r);
    if (!v.json)
      console.log(`${row} | ${name}: ${r.tokensPerStep} tokens/step, ×${r.speedup} at the given costs, acceptance ${r.acceptance ?? "-"} of ${r.proposed}`);
  }
}
if (v.json) console.log(JSON.stringify({ bench: "speculative-policy", costs, rows: out }));
