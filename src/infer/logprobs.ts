// Log-probabilities of tokens under a logits row, for the OpenAI `logprobs`
// fields: the log-softmax of the model's raw logits (temperature 1, before any
// sampling filter or output constraint, as OpenAI reports them), the chosen
// token's value and the N most likely tokens. Token ids only.

export interface TopLogprob {
  id: number;
  logprob: number;
}

/** One output token's log-probability, and the most likely alternatives at its position (most likely first). */
export interface TokenLogprob {
  id: number;
  logprob: number;
  top: TopLogprob[];
}

/** The most alternatives a request may ask for (OpenAI's chat limit). */
export const MAX_TOP_LOGPROBS = 20;

/** log Σ exp(row[i]) over the first V values (stable: shifted by the maximum). */
export function logSumExp(row: Float32Array, V: number): number {
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (row[i]! > max) max = row[i]!;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = 0; i < V; i++) sum += Math.exp(row[i]! - max);
  return max + Math.log(sum);
}

/** The n largest logits of row (V) as log-probabilities (lse = logSumExp(row)), most likely first, ties by lower id. */
export function topLogprobs(row: Float32Array, V: number, n: number, lse: number): TopLogprob[] {
  if (n <= 0) return [];
  const ids: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < V; i++) {
    const v = row[i]!;
    if (ids.length === n && v <= vals[n - 1]!) continue;
    // Insert in descending order (n ≤ 20: a short linear insert).
    let k = ids.length === n ? n - 1 : ids.length;
    if (ids.length < n) ids.push(i), vals.push(v);
    while (k > 0 && vals[k - 1]! < v) {
      ids[k] = ids[k - 1]!;
      vals[k] = vals[k - 1]!;
      k--;
    }
    ids[k] = i;
    vals[k] = v;
  }
  return ids.map((id, k) => ({ id, logprob: vals[k]! - lse }));
}
