// The hook through which generate() and the batching engine restrict what a
// sequence may sample next (structured output: src/infer/json-schema/). A
// constraint sees the logits row before the sampler and every token after
// it is chosen. Token ids only; knows nothing about text or schemas.

/** mask() found no allowed token: the sequence must end (finishReason "length"). */
export const NO_TOKEN = -2;

export interface TokenConstraint {
  /**
   * Restricts `logits` (V) in place to the tokens allowed next (the others become -Infinity),
   * given `remaining` tokens of budget counting this one. Returns the id when exactly one token
   * is allowed (the caller takes it without sampling), NO_TOKEN when none is, else -1.
   */
  mask(logits: Float32Array, remaining: number): number;
  /** Advances past a chosen token (throws if the token was not allowed). */
  accept(id: number): void;
  /** The output is complete and nothing may follow: the sequence ends here (finishReason "stop"). */
  readonly finished: boolean;
  /** Fewest tokens that complete the output from the start (a budget below this cannot succeed). */
  readonly minTokens: number;
}
