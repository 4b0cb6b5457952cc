// The small tokenizer surface ingestion needs, so src/data does not depend on
// src/tokenizer: the caller (the CLI) passes an object that satisfies it, or a
// function that trains one from the cleaned training text.
// Knows nothing about how tokenization works.

export interface TextTokenizer {
  /** Token ids of a text, without special tokens. */
  encode(text: string): number[];
  readonly vocabSize: number;
  /** End-of-sequence id, appended after every document when defined. */
  readonly eosId: number | undefined;
  /** Beginning-of-sequence id, put before every document when there is no EOS. */
  readonly bosId?: number | undefined;
  /** Writes the tokenizer files (tokenizer.json…) into dir, which exists. */
  save(dir: string): Promise<void> | void;
}

/** Trains a tokenizer on the cleaned training documents (one string per document). */
export type TrainTokenizer = (texts: AsyncIterable<string>, vocabSize: number) => Promise<TextTokenizer>;
