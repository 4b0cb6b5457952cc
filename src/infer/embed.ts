// Text-free embeddings: the mean of a causal model's final hidden states
// (after the last norm, before the output head) over an input's tokens, one
// vector of dModel floats per input. Token ids in, vectors out: knows nothing
// about text, tokenizers or HTTP.
import { CancelledError, UsageError } from "../errors.ts";
import type { CausalLM } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";

export interface EmbedOptions {
  /** Checked before each input: aborting throws CancelledError. */
  signal?: AbortSignal;
  /** A tape to reuse across calls (an inference tape, grad: false), so its arena recycles activations. */
  tape?: Tape;
}

/** One mean-pooled final hidden state (dModel) per input (token ids, 1..context tokens each). */
export function embed(model: CausalLM, inputs: readonly (readonly number[])[], opts: EmbedOptions = {}): Float32Array[] {
  const c = model.config;
  const V = c.vocabSize,
    d = c.dModel;
  if (!Array.isArray(inputs)) throw new UsageError("embed: inputs must be an array of token-id arrays");
  inputs.forEach((ids, i) => {
    if (!Array.isArray(ids) || ids.length === 0) throw new UsageError(`embed: input ${i} is empty`, { hint: "every input needs at least one token" });
    if (ids.length > c.maxSeqLen)
      throw new UsageError(`embed: input ${i} has ${ids.length} tokens; the model's context is ${c.maxSeqLen}`, { hint: "shorten or split the input" });
    ids.forEach((id, j) => {
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new UsageError(`embed: input ${i} token ${j} is ${id}, outside the vocabulary (0..${V - 1})`);
    });
  });
  const tape = opts.tape ?? new Tape({ grad: false });
  const out: Float32Array[] = [];
  const acc = new Float64Array(d); // (d) running sum
  try {
    for (const ids of inputs) {
      if (opts.signal?.aborted) throw new CancelledError("embedding cancelled");
      const T = ids.length;
      tape.reset();
      const h = model.hidden(tape, Int32Array.from(ids), 1, T).data; // (T, d)
      acc.fill(0);
      for (let t = 0; t < T; t++) for (let k = 0; k < d; k++) acc[k]! += h[t * d + k]!;
      const v = new Float32Array(d);
      for (let k = 0; k < d; k++) v[k] = acc[k]! / T;
      out.push(v);
    }
  } finally {
    tape.reset();
  }
  return out;
}
