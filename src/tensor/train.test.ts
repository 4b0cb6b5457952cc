// End-to-end: tiny models built from the modules and ops, trained with AdamW
// on toy tasks. Proves the pieces compose: loss falls, runs are bit-identical
// by seed, a step allocates nothing after the first, and optimizer state
// round-trips exactly.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { type BackendCase, backendCases, using } from "../native/testing.ts";
import { Rng } from "../util/rng.ts";
import { Embedding, Linear, Module, ModuleList, RMSNorm } from "./module.ts";
import { add, attention, crossEntropy, rope, sequencePositions, swiglu } from "./ops.ts";
import { AdamW, type AdamWState, clipGradNorm } from "./optim.ts";
import { type RopeTable, ropeTable } from "./rope.ts";
import { lrAt } from "./schedule.ts";
import { Tape } from "./tape.ts";
import type { Tensor } from "./tensor.ts";
import { missingKernels } from "./testing.ts";

const V = 16,
  C = 32,
  F = 64;

class Mlp extends Module {
  readonly norm: RMSNorm;
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
  constructor(rng: Rng) {
    super();
    this.norm = this.addModule("norm", new RMSNorm(C));
    this.gate = this.addModule("gate_proj", new Linear(C, F, rng));
    this.up = this.addModule("up_proj", new Linear(C, F, rng));
    this.down = this.addModule("down_proj", new Linear(F, C, rng));
  }
  forward(g: Tape, x: Tensor): Tensor {
    const h = this.norm.forward(g, x);
    return add(g, x, this.down.forward(g, swiglu(g, this.gate.forward(g, h), this.up.forward(g, h))));
  }
}

class Attn extends Module {
  readonly norm: RMSNorm;
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  constructor(
    rng: Rng,
    readonly heads: number,
    readonly kvHeads: number,
  ) {
    super();
    const d = C / heads;
    this.norm = this.addModule("norm", new RMSNorm(C));
    this.q = this.addModule("q_proj", new Linear(C, heads * d, rng));
    this.k = this.addModule("k_proj", new Linear(C, kvHeads * d, rng));
    this.v = this.addModule("v_proj", new Linear(C, kvHeads * d, rng));
    this.o = this.addModule("o_proj", new Linear(heads * d, C, rng));
  }
  forward(g: Tape, x: Tensor, table: RopeTable, pos: Int32Array, batch: number, seqLen: number): Tensor {
    const h = this.norm.forward(g, x);
    const q = rope(g, this.q.forward(g, h), table, pos, { heads: this.heads });
    const k = rope(g, this.k.forward(g, h), table, pos, { heads: this.kvHeads });
    const a = attention(g, q, k, this.v.forward(g, h), { batch, seqLen, heads: this.heads, kvHeads: this.kvHeads });
    return add(g, x, this.o.forward(g, a));
  }
}

/** embedding → [attention] → MLP block → rmsnorm → lm head → cross-entropy. */
class ToyLm extends Module {
  readonly embed: Embedding;
  readonly attn: Attn | null;
  readonly blocks: ModuleList<Mlp>;
  readonly norm: RMSNorm;
  readonly head: Linear;
  readonly table: RopeTable;
  constructor(seed: number, withAttention: boolean) {
    super();
    const rng = new Rng(seed);
    this.embed = this.addModule("embed_tokens", new Embedding(V, C, rng, { std: 1 }));
    this.attn = withAttention ? this.addModule("self_attn", new Attn(rng, 4, 2)) : null;
    this.blocks = this.addModule("mlp", new ModuleList([new Mlp(rng)]));
    this.norm = this.addModule("norm", new RMSNorm(C));
    this.head = this.addModule("lm_head", new Linear(C, V, rng));
    this.table = ropeTable(64, C / 4);
  }
  loss(g: Tape, ids: Int32Array, targets: Int32Array, batch: number, seqLen: number): Tensor {
    let x = this.embed.forward(g, ids, [batch, seqLen]);
    if (this.attn) x = this.attn.forward(g, x, this.table, sequencePositions(g, batch, seqLen), batch, seqLen);
    for (const b of this.blocks) x = b.forward(g, x);
    const logits = this.head.forward(g, this.norm.forward(g, x));
    return crossEntropy(g, logits, targets, { inPlaceGrad: true });
  }
}

type Task = "map" | "previous";

/** Toy data: "map" predicts (3·id + 1) mod V at each position; "previous" predicts the previous token. */
function batchInto(rng: Rng, task: Task, ids: Int32Array, targets: Int32Array, batch: number, seqLen: number): void {
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seqLen; t++) {
      const i = b * seqLen + t;
      ids[i] = rng.int(V);
      targets[i] = task === "map" ? (3 * ids[i]! + 1) % V : t === 0 ? -100 : ids[i - 1]!;
    }
  }
}

interface Run {
  losses: number[];
  allocationsAfterStep: number[];
  model: ToyLm;
  opt: AdamW;
  dataRng: Rng;
  tape: Tape;
}

function newRun(seed: number, task: Task): Run {
  const model = new ToyLm(seed, task === "previous");
  const opt = new AdamW(model.namedParameters(), { weightDecay: 0.01 });
  return { losses: [], allocationsAfterStep: [], model, opt, dataRng: new Rng(seed + 1000), tape: new Tape() };
}

/** Trains `steps` steps, the short last batch every `shortEvery` steps (to exercise arena views). */
function train(run: Run, task: Task, steps: number, peak: number, total: number): void {
  const { model, opt, tape, dataRng } = run;
  for (let i = 0; i < steps; i++) {
    const step = opt.stepCount;
    const batch = step % 5 === 4 ? 2 : 4,
      seqLen = 8;
    tape.reset();
    const ids = tape.arena.allocInt(batch * seqLen),
      targets = tape.arena.allocInt(batch * seqLen);
    batchInto(dataRng, task, ids, targets, batch, seqLen);
    const loss = model.loss(tape, ids, targets, batch, seqLen);
    opt.zeroGrad();
    tape.backward(loss);
    clipGradNorm(opt.parameters(), 1.0);
    opt.step(lrAt({ kind: "cosine", lr: peak, warmupSteps: 10, totalSteps: total, minRatio: 0.1 }, step));
    run.losses.push(loss.item());
    run.allocationsAfterStep.push(tape.arena.allocations);
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const mlpKernels = [
  "embeddingForward",
  "embeddingBackward",
  "rmsnormForward",
  "rmsnormBackward",
  "swigluForward",
  "swigluBackward",
  "add",
  "axpy",
  "crossEntropyForward",
  "crossEntropyBackward",
  "adamwStep",
  "sumSquares",
  "scale",
] as const;

// The kernel suites cover every instruction set; training runs on the best native one and the reference.
const cases = backendCases().filter((c, i, all) => c.backend.name === "reference" || all.findIndex((x) => x.backend.name === "native") === i);

function suite(c: BackendCase): void {
  test("an embedding → rmsnorm → swiglu MLP → head model learns a token map; same seed, same losses", { skip: missingKernels(c.backend, ...mlpKernels) }, () =>
    using(c, () => {
      const steps = 150;
      const a = newRun(42, "map"),
        b = newRun(42, "map");
      train(a, "map", steps, 1e-2, steps);
      train(b, "map", 40, 1e-2, steps);
      const first = mean(a.losses.slice(0, 5)),
        last = mean(a.losses.slice(-10));
      assert.ok(first > 2, `initial loss ${first} is near ln(16) = 2.77`);
      assert.ok(last < 0.1, `loss after ${steps} steps: ${last} (from ${first})`);
      assert.deepEqual(b.losses, a.losses.slice(0, 40), "bit-identical losses for the same seed");
      const other = newRun(43, "map");
      train(other, "map", 3, 1e-2, steps);
      assert.notDeepEqual(other.losses, a.losses.slice(0, 3), "another seed gives another run");
    }),
  );

  test("after the first full and first short step, a training step allocates nothing", { skip: missingKernels(c.backend, ...mlpKernels) }, () =>
    using(c, () => {
      const run = newRun(5, "map");
      train(run, "map", 12, 1e-2, 100);
      const allocs = run.allocationsAfterStep;
      assert.ok(allocs[0]! > 10, "the first step fills the arena");
      // Step 4 is the first short batch: it gets views into the same memory, no new arrays.
      assert.equal(allocs[11], allocs[0], `allocations per step: ${allocs.join(", ")}`);
    }),
  );

  test("AdamW state round trip: resume from state() in fresh objects is bit-identical", { skip: missingKernels(c.backend, ...mlpKernels) }, () =>
    using(c, () => {
      const k = 7,
        m = 6;
      const a = newRun(9, "map");
      train(a, "map", k, 1e-2, 50);
      const saved: AdamWState = a.opt.state();
      const weights = a.model.namedParameters().map(([n, p]) => [n, p.data.slice()] as const);
      const dataState = a.dataRng.getState();
      train(a, "map", m, 1e-2, 50);

      const b = newRun(1234, "map"); // different init: everything must come from the saved state
      for (const [n, w] of weights) b.model.getParameter(n)!.set(w);
      b.opt.loadState(saved); // a copy: `a` kept training after state() without changing it
      b.dataRng.setState(dataState);
      assert.equal(b.opt.stepCount, k);
      train(b, "map", m, 1e-2, 50);
      assert.deepEqual(b.losses, a.losses.slice(k), "same losses after resuming");
      for (const [n, p] of a.model.namedParameters()) assert.deepEqual(b.model.getParameter(n)!.data, p.data, n);
    }),
  );

  test(
    "with causal GQA attention and rope, a one-block model learns to copy the previous token",
    { skip: missingKernels(c.backend, ...mlpKernels, "ropeForward", "ropeBackward", "attentionForward", "attentionBackward") },
    () =>
      using(c, () => {
        const steps = 200;
        const run = newRun(3, "previous");
        train(run, "previous", steps, 1e-2, steps);
        const first = mean(run.losses.slice(0, 5)),
          last = mean(run.losses.slice(-10));
        assert.ok(first > 2, `initial loss ${first}`);
        assert.ok(last < 0.5, `loss after ${steps} steps: ${last} (from ${first}); a model without attention cannot go below ln(16)`);
        const again = newRun(3, "previous");
        train(again, "previous", 20, 1e-2, steps);
        assert.deepEqual(again.losses, run.losses.slice(0, 20), "bit-identical by seed");
      }),
  );
}

for (const c of cases) describe(`tensor training [${c.label}]`, () => suite(c));
