// Test support for the training layer (imported by *.test.ts only): token
// shards with a learnable pattern, so training tests need no corpus.
import { ShardWriter } from "../data/shards.ts";
import { Rng } from "../util/rng.ts";

/**
 * Writes `n` tokens of vocabulary `vocab` as split `split` of a dataset in `dir`: mostly the
 * deterministic chain t -> (3t + 1) mod vocab, with a random restart 5% of the time, so a model
 * can learn it quickly and a loss that falls is a real signal.
 */
export function writePatternSplit(dir: string, split: string, n: number, seed: number, vocab: number): void {
  const r = new Rng(seed);
  const w = new ShardWriter({ dir, split, vocabSize: vocab });
  const ids: number[] = [];
  let t = r.int(vocab);
  for (let i = 0; i < n; i++) {
    ids.push(t);
    t = r.uniform() < 0.05 ? r.int(vocab) : (3 * t + 1) % vocab;
  }
  w.write(ids);
  w.close();
}
