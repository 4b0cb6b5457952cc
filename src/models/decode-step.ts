// The one-call decode step of a Llama-family model (src/native/ops/decode.ts): when at most
// DECODE_MAX_ROWS rows (sequences × tokens: a decoded token, a speculative verification, the
// engine's live slots) go through the KV cache (f32, f16 or q8_0), the layers run in one kernel
// call instead of ~15 per layer from JavaScript, whether the projections are held in a storage
// type (a GGUF file's Q4_0, Q8_0, F16, …) or are plain float32 parameters (a model trained here,
// loaded from safetensors), each multiplied as linear() multiplies it. The result is bitwise the
// step-by-step forward's (decode-step.test.ts); LoRA adapters and prompts over 8 tokens take the
// step-by-step path.
import { DecodePlan, type DecodeLayerSpec } from "../native/ops/decode.ts";
import { qtypeId } from "../native/ops/qgemm.ts";
import type { Linear, RMSNorm } from "../tensor/index.ts";
import type { ModelConfig } from "./config.ts";
import type { KvCache, KvDtype } from "./kv-cache.ts";

const KV_TYPES: Record<KvDtype, "F32" | "F16" | "Q8_0"> = { f32: "F32", f16: "F16", q8_0: "Q8_0" };

/** What the plan reads of a Llama block (structural, so llama.ts can pass its own). */
export interface DecodeBlock {
  attnNorm: RMSNorm;
  attn: { q: Linear; k: Linear; v: Linear; o: Linear; qNorm: RMSNorm | null; kNorm: RMSNorm | null };
  mlpNorm: RMSNorm;
  mlp: { gate: Linear; up: Linear; down: Linear };
}

let enabled = true;

/**
 * Whether single-token decode may use the one-call plan (on by default); `on` sets it. The
 * step-by-step path computes the same bits, so this only changes speed: for A/B benchmarks
 * (bench/decode-step.ts) and tests.
 */
export function useDecodePlans(on?: boolean): boolean {
  if (on !== undefined) enabled = on;
  return enabled;
}

const plans = new WeakMap<KvCache, { blocks: readonly DecodeBlock[]; plan: DecodePlan | null }>();

function linearsOf(b: DecodeBlock): Linear[] {
  return [b.attn.q, b.attn.k, b.attn.v, b.attn.o, b.mlp.gate, b.mlp.up, b.mlp.down];
}

/** A projection's weight bytes: its stored data, or its float32 values' bytes (no copy). */
function weightBytes(x: Linear): Uint8Array {
  const q = x.weight.quant;
  if (q) return q.data;
  const d = x.weight.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.byteLength === b.byteLength;
}

function plainNorm(n: RMSNorm | null): boolean {
  return n === null || n.offset === 0;
}

/** The plan's spec for these blocks and cache, or null where the one-call step does not apply. */
function buildPlan(c: ModelConfig, blocks: readonly DecodeBlock[], cache: KvCache, rot: number): DecodePlan | null {
  if (cache.kvHeads !== c.nKvHeads || cache.headDim !== c.headDim) return null;
  const layers: DecodeLayerSpec[] = [];
  for (let l = 0; l < blocks.length; l++) {
    const b = blocks[l]!;
    const lin = linearsOf(b);
    if (![b.attnNorm, b.mlpNorm, b.attn.qNorm, b.attn.kNorm].every(plainNorm)) return null;
    layers.push({
      attnNorm: b.attnNorm.weight.data,
      mlpNorm: b.mlpNorm.weight.data,
      qNorm: b.attn.qNorm?.weight.data ?? null,
      kNorm: b.attn.kNorm?.weight.data ?? null,
      types: Int32Array.from(lin, (x) => (x.weight.quant ? qtypeId(x.weight.quant.type) : 0)),
      plain: Uint8Array.from(lin, (x) => (x.weight.quant ? 0 : 1)),
      weights: lin.map((x) => weightBytes(x)),
      biases: lin.map((x) => x.bias?.data ?? null),
      kCache: cache.stored(l).keys,
      vCache: cache.stored(l).values,
    });
  }
  return new DecodePlan({
    dModel: c.dModel,
    nHeads: c.nHeads,
    nKvHeads: c.nKvHeads,
    headDim: c.headDim,
    ffnDim: c.ffnDim,
    rot,
    maxT: cache.maxSeqLen,
    slots: cache.batch,
    kvType: KV_TYPES[cache.dtype],
    eps: c.normEps,
    scale: 1 / Math.sqrt(c.headDim),
    layers,
  });
}

/**
 * The one-call decode plan for `blocks` over `cache` (made on first use and kept with the
 * cache), or null when the step-by-step path must run: a norm with an offset, or an adapter on
 * any projection. Checked on every call, as is that no weight was replaced since the plan was made
 * (adapters can be attached, weights quantized, after a cache is made).
 */
export function decodePlanFor(c: ModelConfig, blocks: readonly DecodeBlock[], cache: KvCache, rot: number): DecodePlan | null {
  if (!enabled) return null;
  let entry = plans.get(cache);
  if (!entry || entry.blocks !== blocks || (entry.plan !== null && (entry.plan.spec.rot !== rot || !current(entry.plan, blocks)))) {
    entry = { blocks, plan: buildPlan(c, blocks, cache, rot) };
    plans.set(cache, entry);
  }
  if (entry.plan === null) return null;
  for (const b of blocks) for (const x of linearsOf(b)) if (x.adapter !== null) return null;
  return entry.plan;
}

/** Whether the plan still holds each projection's weight and bias buffers (none was replaced). */
function current(plan: DecodePlan, blocks: readonly DecodeBlock[]): boolean {
  return blocks.every((b, l) => {
    const L = plan.spec.layers[l]!;
    return linearsOf(b).every((x, i) => sameBytes(weightBytes(x), L.weights[i]!) && (x.bias?.data ?? null) === L.biases[i]);
  });
}
