// An estimate of a training step's peak memory, before the run, so the CLI
// can warn when it will not fit (issue 22, point 5). It counts what the
// trainer allocates: the weights as held (float32 or quantized), each trained
// value's gradient and two AdamW moments (and an adapter's value), and the
// step's activations: every op's output and saved statistics for each block
// (or, with checkpointing, each block's output plus one block's activations),
// about as much again for their gradients in backward, and the logits: all (B·T, V) of
// them and their gradient without chunking, one chunk with it. It is a
// model of the code, not a measurement; bench/finetune.ts prints it beside
// the measured peak RSS. Knows nothing about free memory or printing.
import { weightStorage, type CausalLM } from "../models/index.ts";
import { chunkRowsFor } from "../tensor/index.ts";

export interface MemoryEstimateOptions {
  /** Sequences per step and tokens per sequence. */
  batch: number;
  seqLen: number;
  /** Values that train (adapters, or every parameter). */
  trainableValues: number;
  /** LoRA rank and adapted linear layers per block (0 without adapters). */
  loraRank?: number;
  adaptersPerLayer?: number;
  checkpointing: boolean;
  chunkedLoss: boolean;
}

export interface MemoryEstimate {
  weightsBytes: number;
  /** Gradients and AdamW moments of the trained values (and the adapters' own values). */
  trainingStateBytes: number;
  activationBytes: number;
  logitsBytes: number;
  /** The process itself (Node, the addon, the tokenizer): a measured allowance. */
  runtimeBytes: number;
  totalBytes: number;
}

/** A fixed allowance for Node and its heap before any tensor (measured: ~90 MB RSS for an idle `slm`). */
const RUNTIME_BYTES = 120e6;

export function estimateTrainingMemory(model: CausalLM, o: MemoryEstimateOptions): MemoryEstimate {
  const c = model.config;
  const n = o.batch * o.seqLen; // rows
  const qd = c.nHeads * c.headDim,
    kvd = c.nKvHeads * c.headDim,
    d = c.dModel,
    f = c.ffnDim;
  const lora = (o.loraRank ?? 0) * 2 * (o.adaptersPerLayer ?? 0); // h and its scaled copy per adapter
  // Floats per token that one block's forward keeps (norms and their rstd, q/k/v, rotated q/k,
  // attention output and log-sum-exp, projections, residual sums, gate/up/product, the adapters'
  // h), then about as many again for their gradients. A frozen quantized linear's input gradient
  // goes through one transient buffer per step (the widest input), not a slot per layer.
  const forward = 6 * d + 3 * qd + 3 * kvd + 3 * f + c.nHeads + 2 + lora;
  const perLayer = 2 * forward * n * 4;
  const quantized = model.parameters().some((p) => p.quant !== null);
  // With checkpointing and the chunked loss, the logits chunk and that buffer are one (the work arena's).
  const chunkBytes = o.chunkedLoss ? chunkRowsFor(n, c.vocabSize) * c.vocabSize * 4 : 0;
  const transient = !quantized ? 0 : o.checkpointing ? Math.max(0, Math.max(d, qd, f) * n * 4 - chunkBytes) : Math.max(d, qd, f) * n * 4;
  const activationBytes =
    transient +
    (o.checkpointing
      ? c.nLayers * n * d * 4 + 2 * n * d * 4 + perLayer // kept outputs, two gradient buffers, one block (forward and recomputation share its slots)
      : c.nLayers * perLayer);
  const edges = 4 * n * d * 4; // embeddings, final norm and their gradients
  const logitsBytes = o.chunkedLoss ? chunkBytes + n * d * 4 : 2 * n * c.vocabSize * 4;
  const weightsBytes = weightStorage(model).bytes;
  // Gradient and two moments per trained value, and for adapters their values too (a trained
  // base's values are in weightsBytes already).
  const trainingStateBytes = o.trainableValues * ((o.loraRank ?? 0) > 0 ? 16 : 12);
  const totalBytes = weightsBytes + trainingStateBytes + activationBytes + edges + logitsBytes + RUNTIME_BYTES;
  return { weightsBytes, trainingStateBytes, activationBytes: activationBytes + edges, logitsBytes, runtimeBytes: RUNTIME_BYTES, totalBytes };
}
