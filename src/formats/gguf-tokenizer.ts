// Tokenizer <-> GGUF metadata (the tokenizer.ggml.* keys llama.cpp reads).
// Byte-level BPE becomes tokenizer.ggml.model "gpt2" with its merges and a
// tokenizer.ggml.pre naming llama.cpp's pre-tokenizer regex; SentencePiece-
// style BPE (Metaspace "▁" + <0xXX> byte fallback) becomes "llama" with
// scores (merge priority: the token made by merge r scores -(r+1)) and, so our
// own reader gets the exact merge list back, the merges too (llama.cpp ignores
// them for "llama"). Token types: 1 normal, 2 unknown, 3 control (special
// added tokens), 4 user-defined (other added tokens), 5 unused (holes in the
// id range), 6 byte (<0xXX>).
// Knows nothing about weights or files: a Tokenizer in, key/value pairs out,
// and back.
import { ConfigError, FormatError } from "../errors.ts";
import { PATTERNS } from "../tokenizer/pretokenize.ts";
import { specialToken, Tokenizer, type AddedToken, type TokenizerSpec } from "../tokenizer/tokenizer.ts";
import { gv, kvArray, kvBool, kvNumber, kvString, type GgufValue } from "./gguf.ts";

export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/**
 * Our pre-tokenizer regexes and the tokenizer.ggml.pre name llama.cpp uses for
 * the same regex. "llama-bpe" also turns on llama.cpp's ignore_merges (a chunk
 * that is itself a token is taken whole), which our reader mirrors.
 */
const PRE_NAMES: { pre: string; pattern: string; ignoreMerges: boolean; aliases: string[] }[] = [
  { pre: "gpt-2", pattern: PATTERNS.gpt2, ignoreMerges: false, aliases: ["gpt2"] },
  { pre: "llama-bpe", pattern: PATTERNS.llama3, ignoreMerges: true, aliases: ["llama3", "llama-v3"] },
  { pre: "qwen2", pattern: PATTERNS.qwen, ignoreMerges: false, aliases: [] },
  { pre: "gpt-4o", pattern: PATTERNS.o200k, ignoreMerges: false, aliases: [] },
];

const BYTE_PIECE = /^<0x[0-9A-F]{2}>$/;

export interface SpecialIds {
  bos?: number;
  eos?: number;
  /**
   * The model's vocabulary size, when larger than the tokenizer's: the token list is padded to
   * it with unused "[PAD<id>]" tokens, as llama.cpp's converter does (llama.cpp refuses a file
   * whose token_embd has more rows than the token list; every Qwen2.5/Qwen3 model has
   * vocab_size 151,936 for ~151,665 tokens).
   */
  padTo?: number;
}

/** The tokenizer.ggml.* key/value pairs for a tokenizer. `ids`: the model's bos/eos (config.json), preferred over the tokenizer config's names. */
export function tokenizerToGguf(tok: Tokenizer, ids: SpecialIds = {}): [string, GgufValue][] {
  const spec = tok.spec;
  const m = spec.model;
  const n = Math.max(tok.vocabSize, ids.padTo ?? 0);
  const added = new Map<number, AddedToken>(spec.addedTokens.map((t) => [t.id, t]));
  const unkId = m.unkToken !== null ? tok.tokenToId(m.unkToken) : undefined;
  const tokens: string[] = new Array(n);
  const types = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = i < tok.vocabSize ? tok.idToToken(i) : undefined;
    const a = added.get(i);
    if (i >= tok.vocabSize) {
      tokens[i] = `[PAD${i}]`;
      types[i] = TOKEN_TYPE.unused;
    } else if (t === undefined) {
      tokens[i] = `[UNUSED_${i}]`;
      types[i] = TOKEN_TYPE.unused;
    } else {
      tokens[i] = t;
      if (a) types[i] = a.special ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined;
      else if (i === unkId) types[i] = TOKEN_TYPE.unknown;
      else if (m.kind === "sentencepiece" && m.byteFallback && BYTE_PIECE.test(t)) types[i] = TOKEN_TYPE.byte;
      else types[i] = TOKEN_TYPE.normal;
    }
  }
  if (unkId !== undefined) types[unkId] = TOKEN_TYPE.unknown;
  const pairs = tok.mergePairs;
  const merges: string[] = [];
  if (pairs) for (let i = 0; i < pairs.length; i += 2) merges.push(`${tok.idToToken(pairs[i]!)} ${tok.idToToken(pairs[i + 1]!)}`);
  const kv: [string, GgufValue][] = [];
  if (m.kind === "bytelevel") {
    const p = spec.preTokenizer;
    const pattern = p.type === "bytelevel" ? p.pattern : "";
    const pre = PRE_NAMES.find((x) => x.pattern === pattern);
    if (!pre) {
      throw new ConfigError("GGUF export: llama.cpp has no pre-tokenizer matching this tokenizer's regex", {
        hint: "train the tokenizer with --pattern gpt2, cl100k/llama3, qwen or o200k",
      });
    }
    if (p.type === "bytelevel" && p.addPrefixSpace) throw new ConfigError("GGUF export: byte-level add_prefix_space is not expressible in GGUF");
    kv.push(["tokenizer.ggml.model", gv.str("gpt2")], ["tokenizer.ggml.pre", gv.str(pre.pre)]);
    kv.push(["tokenizer.ggml.tokens", gv.strings(tokens)], ["tokenizer.ggml.token_type", gv.i32s(types)]);
    kv.push(["tokenizer.ggml.merges", gv.strings(merges)]);
  } else {
    const scores = new Float32Array(n);
    if (pairs) {
      for (let r = pairs.length / 2 - 1; r >= 0; r--) {
        const id = tok.tokenToId(tok.idToToken(pairs[2 * r]!)! + tok.idToToken(pairs[2 * r + 1]!)!);
        if (id !== undefined) scores[id] = -(r + 1); // the lowest rank that makes a token wins
      }
    }
    kv.push(["tokenizer.ggml.model", gv.str("llama")], ["tokenizer.ggml.pre", gv.str("default")]);
    kv.push(["tokenizer.ggml.tokens", gv.strings(tokens)], ["tokenizer.ggml.scores", gv.f32s(scores)], ["tokenizer.ggml.token_type", gv.i32s(types)]);
    kv.push(["tokenizer.ggml.merges", gv.strings(merges)]);
    kv.push(["tokenizer.ggml.add_space_prefix", gv.bool(spaceScheme(spec) !== "never")]);
  }
  const lookup = (name: unknown) => (typeof name === "string" ? tok.tokenToId(name) : undefined);
  const pp = spec.postProcessor;
  if (pp.prefix.length > 1 || pp.suffix.length > 1)
    throw new ConfigError("GGUF export: a post-processor adding more than one token at either end is not expressible in GGUF");
  // The post-processor's ids are what gets added; then the model's own ids; then the tokenizer config's names.
  const bos = pp.prefix[0] ?? ids.bos ?? lookup(spec.config.bos_token);
  const eos = pp.suffix[0] ?? ids.eos ?? lookup(spec.config.eos_token);
  const pad = lookup(spec.config.pad_token);
  if (bos !== undefined) kv.push(["tokenizer.ggml.bos_token_id", gv.u32(bos)]);
  if (eos !== undefined) kv.push(["tokenizer.ggml.eos_token_id", gv.u32(eos)]);
  if (unkId !== undefined) kv.push(["tokenizer.ggml.unknown_token_id", gv.u32(unkId)]);
  if (pad !== undefined) kv.push(["tokenizer.ggml.padding_token_id", gv.u32(pad)]);
  kv.push(["tokenizer.ggml.add_bos_token", gv.bool(pp.prefix.length === 1)], ["tokenizer.ggml.add_eos_token", gv.bool(pp.suffix.length === 1)]);
  if (typeof spec.config.chat_template === "string") kv.push(["tokenizer.chat_template", gv.str(spec.config.chat_template)]);
  return kv;
}

/** How a SentencePiece-style tokenizer prepends "▁": from its Metaspace pre-tokenizer or a Prepend normalizer. */
function spaceScheme(spec: TokenizerSpec): "first" | "always" | "never" {
  const p = spec.preTokenizer;
  if (p.type === "metaspace") {
    if (p.replacement !== "\u2581")
      throw new ConfigError(`GGUF export: Metaspace replacement ${JSON.stringify(p.replacement)} is not expressible in GGUF (llama.cpp uses "▁")`);
    return p.prependScheme;
  }
  const replace = spec.normalizer.some((s) => s.type === "Replace" && s.from === " " && s.to === "\u2581");
  if (!replace) throw new ConfigError("GGUF export: a SentencePiece-style tokenizer needs a Metaspace pre-tokenizer or a Replace(' ' -> '▁') normalizer");
  return spec.normalizer.some((s) => s.type === "Prepend" && s.prepend === "\u2581") ? "first" : "never";
}

function fail(msg: string, hint?: string): never {
  throw new FormatError(`GGUF tokenizer: ${msg}`, hint ? { hint } : undefined);
}

/** A Tokenizer from the tokenizer.ggml.* keys, or undefined when the file has none. */
export function tokenizerFromGguf(kv: Map<string, GgufValue>): Tokenizer | undefined {
  const model = kvString(kv, "tokenizer.ggml.model");
  if (model === undefined) return undefined;
  const tokens = kvArray(kv, "tokenizer.ggml.tokens", ["string"]) as string[] | undefined;
  if (!tokens || tokens.length === 0) fail("tokenizer.ggml.tokens is missing or empty");
  const n = tokens.length;
  const rawTypes = kvArray(kv, "tokenizer.ggml.token_type", ["i32", "u32", "i8", "u8", "i16", "u16"]);
  if (rawTypes && rawTypes.length !== n) fail(`tokenizer.ggml.token_type has ${rawTypes.length} entries for ${n} tokens`);
  const types = rawTypes ? Int32Array.from(rawTypes as ArrayLike<number>) : new Int32Array(n).fill(TOKEN_TYPE.normal);
  const idKey = (k: string) => {
    const v = kvNumber(kv, `tokenizer.ggml.${k}`);
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || v < 0 || v >= n) {
      if (v === -1 || v === 0xffffffff) return undefined; // llama.cpp's "none"
      fail(`tokenizer.ggml.${k} = ${v} is outside the vocabulary (0..${n - 1})`);
    }
    return v;
  };
  const bos = idKey("bos_token_id");
  const eos = idKey("eos_token_id");
  const unk = idKey("unknown_token_id");
  const pad = idKey("padding_token_id");
  const vocab = new Map<string, number>();
  const addedTokens: AddedToken[] = [];
  for (let i = 0; i < n; i++) {
    const t = tokens[i]!;
    const ty = types[i]!;
    if (ty === TOKEN_TYPE.unused) continue;
    if (ty === TOKEN_TYPE.control || ty === TOKEN_TYPE.userDefined || ty === TOKEN_TYPE.unknown) {
      if (t === "") fail(`token ${i} (type ${ty}) is empty`);
      addedTokens.push({ ...specialToken(t, i), special: ty !== TOKEN_TYPE.userDefined });
      if (ty !== TOKEN_TYPE.unknown) continue;
    }
    if (vocab.has(t)) continue; // duplicate pieces: the first id wins (HF does the same)
    vocab.set(t, i);
  }
  const mergeList = kvArray(kv, "tokenizer.ggml.merges", ["string"]) as string[] | undefined;
  const parseMerges = (list: string[]) =>
    list.map((s, i): [string, string] => {
      const sp = s.indexOf(" ", 1);
      if (sp < 0) fail(`tokenizer.ggml.merges[${i}] = ${JSON.stringify(s.slice(0, 40))} is not "left right"`);
      return [s.slice(0, sp), s.slice(sp + 1)];
    });
  const config: TokenizerSpec["config"] = {};
  const chat = kvString(kv, "tokenizer.chat_template");
  if (chat !== undefined) config.chat_template = chat;
  if (bos !== undefined) config.bos_token = tokens[bos]!;
  if (eos !== undefined) config.eos_token = tokens[eos]!;
  if (pad !== undefined) config.pad_token = tokens[pad]!;
  if (unk !== undefined) config.unk_token = tokens[unk]!;
  const addBos = kvBool(kv, "tokenizer.ggml.add_bos_token");
  const addEos = kvBool(kv, "tokenizer.ggml.add_eos_token") ?? false;
  let spec: TokenizerSpec;
  if (model === "gpt2") {
    const preName = kvString(kv, "tokenizer.ggml.pre") ?? "default";
    const pre = PRE_NAMES.find((x) => x.pre === preName || x.aliases.includes(preName));
    if (!pre) fail(`tokenizer.ggml.pre "${preName}" is not supported`, `supported: ${PRE_NAMES.map((x) => x.pre).join(", ")}`);
    if (!mergeList) fail("tokenizer.ggml.merges is missing (a gpt2 tokenizer needs its merges)");
    spec = {
      model: { kind: "bytelevel", vocab, merges: parseMerges(mergeList), byteFallback: false, unkToken: null, ignoreMerges: pre.ignoreMerges },
      normalizer: [],
      preTokenizer: { type: "bytelevel", pattern: pre.pattern, addPrefixSpace: false },
      decodeStripLeadingSpace: false,
      addedTokens,
      postProcessor: { prefix: (addBos ?? pre.pre === "llama-bpe") && bos !== undefined ? [bos] : [], suffix: addEos && eos !== undefined ? [eos] : [] },
      config,
    };
  } else if (model === "llama") {
    const prefix = kvBool(kv, "tokenizer.ggml.add_space_prefix") ?? true;
    let merges: Array<[string, string]>;
    if (mergeList) merges = parseMerges(mergeList);
    else {
      const scores = kvArray(kv, "tokenizer.ggml.scores", ["f32"]) as Float32Array | undefined;
      if (!scores || scores.length !== n) fail("tokenizer.ggml.scores is missing or has the wrong length (a llama tokenizer without merges needs its scores)");
      merges = mergesFromScores(tokens, types, scores, vocab);
    }
    let byteFallback = true;
    for (let b = 0; b < 256 && byteFallback; b++) byteFallback = vocab.has(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    spec = {
      model: { kind: "sentencepiece", vocab, merges, byteFallback, unkToken: unk !== undefined ? tokens[unk]! : null, ignoreMerges: false },
      normalizer: [],
      preTokenizer: { type: "metaspace", replacement: "\u2581", prependScheme: prefix ? "first" : "never", split: false },
      decodeStripLeadingSpace: prefix,
      addedTokens,
      postProcessor: { prefix: (addBos ?? true) && bos !== undefined ? [bos] : [], suffix: addEos && eos !== undefined ? [eos] : [] },
      config,
    };
  } else {
    fail(`tokenizer.ggml.model "${model}" is not supported`, 'supported: "gpt2" (byte-level BPE), "llama" (SentencePiece-style BPE)');
  }
  try {
    return new Tokenizer(spec);
  } catch (e) {
    if (e instanceof FormatError) throw new FormatError(`GGUF tokenizer: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * SentencePiece BPE merges implied by scores: every split of a normal token
 * into two normal tokens is a merge, ranked by the merged token's score
 * (highest first), then by the ids of the parts. This is how llama.cpp's
 * "llama" tokenizer behaves (it merges the adjacent pair whose concatenation
 * is the best-scoring token).
 */
function mergesFromScores(tokens: string[], types: Int32Array, scores: Float32Array, vocab: Map<string, number>): Array<[string, string]> {
  const found: { score: number; l: number; r: number; a: string; b: string }[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (types[i] !== TOKEN_TYPE.normal) continue;
    const chars = Array.from(tokens[i]!);
    if (chars.length < 2) continue;
    let left = "";
    for (let k = 1; k < chars.length; k++) {
      left += chars[k - 1]!;
      const right = chars.slice(k).join("");
      const l = vocab.get(left);
      const r = vocab.get(right);
      if (l !== undefined && r !== undefined && types[l] === TOKEN_TYPE.normal && types[r] === TOKEN_TYPE.normal)
        found.push({ score: scores[i]!, l, r, a: left, b: right });
    }
  }
  found.sort((x, y) => y.score - x.score || x.l - y.l || x.r - y.r);
  return found.map((f) => [f.a, f.b]);
}
