// The small tokenizer surface ingestion needs: the pipeline takes an object
// that satisfies it, or a function that trains one from the cleaned training
// text, so tests can pass a stand-in. The adapters at the end wrap
// src/tokenizer's Tokenizer for the CLI and the train pipeline.
import { Tokenizer, trainBpe } from "../tokenizer/index.ts";

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

// ---------------------------------------------------------------------------
// The real tokenizer behind that surface (src/tokenizer), for the CLI and the
// one-command pipeline (`slm train --data <folder>`).

/** The id of the first of `names` that the tokenizer has as a special token. */
function specialId(tok: Tokenizer, names: string[]): number | undefined {
  const sp = tok.specialTokens;
  for (const n of names) if (sp[n] !== undefined) return sp[n];
  return undefined;
}

/**
 * Wraps a Tokenizer for ingestion: documents are encoded as plain text (special-token
 * strings inside a document stay text), separated by the end-of-text token.
 */
export function asTextTokenizer(tok: Tokenizer): TextTokenizer {
  return {
    encode: (text) => tok.encode(text, { allowedSpecial: "none" }),
    vocabSize: tok.vocabSize,
    eosId: specialId(tok, ["<|endoftext|>", "</s>", "<|end_of_text|>", "<|eos|>"]),
    bosId: specialId(tok, ["<s>", "<|begin_of_text|>", "<|bos|>"]),
    save: (dir) => tok.save(dir),
  };
}

/** Loads tokenizer.json (+ tokenizer_config.json) from a directory for ingestion. */
export function loadTextTokenizer(dir: string): TextTokenizer {
  return asTextTokenizer(Tokenizer.fromFile(dir));
}

/** Trains a byte-level BPE tokenizer (default pattern and special tokens) on the cleaned training text. */
export const trainTextTokenizer: TrainTokenizer = async (texts, vocabSize) => asTextTokenizer(await trainBpe(texts, { vocabSize }));
