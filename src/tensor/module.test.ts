import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfigError, UsageError } from "../errors.ts";
import { qweight } from "../native/ops/qgemm.ts";
import { Rng } from "../util/rng.ts";
import { Embedding, LayerNorm, Linear, Module, ModuleList, RMSNorm } from "./module.ts";
import { Parameter } from "./tensor.ts";

class Block extends Module {
  readonly attnNorm: RMSNorm;
  readonly qProj: Linear;
  constructor(rng: Rng) {
    super();
    this.attnNorm = this.addModule("input_layernorm", new RMSNorm(4));
    this.qProj = this.addModule("q_proj", new Linear(4, 6, rng, { bias: true }));
  }
}

class Tiny extends Module {
  readonly embed: Embedding;
  readonly layers: ModuleList<Block>;
  readonly head: Linear;
  readonly scale: Parameter;
  constructor(seed: number) {
    super();
    const rng = new Rng(seed);
    this.embed = this.addModule("embed_tokens", new Embedding(10, 4, rng));
    this.layers = this.addModule("layers", new ModuleList([new Block(rng), new Block(rng)]));
    this.head = this.addModule("lm_head", new Linear(4, 10, rng, { std: 0.5 }));
    this.scale = this.addParameter("scale", Parameter.zeros([1]));
  }
}

test("namedParameters: dotted names in registration order, Hugging Face style", () => {
  const m = new Tiny(1);
  assert.deepEqual(
    m.namedParameters().map(([n]) => n),
    [
      "scale",
      "embed_tokens.weight",
      "layers.0.input_layernorm.weight",
      "layers.0.q_proj.weight",
      "layers.0.q_proj.bias",
      "layers.1.input_layernorm.weight",
      "layers.1.q_proj.weight",
      "layers.1.q_proj.bias",
      "lm_head.weight",
    ],
  );
  assert.equal(m.numParameters(), 1 + 40 + 2 * (4 + 24 + 6) + 40);
  assert.equal(m.getParameter("layers.1.q_proj.bias"), m.layers.at(1).qProj.bias);
  assert.deepEqual(m.namedParameters("model.")[1]![0], "model.embed_tokens.weight");
  assert.deepEqual(
    m
      .namedModules()
      .map(([n]) => n)
      .slice(0, 4),
    ["embed_tokens", "layers", "layers.0", "layers.0.input_layernorm"],
  );
});

test("a shared (tied) parameter is listed once, under its first name", () => {
  class Head extends Module {
    constructor(w: Parameter) {
      super();
      this.addParameter("weight", w);
    }
  }
  class Tied extends Module {
    constructor() {
      super();
      const e = this.addModule("embed", new Embedding(5, 3, new Rng(1)));
      this.addModule("head", new Head(e.weight));
    }
  }
  const m = new Tied();
  assert.deepEqual(
    m.namedParameters().map(([n]) => n),
    ["embed.weight"],
  );
});

test("init: seeded, deterministic, std respected; norms start at one, biases at zero", () => {
  const a = new Tiny(7),
    b = new Tiny(7),
    c = new Tiny(8);
  for (const [[na, pa], [, pb]] of a.namedParameters().map((e, i) => [e, b.namedParameters()[i]!] as const)) {
    assert.deepEqual(pa.data, pb.data, `${na} is identical for the same seed`);
  }
  assert.notDeepEqual(a.embed.weight.data, c.embed.weight.data);
  const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
  const big = new Linear(64, 64, new Rng(3), { std: 0.02 });
  assert.ok(Math.abs(std(big.weight.data) - 0.02) < 0.002, `std ${std(big.weight.data)}`);
  assert.ok(a.layers.at(0).attnNorm.weight.data.every((v) => v === 1));
  assert.ok(a.layers.at(0).qProj.bias!.data.every((v) => v === 0));
  assert.ok(new Linear(3, 3, new Rng(1), { std: 0 }).weight.data.every((v) => v === 0));
  const ln = new LayerNorm(5);
  assert.ok(ln.weight.data.every((v) => v === 1) && ln.bias!.data.every((v) => v === 0));
  assert.equal(new LayerNorm(5, { bias: false }).bias, null);
});

test("weight decay defaults: matrices of Linear decay; embeddings, norms and biases do not", () => {
  const m = new Tiny(1);
  const decays = Object.fromEntries(m.namedParameters().map(([n, p]) => [n, p.decay]));
  assert.equal(decays["layers.0.q_proj.weight"], true);
  assert.equal(decays["lm_head.weight"], true);
  assert.equal(decays["embed_tokens.weight"], false);
  assert.equal(decays["layers.0.q_proj.bias"], false);
  assert.equal(decays["layers.0.input_layernorm.weight"], false);
});

test("train/eval, zeroGrad and freezing reach every descendant", () => {
  const m = new Tiny(1);
  m.eval();
  assert.equal(m.layers.at(1).qProj.training, false);
  m.train();
  assert.equal(m.layers.at(1).qProj.training, true);
  for (const p of m.parameters()) p.grad.fill(3);
  m.zeroGrad();
  assert.ok(m.parameters().every((p) => p.grad.every((v) => v === 0)));
  m.layers.requiresGrad(false);
  assert.equal(m.layers.at(0).qProj.weight.requiresGrad, false);
  assert.equal(m.head.weight.requiresGrad, true);
});

test("bad configuration and registration are clear errors", () => {
  const rng = new Rng(1);
  assert.throws(() => new Linear(0, 3, rng), ConfigError);
  assert.throws(() => new Linear(3, 3, rng, { std: -1 }), /init std/);
  assert.throws(() => new Embedding(3, 2.5, rng), ConfigError);
  assert.throws(() => new RMSNorm(4, { eps: 0 }), /eps/);
  class Dup extends Module {
    constructor() {
      super();
      this.addParameter("w", Parameter.zeros([1]));
      this.addParameter("w", Parameter.zeros([1]));
    }
  }
  assert.throws(() => new Dup(), UsageError);
  class Dotted extends Module {
    constructor() {
      super();
      this.addParameter("a.b", Parameter.zeros([1]));
    }
  }
  assert.throws(() => new Dotted(), /without dots/);
  assert.throws(() => new ModuleList([]).at(0), UsageError);
});

test("Parameter.setQuantized drops the float32 values (a fresh zero buffer), or keeps an untouched loader buffer as it is", () => {
  const rows = 2,
    cols = 32; // one Q8_0 block (f16 scale + 32 int8) per row
  const q = qweight("Q8_0", new Uint8Array(rows * 34), rows, cols);
  const written = Parameter.zeros([rows, cols]);
  written.data.fill(3);
  const before = written.data;
  written.setQuantized(q);
  assert.notEqual(written.data, before, "written values are released");
  assert.ok(written.data.every((v) => v === 0) && written.data.length === rows * cols);
  assert.equal(written.requiresGrad, false);
  assert.equal(written.quant, q);
  const fresh = Parameter.zeros([rows, cols]);
  const buf = fresh.data;
  fresh.setQuantized(q, true);
  assert.equal(fresh.data, buf, "an untouched buffer is kept, not reallocated");
  assert.throws(() => Parameter.zeros([rows, 16]).setQuantized(q), /cannot hold a Q8_0 matrix of 2x32/);
});
