import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";

import { ConfigError, FormatError } from "../errors.ts";
import { attachLora, createModel, presetConfig, type CausalLM } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, loadAdapter, saveAdapter } from "./peft.ts";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const FIXTURE = join(repoRoot, "test", "fixtures", "peft", "tiny-llama");
const root = mkdtempSync(join(tmpdir(), "slm-peft-"));
after(() => rmSync(root, { recursive: true, force: true }));

const V = 40,
  D = 16,
  L = 2,
  KV = 8; // k/v width = 2 kv heads × 4
function model(seed = 0): CausalLM {
  return createModel(presetConfig("nano", V, { dModel: D, nLayers: L, nHeads: 4, nKvHeads: 2, headDim: 4, ffnDim: 24, maxSeqLen: 16 }), seed);
}
const ids = Int32Array.from({ length: 12 }, (_, i) => (i * 5 + 1) % V);
const logits = (m: CausalLM) => m.forward(new Tape({ grad: false }), ids, 2, 6).data.slice();
function maxDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** A safetensors file built by hand from the format: u64 LE header length, JSON header, raw little-endian data. */
function handWrittenSafetensors(tensors: Array<{ name: string; shape: number[]; data: Float32Array }>): Buffer {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);
}

/** Reads a safetensors header by hand (names → shapes). */
function readHeader(path: string): Map<string, number[]> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, { shape: number[] }>;
  return new Map(
    Object.entries(h)
      .filter(([k]) => k !== "__metadata__")
      .map(([k, v]) => [k, v.shape]),
  );
}

test("saved adapter: adapter_config.json has every field of the PEFT fixture, and PEFT's tensor names and shapes", () => {
  const m = model();
  const lora = attachLora(m, { r: 4, alpha: 8, dropout: 0.1 }, 1);
  const dir = join(root, "saved");
  saveAdapter(dir, lora, { baseModel: "some/base" });
  const fixture = JSON.parse(readFileSync(join(FIXTURE, ADAPTER_CONFIG), "utf8")) as Record<string, unknown>;
  const ours = JSON.parse(readFileSync(join(dir, ADAPTER_CONFIG), "utf8")) as Record<string, unknown>;
  const optional = new Set(["auto_mapping", "loftq_config", "megatron_config", "megatron_core", "layer_replication"]); // PEFT's own plumbing
  for (const [k, v] of Object.entries(fixture)) {
    if (optional.has(k)) continue;
    assert.ok(k in ours, `adapter_config.json lacks "${k}"`);
    assert.equal(typeof ours[k], typeof v, `"${k}" has type ${typeof ours[k]}, PEFT writes ${typeof v}`);
  }
  assert.equal(ours.peft_type, "LORA");
  assert.equal(ours.task_type, "CAUSAL_LM");
  assert.equal(ours.r, 4);
  assert.equal(ours.lora_alpha, 8);
  assert.equal(ours.lora_dropout, 0.1);
  assert.equal(ours.bias, "none");
  assert.equal(ours.fan_in_fan_out, false);
  assert.equal(ours.base_model_name_or_path, "some/base");
  assert.deepEqual([...(ours.target_modules as string[])].sort(), ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]);
  const shapes = readHeader(join(dir, ADAPTER_WEIGHTS));
  const expected = new Map<string, number[]>();
  const dims: Record<string, [number, number, string]> = {
    q_proj: [D, D, "self_attn"],
    k_proj: [D, KV, "self_attn"],
    v_proj: [D, KV, "self_attn"],
    o_proj: [D, D, "self_attn"],
    gate_proj: [D, 24, "mlp"],
    up_proj: [D, 24, "mlp"],
    down_proj: [24, D, "mlp"],
  };
  for (let l = 0; l < L; l++) {
    for (const [mod, [inp, out, block]] of Object.entries(dims)) {
      expected.set(`base_model.model.model.layers.${l}.${block}.${mod}.lora_A.weight`, [4, inp]);
      expected.set(`base_model.model.model.layers.${l}.${block}.${mod}.lora_B.weight`, [out, 4]);
    }
  }
  assert.deepEqual(new Map([...shapes].sort()), new Map([...expected].sort()));
});

test("loads the hand-written PEFT fixture: values land in A and B; y = Wx + (alpha/r)·B·A·x; merged agrees within 1e-5", () => {
  const dir = join(root, "fixture-copy");
  cpSync(FIXTURE, dir, { recursive: true });
  const r = new Rng(7);
  const tensors: Array<{ name: string; shape: number[]; data: Float32Array }> = [];
  for (let l = 0; l < L; l++) {
    for (const [mod, out] of [
      ["q_proj", D],
      ["v_proj", KV],
    ] as const) {
      const p = `base_model.model.model.layers.${l}.self_attn.${mod}`;
      tensors.push({ name: `${p}.lora_A.weight`, shape: [2, D], data: r.fillNormal(new Float32Array(2 * D), 0, 0.3) });
      tensors.push({ name: `${p}.lora_B.weight`, shape: [out, 2], data: r.fillNormal(new Float32Array(out * 2), 0, 0.3) });
    }
  }
  writeFileSync(join(dir, ADAPTER_WEIGHTS), handWrittenSafetensors(tensors));

  const m = model(2);
  const base = logits(m);
  const lora = loadAdapter(dir, m);
  assert.equal(lora.adapters.size, 2 * L);
  assert.equal(lora.config.scale, 2);
  const q0 = lora.adapters.get("model.layers.0.self_attn.q_proj")!;
  assert.deepEqual(q0.A.data, tensors[0]!.data);
  assert.deepEqual(q0.B.data, tensors[1]!.data);
  // The adapted projection equals W·x + 2·B·(A·x) computed here by hand.
  const x = new Rng(3).fillNormal(new Float32Array(D), 0, 1);
  const g = new Tape({ grad: false });
  const y = q0.base.forward(g, g.input(x, [1, D])).data;
  const W = q0.base.weight.data,
    A = q0.A.data,
    B = q0.B.data;
  for (let o = 0; o < D; o++) {
    let want = 0;
    for (let i = 0; i < D; i++) want += W[o * D + i]! * x[i]!;
    for (let k = 0; k < 2; k++) {
      let ax = 0;
      for (let i = 0; i < D; i++) ax += A[k * D + i]! * x[i]!;
      want += 2 * B[o * 2 + k]! * ax;
    }
    assert.ok(Math.abs(y[o]! - want) <= 1e-5, `output ${o}: ${y[o]} vs ${want}`);
  }
  const unmerged = logits(m);
  assert.ok(maxDiff(unmerged, base) > 1e-3);
  lora.merge();
  assert.ok(maxDiff(logits(m), unmerged) <= 1e-5);
});

test("round trip: save then load into a fresh copy of the base gives the same outputs", () => {
  const m = model(4);
  const lora = attachLora(m, { r: 3, alpha: 6, targets: ["k", "o", "up"] }, 2);
  const rr = new Rng(5);
  for (const a of lora.adapters.values()) rr.fillNormal(a.B.data, 0, 0.1);
  const want = logits(m);
  const dir = join(root, "roundtrip");
  saveAdapter(dir, lora);
  const m2 = model(4);
  loadAdapter(dir, m2);
  assert.ok(maxDiff(logits(m2), want) <= 1e-6);
});

test("bad adapters: clear errors, and the model is left without adapters", () => {
  const m = model();
  assert.throws(() => loadAdapter(join(root, "nope"), m), ConfigError);
  const mk = (name: string, patch: Record<string, unknown>, weights?: Buffer) => {
    const dir = join(root, name);
    cpSync(FIXTURE, dir, { recursive: true });
    const cfg = { ...JSON.parse(readFileSync(join(FIXTURE, ADAPTER_CONFIG), "utf8")), ...patch };
    writeFileSync(join(dir, ADAPTER_CONFIG), JSON.stringify(cfg));
    if (weights) writeFileSync(join(dir, ADAPTER_WEIGHTS), weights);
    return dir;
  };
  const A = (l: number, mod: string) => ({
    name: `base_model.model.model.layers.${l}.self_attn.${mod}.lora_A.weight`,
    shape: [2, D],
    data: new Float32Array(2 * D),
  });
  const B = (l: number, mod: string, out: number) => ({
    name: `base_model.model.model.layers.${l}.self_attn.${mod}.lora_B.weight`,
    shape: [out, 2],
    data: new Float32Array(out * 2),
  });
  const good = [0, 1].flatMap((l) => [A(l, "q_proj"), B(l, "q_proj", D), A(l, "v_proj"), B(l, "v_proj", KV)]);
  assert.throws(() => loadAdapter(mk("dora", { use_dora: true }, handWrittenSafetensors(good)), m), /DoRA/);
  assert.throws(() => loadAdapter(mk("ptype", { peft_type: "IA3" }, handWrittenSafetensors(good)), m), FormatError);
  assert.throws(() => loadAdapter(mk("rankpat", { rank_pattern: { q_proj: 4 } }, handWrittenSafetensors(good)), m), /rank_pattern/);
  assert.throws(() => loadAdapter(mk("missing", {}, handWrittenSafetensors(good.slice(1))), m), /missing 1 adapter tensors/);
  assert.throws(() => loadAdapter(mk("extra", {}, handWrittenSafetensors([...good, A(0, "k_proj")])), m), /matches no adapted module/);
  const wrong = [...good];
  wrong[0] = { ...A(0, "q_proj"), shape: [3, D], data: new Float32Array(3 * D) };
  assert.throws(() => loadAdapter(mk("shape", {}, handWrittenSafetensors(wrong)), m), /shape/);
  assert.ok(m.namedModules().every(([, mod]) => !("adapter" in mod) || (mod as { adapter: unknown }).adapter === null));
});
