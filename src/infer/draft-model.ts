// A small draft model for speculative decoding: it proposes the next k tokens
// of several sequences greedily, with its own KV cache whose slots mirror the
// target engine's (same slot numbers, same moves). It is kept in step lazily:
// `valid[slot]` counts the positions of the slot's history whose keys and
// values the draft cache holds; before proposing, whatever the target
// accepted since is fed in. Token ids only; knows nothing about sampling,
// verification or requests (speculative.ts, engine.ts).
//
// One proposal round for the slots 0..n-1 (each with history h_s):
//   the drafts fed last round that the target accepted stay valid; any other
//   gap up to len - 2 is fed per slot (only after rounds where the slot did
//   not draft, e.g. on its first round: its prompt);
//   then one batched call feeds each slot its last two tokens (tq = 2, the
//   first usually re-written with the same values), whose last row gives d1;
//   then k - 1 batched tq = 1 calls give d2..dk.
// So a round costs k calls of the draft model, whatever the batch.
import { ConfigError } from "../errors.ts";
import { KvCache, type CausalLM, type KvDtype } from "../models/index.ts";
import { Tape } from "../tensor/index.ts";
import { argmax } from "./sampler.ts";

export class DraftModel {
  private readonly cache: KvCache; // (slots, contextLength)
  private readonly tape = new Tape({ grad: false });
  /** Per slot: history positions 0..valid-1 are in the cache; then the drafts fed after them (kept if accepted). */
  private readonly valid: Int32Array;
  private readonly fed: number[][];
  private readonly starts: Int32Array;
  private readonly ids: Int32Array;

  constructor(
    readonly model: CausalLM,
    readonly target: CausalLM,
    readonly slots: number,
    readonly contextLength: number,
    kvDtype: KvDtype = "f32",
  ) {
    if (model.config.vocabSize !== target.config.vocabSize) {
      throw new ConfigError(
        `the draft model's vocabulary has ${model.config.vocabSize} tokens, the target's ${target.config.vocabSize}: a draft must share the target's tokenizer`,
        { hint: "use a student distilled from the target (slm distill), or a model trained with the same tokenizer" },
      );
    }
    if (model.config.maxSeqLen < contextLength) {
      throw new ConfigError(`the draft model's context (${model.config.maxSeqLen} tokens) is shorter than the engine's (${contextLength})`, {
        hint: "use a draft with at least the target's context, or lower the context length",
      });
    }
    this.cache = new KvCache(model.config, slots, contextLength, { dtype: kvDtype });
    this.valid = new Int32Array(slots);
    this.fed = Array.from({ length: slots }, () => []);
    this.starts = new Int32Array(slots);
    this.ids = new Int32Array(slots * 2);
  }

  /** Milliseconds per batched call of the last proposal (catch-up excluded), for the draft length that pays (bestDraftLength). */
  lastCallMs = 0;

  /** Bytes of the draft's KV cache. */
  get cacheBytes(): number {
    return this.cache.bytes;
  }

  /** A new sequence takes `slot`: nothing of it is cached yet (the first proposal feeds its prompt). */
  reset(slot: number): void {
    this.valid[slot] = 0;
    this.fed[slot] = [];
  }

  /** The engine moved slot `from` into `to` (KvCache.copySequence on its own cache). */
  move(from: number, to: number): void {
    const n = this.valid[from]! + this.fed[from]!.length;
    if (n > 0) this.cache.copySequence(from, to, Math.min(n, this.contextLength));
    this.valid[to] = this.valid[from]!;
    this.fed[to] = this.fed[from]!;
    this.fed[from] = [];
  }

  /**
   * Greedy drafts of k tokens for the slots 0..n-1 of `histories` (each of at least two tokens,
   * with history.length + k - 1 <= contextLength): row s of the result (n, k) is slot s's proposal.
   */
  propose(histories: readonly (readonly number[])[], k: number): Int32Array {
    const n = histories.length;
    const V = this.model.config.vocabSize;
    const out = new Int32Array(n * k);
    if (n === 0 || k < 1) return out;
    for (let s = 0; s < n; s++) {
      const h = histories[s]!;
      if (h.length < 2) throw new ConfigError(`DraftModel.propose: slot ${s} has ${h.length} tokens of history; at least 2 are needed`);
      // Drafts fed last round stay valid as far as the target accepted them.
      const fed = this.fed[s]!;
      let v = this.valid[s]!;
      for (let i = 0; i < fed.length && v < h.length && h[v] === fed[i]; i++) v++;
      this.fed[s] = [];
      // Catch up to len - 2 (the batched call below feeds the last two tokens).
      const upto = h.length - 2;
      if (v < upto) {
        this.tape.reset();
        this.model.forwardCached(this.tape, Int32Array.from(h.slice(v, upto)), 1, upto - v, this.cache.view(s), Int32Array.of(v), { logits: "last" });
        v = upto;
      }
      this.valid[s] = v;
      this.starts[s] = h.length - 2;
      this.ids[2 * s] = h[h.length - 2]!;
      this.ids[2 * s + 1] = h[h.length - 1]!;
    }
    // The last two tokens of every slot together (the first is usually rewritten with the same
    // keys and values); the last row gives d1.
    const t0 = performance.now();
    this.tape.reset();
    let logits = this.model.forwardCached(this.tape, this.ids.subarray(0, 2 * n), n, 2, this.cache, this.starts, { logits: "last" }).data; // (n, V)
    for (let s = 0; s < n; s++) {
      out[s * k] = argmax(logits.subarray(s * V, (s + 1) * V), V);
      this.valid[s] = histories[s]!.length;
    }
    // d2..dk: feed d_i at position len - 1 + i.
    for (let i = 1; i < k; i++) {
      for (let s = 0; s < n; s++) {
        this.ids[s] = out[s * k + i - 1]!;
        this.starts[s] = histories[s]!.length - 1 + i;
      }
      this.tape.reset();
      logits = this.model.forwardCached(this.tape, this.ids.subarray(0, n), n, 1, this.cache, this.starts).data; // (n, V)
      for (let s = 0; s < n; s++) out[s * k + i] = argmax(logits.subarray(s * V, (s + 1) * V), V);
    }
    for (let s = 0; s < n; s++) this.fed[s] = Array.from(out.subarray(s * k, s * k + k - 1));
    this.tape.reset();
    this.lastCallMs = (performance.now() - t0) / k;
    return out;
  }
}
