// When a generated sequence stops, and which of its tokens a streaming caller
// may see yet: stop token ids, stop token-id sequences (removed from the
// output; tokens that could still start one are held back), the token budget,
// and a callback that may ask to stop. Shared by generate() and the batching
// engine so both stop a sequence the same way. Token ids only.

export type FinishReason = "stop" | "length" | "cancelled";

/** One sequence's output so far. */
export interface TokenStream {
  /** Prompt + sampled ids (the repetition penalty's history; its last id is fed next). */
  history: number[];
  /** Output ids (sampled ids minus a stop token / matched stop sequence). */
  out: number[];
  /** out[0..emitted) have been passed on. */
  emitted: number;
  /** Most tokens this sequence may sample. */
  limit: number;
  sampled: number;
  finish: FinishReason | null;
}

export interface StopRules {
  stopIds: ReadonlySet<number>;
  stopSeqs: readonly (readonly number[])[];
}

/** Passes out[emitted..end) on (advancing emitted); false when the receiver asked to stop. */
export type Emit = (end: number) => boolean;

/** Whether `out` ends with `seq`. */
export function endsWith(out: readonly number[], seq: readonly number[]): boolean {
  if (seq.length > out.length) return false;
  const off = out.length - seq.length;
  for (let i = 0; i < seq.length; i++) if (out[off + i] !== seq[i]) return false;
  return true;
}

/** Length of the longest suffix of out[from..] that is a proper prefix of some stop sequence. */
export function heldBack(out: readonly number[], from: number, stops: readonly (readonly number[])[]): number {
  let best = 0;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, out.length - from); k > best; k--) {
      let match = true;
      for (let i = 0; i < k; i++) {
        if (out[out.length - k + i] !== s[i]) {
          match = false;
          break;
        }
      }
      if (match) {
        best = k;
        break;
      }
    }
  }
  return best;
}

/** Ends a sequence. Held-back tokens turn out to be output after all; a receiver that stops keeps exactly what it was shown. */
export function finishStream(s: TokenStream, reason: FinishReason, emit: Emit): void {
  if (!emit(s.out.length)) {
    s.out.length = s.emitted;
    reason = "stop";
  }
  s.finish = reason;
}

/** Records a sampled token; marks the sequence finished when it should stop. */
export function acceptToken(s: TokenStream, id: number, rules: StopRules, emit: Emit): void {
  s.sampled++;
  s.history.push(id);
  if (rules.stopIds.has(id)) return finishStream(s, "stop", emit);
  s.out.push(id);
  for (const seq of rules.stopSeqs) {
    if (endsWith(s.out, seq)) {
      s.out.length -= seq.length;
      s.emitted = Math.min(s.emitted, s.out.length);
      s.finish = "stop";
      return;
    }
  }
  const hold = rules.stopSeqs.length > 0 ? heldBack(s.out, s.emitted, rules.stopSeqs) : 0;
  if (!emit(s.out.length - hold)) {
    s.out.length = s.emitted;
    s.finish = "stop";
    return;
  }
  if (s.sampled >= s.limit) finishStream(s, "length", emit);
}
