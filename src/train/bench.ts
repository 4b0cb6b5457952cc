// Training throughput measurement: times full optimizer steps (forward,
// backward, clipping, AdamW) of a model on random token windows, and counts
// model FLOPs per token so throughput can be expressed as a fraction of the
// machine's measured matmul rate (MFU). Library code: returns numbers.
import type { CausalLM, ModelConfig } from "../models/index.ts";
import { AdamW, Tape, clipGradNorm, crossEntropy } from "../tensor/index.ts";
import { Rng } from "../util/rng.ts";

/**
 * Training FLOPs per token: 6 × (parameters used in matmuls, the output head
 * included even when tied) + 6 × layers × d_attn × T for attention scores and
 * values (PaLM's 12·L·d·T halved, since causal attention computes only the
 * lower triangle — which is all our kernels do).
 */
export function trainFlopsPerToken(c: ModelConfig, seqLen: number): number {
  const d = c.dModel,
    q = c.nHeads * c.headDim,
    kv = c.nKvHeads * c.headDim;
  const attnProj = d * q + 2 * d * kv + q * d;
  const mlp = c.modelType === "gpt2" ? 2 * d * c.ffnDim : 3 * d * c.ffnDim;
  const matmulParams = c.nLayers * (attnProj + mlp) + c.vocabSize * d;
  return 6 * matmulParams + 6 * c.nLayers * q * seqLen;
}

export interface TrainBenchResult {
  tokensPerSec: number;
  msPerStep: number;
  steps: number;
  flopsPerToken: number;
  /** Achieved model FLOP/s. */
  flops: number;
  lastLoss: number;
}

/** Times `steps` optimizer steps after `warmup` untimed ones, on random windows. */
export function benchTrainSteps(model: CausalLM, batch: number, seqLen: number, steps: number, warmup = 2, seed = 1): TrainBenchResult {
  const V = model.config.vocabSize;
  const rng = new Rng(seed);
  const params = model.namedParameters();
  const opt = new AdamW(params, { lr: 3e-4 });
  const trainable = params.map(([, p]) => p);
  const tape = new Tape();
  const ids = new Int32Array(batch * seqLen),
    targets = new Int32Array(batch * seqLen);
  let lastLoss = Number.NaN;
  const step = () => {
    for (let i = 0; i < ids.length; i++) {
      ids[i] = rng.int(V);
      targets[i] = rng.int(V);
    }
    tape.reset();
    const loss = crossEntropy(tape, model.forward(tape, ids, batch, seqLen), targets, { inPlaceGrad: true });
    lastLoss = loss.data[0]!;
    tape.backward(loss);
    clipGradNorm(trainable, 1);
    opt.step();
    opt.zeroGrad();
  };
  for (let i = 0; i < warmup; i++) step();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const ms = (performance.now() - t0) / steps;
  const tokensPerSec = (batch * seqLen) / (ms / 1000);
  const flopsPerToken = trainFlopsPerToken(model.config, seqLen);
  return { tokensPerSec, msPerStep: ms, steps, flopsPerToken, flops: tokensPerSec * flopsPerToken, lastLoss };
}
