// Opening a dataset directory written by `slm ingest` for training or
// evaluation: manifest.json, train/val token shards and the tokenizer the
// shards were made with. Checks what training relies on (shards present,
// vocabulary size) and says what is wrong when it is not.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

import { ConfigError, FormatError } from "../errors.ts";
import { ShardSet } from "../data/shards.ts";

export interface Dataset {
  dir: string;
  train: ShardSet;
  val: ShardSet | null;
  vocabSize: number;
  /** Directory of tokenizer.json, when the dataset has one. */
  tokenizerDir: string | null;
  /** Text bytes per token over the whole dataset (for bits per byte), when known. */
  bytesPerToken: number | null;
  close(): void;
}

/** True when `dir` looks like a dataset written by `slm ingest` (it has manifest.json). */
export function isDataset(dir: string): boolean {
  return existsSync(join(dir, "manifest.json"));
}

export function openDataset(dir: string): Dataset {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new ConfigError(`dataset not found: ${dir}`, {
      hint: "make one with `slm ingest <docs> --out DIR --vocab-size 8192`, or pass a folder of documents",
    });
  const mpath = join(dir, "manifest.json");
  if (!existsSync(mpath))
    throw new ConfigError(`${dir} has no manifest.json: not a dataset`, { hint: "make one with `slm ingest <docs> --out DIR --vocab-size 8192`" });
  let m: { tokenizer?: { vocabSize?: number; dir?: string } | null; bytes?: { text?: number }; tokens?: { train?: number; val?: number } };
  try {
    m = JSON.parse(readFileSync(mpath, "utf8"));
  } catch (e) {
    throw new FormatError(`${mpath}: not valid JSON (${(e as Error).message})`);
  }
  if (!m.tokenizer || typeof m.tokenizer.vocabSize !== "number") {
    throw new ConfigError(`${dir} has no token shards (it was ingested without a tokenizer)`, {
      hint: "re-run `slm ingest` with --vocab-size N or --tokenizer DIR",
    });
  }
  const train = ShardSet.open(dir, "train");
  if (train.count === 0) {
    train.close();
    throw new ConfigError(`${dir}: the train split has no tokens`);
  }
  const val = ShardSet.open(dir, "val");
  const tokDir = m.tokenizer.dir ? join(dir, m.tokenizer.dir) : null;
  const totalTokens = (m.tokens?.train ?? 0) + (m.tokens?.val ?? 0);
  return {
    dir,
    train,
    val: val.count > 0 ? val : (val.close(), null),
    vocabSize: m.tokenizer.vocabSize,
    tokenizerDir: tokDir && existsSync(join(tokDir, "tokenizer.json")) ? tokDir : null,
    bytesPerToken: m.bytes?.text && totalTokens > 0 ? m.bytes.text / totalTokens : null,
    close() {
      train.close();
      val.close();
    },
  };
}
