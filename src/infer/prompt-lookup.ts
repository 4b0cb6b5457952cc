// Prompt-lookup drafting for speculative decoding: the next tokens are guessed
// by finding the sequence's last n tokens earlier in its own history (prompt +
// output so far) and copying what followed them there. Grounded answers quote
// their sources, so a few matching tokens usually continue as in the source.
// Costs no model call: a backwards scan over the history. Token ids only;
// knows nothing about models, caches or verification (speculative.ts).

export interface PromptLookupOptions {
  /** Longest suffix matched (tried first). Default 3. */
  maxNgram?: number;
  /** Shortest suffix matched. Default 2: one-token matches are frequent and mostly wrong. */
  minNgram?: number;
}

export const PROMPT_LOOKUP_DEFAULTS: Required<PromptLookupOptions> = { maxNgram: 3, minNgram: 2 };

/**
 * `k` draft tokens for `history`: for n = maxNgram down to minNgram, the most recent earlier
 * occurrence of the last n tokens, and the k tokens that followed it (continuing into the draft
 * when the occurrence is within k of the end). The longest suffix that occurs earlier wins;
 * empty when none does (or k < 1).
 */
export function promptLookup(history: readonly number[], k: number, opts: PromptLookupOptions = {}): number[] {
  const maxN = opts.maxNgram ?? PROMPT_LOOKUP_DEFAULTS.maxNgram;
  const minN = Math.max(1, opts.minNgram ?? PROMPT_LOOKUP_DEFAULTS.minNgram);
  const L = history.length;
  if (k < 1) return [];
  for (let n = Math.min(maxN, L - 1); n >= minN; n--) {
    // The suffix is history[L-n..L); an earlier occurrence starts at p <= L-n-1.
    for (let p = L - n - 1; p >= 0; p--) {
      let i = 0;
      while (i < n && history[p + i] === history[L - n + i]) i++;
      if (i < n) continue;
      // A match that overlaps the suffix runs into the draft itself (LZ77-style), so a
      // repeating pattern yields k tokens rather than the few left before the end.
      const from = p + n;
      const out: number[] = [];
      for (let i = 0; i < k; i++) out.push(from + i < L ? history[from + i]! : out[from + i - L]!);
      return out;
    }
  }
  return [];
}
