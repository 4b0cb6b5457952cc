// Hugging Face tokenizer.json / tokenizer_config.json: parse and validate into
// a TokenizerSpec, and write one back. Supported: BPE models (merges as "a b"
// strings or ["a","b"] pairs), byte-level (ByteLevel pre-tokenizer and
// decoder, optionally after a Split regex) and SentencePiece-style
// (Metaspace, or Prepend+Replace normalizers, byte_fallback), NFC/NFD/NFKC/NFKD
// normalizers, TemplateProcessing post-processors, added tokens. Anything
// else is a FormatError naming the field and what is supported.
// Knows nothing about encoding itself; file IO is limited to reading and
// atomically writing these two files.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, dirname } from "node:path";

import { FormatError } from "../errors.ts";
import { writeFileAtomicSync } from "../util/atomic.ts";
import { toJsRegexSource, PATTERNS } from "./pretokenize.ts";
import type { AddedToken, ModelSpec, NormalizerStep, PreTokenizerSpec, TokenizerConfig, TokenizerSpec } from "./tokenizer.ts";

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function fail(field: string, msg: string, supported?: string): never {
  throw new FormatError(`tokenizer.json ${field}: ${msg}`, supported ? { hint: `supported: ${supported}` } : undefined);
}

function typeOf(v: unknown, field: string): string {
  if (!isObj(v)) fail(field, `expected an object, got ${JSON.stringify(v)?.slice(0, 60)}`);
  if (typeof v.type !== "string") fail(`${field}.type`, "missing or not a string");
  return v.type;
}

function bool(v: unknown, def: boolean): boolean {
  return typeof v === "boolean" ? v : def;
}

const NORMALIZERS = "NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace (String pattern), Sequence of these, or null";
const PRETOKENIZERS = "ByteLevel, Split (Regex or String pattern, behavior Isolated) followed by ByteLevel, Metaspace, Sequence of these, or null";
const DECODERS = "ByteLevel, Metaspace, Sequence of Replace/ByteFallback/Fuse/Strip, or null";

function parseNormalizer(v: unknown, field: string, out: NormalizerStep[]): void {
  if (v === null || v === undefined) return;
  const t = typeOf(v, field);
  const o = v as Json;
  switch (t) {
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD":
    case "Lowercase":
      out.push({ type: t });
      return;
    case "Prepend":
      if (typeof o.prepend !== "string") fail(`${field}.prepend`, "expected a string");
      out.push({ type: "Prepend", prepend: o.prepend });
      return;
    case "Replace": {
      const p = o.pattern;
      if (!isObj(p) || typeof p.String !== "string")
        fail(`${field}.pattern`, `only {"String": …} patterns are supported, got ${JSON.stringify(p)}`, "Replace with a String pattern");
      if (typeof o.content !== "string") fail(`${field}.content`, "expected a string");
      out.push({ type: "Replace", from: p.String, to: o.content });
      return;
    }
    case "Sequence": {
      if (!Array.isArray(o.normalizers)) fail(`${field}.normalizers`, "expected an array");
      o.normalizers.forEach((n, i) => parseNormalizer(n, `${field}.normalizers[${i}]`, out));
      return;
    }
    default:
      fail(`${field}.type`, `normalizer "${t}" is not supported`, NORMALIZERS);
  }
}

interface PreParts {
  pattern: string | null;
  byteLevel: { addPrefixSpace: boolean } | null;
  metaspace: Extract<PreTokenizerSpec, { type: "metaspace" }> | null;
}

function parsePre(v: unknown, field: string, parts: PreParts): void {
  if (v === null || v === undefined) return;
  const t = typeOf(v, field);
  const o = v as Json;
  switch (t) {
    case "ByteLevel":
      if (parts.byteLevel) fail(field, "more than one ByteLevel pre-tokenizer", PRETOKENIZERS);
      parts.byteLevel = { addPrefixSpace: bool(o.add_prefix_space, false) };
      if (bool(o.use_regex, true)) {
        if (parts.pattern !== null) fail(`${field}.use_regex`, "a ByteLevel regex after a Split is not supported (set use_regex false)", PRETOKENIZERS);
        parts.pattern = PATTERNS.gpt2;
      }
      return;
    case "Split": {
      if (parts.pattern !== null) fail(field, "only one Split regex is supported", PRETOKENIZERS);
      if (o.behavior !== "Isolated") fail(`${field}.behavior`, `"${String(o.behavior)}" is not supported`, `Split with behavior "Isolated"`);
      if (o.invert === true) fail(`${field}.invert`, "inverted Split is not supported", `Split with invert false`);
      const p = o.pattern;
      if (isObj(p) && typeof p.Regex === "string") parts.pattern = toJsRegexSource(p.Regex, `${field}.pattern.Regex`);
      else if (isObj(p) && typeof p.String === "string") parts.pattern = p.String.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
      else fail(`${field}.pattern`, `expected {"Regex": …} or {"String": …}, got ${JSON.stringify(p)}`);
      return;
    }
    case "Metaspace": {
      const repl = typeof o.replacement === "string" ? o.replacement : "\u2581";
      let scheme = o.prepend_scheme;
      if (scheme === undefined) scheme = bool(o.add_prefix_space, true) ? "always" : "never";
      if (scheme !== "always" && scheme !== "first" && scheme !== "never")
        fail(`${field}.prepend_scheme`, `"${String(scheme)}" is not supported`, "always, first, never");
      parts.metaspace = { type: "metaspace", replacement: repl, prependScheme: scheme, split: bool(o.split, true) };
      return;
    }
    case "Sequence":
      if (!Array.isArray(o.pretokenizers)) fail(`${field}.pretokenizers`, "expected an array");
      o.pretokenizers.forEach((p, i) => parsePre(p, `${field}.pretokenizers[${i}]`, parts));
      return;
    default:
      fail(`${field}.type`, `pre-tokenizer "${t}" is not supported`, PRETOKENIZERS);
  }
}

/** Returns [byteLevel decoder?, strip leading space?]. */
function parseDecoder(v: unknown, field: string): { byteLevel: boolean; strip: boolean } {
  const r = { byteLevel: false, strip: false };
  const walk = (d: unknown, f: string) => {
    if (d === null || d === undefined) return;
    const t = typeOf(d, f);
    const o = d as Json;
    switch (t) {
      case "ByteLevel":
        r.byteLevel = true;
        return;
      case "Metaspace": {
        const scheme = o.prepend_scheme ?? (bool(o.add_prefix_space, true) ? "always" : "never");
        if (scheme !== "never") r.strip = true;
        return;
      }
      case "Strip":
        if (o.content === " " && typeof o.start === "number" && o.start > 0) r.strip = true;
        return;
      case "Replace":
      case "ByteFallback":
      case "Fuse":
        return;
      case "Sequence":
        if (!Array.isArray(o.decoders)) fail(`${f}.decoders`, "expected an array");
        o.decoders.forEach((x, i) => walk(x, `${f}.decoders[${i}]`));
        return;
      default:
        fail(`${f}.type`, `decoder "${t}" is not supported`, DECODERS);
    }
  };
  walk(v, field);
  return r;
}

function parseAdded(v: unknown): AddedToken[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail("added_tokens", "expected an array");
  return v.map((t, i) => {
    if (!isObj(t) || !Number.isInteger(t.id) || (t.id as number) < 0 || typeof t.content !== "string" || t.content === "") {
      fail(`added_tokens[${i}]`, `expected {id: non-negative integer, content: non-empty string, …}, got ${JSON.stringify(t)?.slice(0, 80)}`);
    }
    return {
      id: t.id as number,
      content: t.content,
      special: bool(t.special, false),
      lstrip: bool(t.lstrip, false),
      rstrip: bool(t.rstrip, false),
      normalized: bool(t.normalized, false),
      singleWord: bool(t.single_word, false),
    };
  });
}

function parsePost(v: unknown, field: string, lookup: (tok: string) => number | undefined): { prefix: number[]; suffix: number[] } {
  const out = { prefix: [] as number[], suffix: [] as number[] };
  const walk = (p: unknown, f: string) => {
    if (p === null || p === undefined) return;
    const t = typeOf(p, f);
    const o = p as Json;
    if (t === "ByteLevel") return;
    if (t === "Sequence") {
      if (!Array.isArray(o.processors)) fail(`${f}.processors`, "expected an array");
      o.processors.forEach((x, i) => walk(x, `${f}.processors[${i}]`));
      return;
    }
    if (t !== "TemplateProcessing") fail(`${f}.type`, `post-processor "${t}" is not supported`, "TemplateProcessing, ByteLevel, Sequence of these, or null");
    if (!Array.isArray(o.single)) fail(`${f}.single`, "expected an array");
    let seen = false;
    o.single.forEach((item, i) => {
      if (isObj(item) && isObj(item.Sequence)) {
        seen = true;
        return;
      }
      if (!isObj(item) || !isObj(item.SpecialToken) || typeof item.SpecialToken.id !== "string")
        fail(`${f}.single[${i}]`, `expected {SpecialToken: {id}} or {Sequence: {id}}`);
      const name = item.SpecialToken.id;
      const st = isObj(o.special_tokens) ? o.special_tokens[name] : undefined;
      let ids: number[] | undefined;
      if (isObj(st) && Array.isArray(st.ids)) ids = st.ids as number[];
      else {
        const id = lookup(name);
        if (id !== undefined) ids = [id];
      }
      if (!ids) fail(`${f}.single[${i}]`, `special token ${JSON.stringify(name)} is not defined`);
      (seen ? out.suffix : out.prefix).push(...ids);
    });
  };
  walk(v, field);
  return out;
}

/** Validates a parsed tokenizer.json (and optional tokenizer_config.json) into a spec. */
export function parseTokenizerJson(json: unknown, config?: unknown): TokenizerSpec {
  if (!isObj(json)) fail("(root)", "expected a JSON object");
  const m = json.model;
  if (!isObj(m)) fail("model", "missing or not an object");
  const mtype = m.type ?? (m.merges !== undefined ? "BPE" : undefined);
  if (mtype !== "BPE") fail("model.type", `model "${String(mtype)}" is not supported`, `"BPE"`);
  if (!isObj(m.vocab)) fail("model.vocab", "expected an object of token -> id");
  const vocab = new Map<string, number>();
  for (const [tok, id] of Object.entries(m.vocab)) {
    if (!Number.isInteger(id) || (id as number) < 0)
      fail(`model.vocab[${JSON.stringify(tok)}]`, `id must be a non-negative integer, got ${JSON.stringify(id)}`);
    vocab.set(tok, id as number);
  }
  if (!Array.isArray(m.merges)) fail("model.merges", "expected an array");
  const merges: Array<[string, string]> = new Array(m.merges.length);
  for (let i = 0; i < m.merges.length; i++) {
    const x = m.merges[i];
    if (typeof x === "string") {
      const sp = x.indexOf(" ", 1);
      if (sp < 0) fail(`model.merges[${i}]`, `expected "left right", got ${JSON.stringify(x)}`);
      merges[i] = [x.slice(0, sp), x.slice(sp + 1)];
    } else if (Array.isArray(x) && x.length === 2 && typeof x[0] === "string" && typeof x[1] === "string") {
      merges[i] = [x[0], x[1]];
    } else fail(`model.merges[${i}]`, `expected "a b" or ["a", "b"], got ${JSON.stringify(x)?.slice(0, 60)}`);
  }
  for (const k of ["continuing_subword_prefix", "end_of_word_suffix"] as const) {
    if (m[k] !== undefined && m[k] !== null && m[k] !== "") fail(`model.${k}`, `${JSON.stringify(m[k])} is not supported`, "null or empty");
  }
  if (m.unk_token !== undefined && m.unk_token !== null && typeof m.unk_token !== "string") fail("model.unk_token", "expected a string or null");

  const normalizer: NormalizerStep[] = [];
  parseNormalizer(json.normalizer, "normalizer", normalizer);
  const parts: PreParts = { pattern: null, byteLevel: null, metaspace: null };
  parsePre(json.pre_tokenizer, "pre_tokenizer", parts);
  const dec = parseDecoder(json.decoder, "decoder");
  const byteLevel = parts.byteLevel !== null || dec.byteLevel;
  let pre: PreTokenizerSpec;
  if (byteLevel) {
    if (parts.metaspace) fail("pre_tokenizer", "Metaspace and ByteLevel together are not supported", PRETOKENIZERS);
    if (bool(m.byte_fallback, false))
      fail("model.byte_fallback", "byte_fallback with a byte-level vocabulary is not supported", "byte_fallback with Metaspace-style vocabularies");
    pre = { type: "bytelevel", pattern: parts.pattern ?? PATTERNS.gpt2, addPrefixSpace: parts.byteLevel?.addPrefixSpace ?? false };
    if (parts.byteLevel === null && parts.pattern === null) pre = { type: "bytelevel", pattern: "[\\s\\S]+", addPrefixSpace: false };
  } else {
    if (parts.pattern !== null) fail("pre_tokenizer", "a Split regex without ByteLevel is not supported", PRETOKENIZERS);
    pre = parts.metaspace ?? { type: "none" };
  }
  const addedTokens = parseAdded(json.added_tokens);
  const model: ModelSpec = {
    kind: byteLevel ? "bytelevel" : "sentencepiece",
    vocab,
    merges,
    byteFallback: bool(m.byte_fallback, false),
    unkToken: typeof m.unk_token === "string" ? m.unk_token : null,
    ignoreMerges: bool(m.ignore_merges, false),
  };
  const lookup = (t: string) => addedTokens.find((a) => a.content === t)?.id ?? vocab.get(t);
  const postProcessor = parsePost(json.post_processor, "post_processor", lookup);
  return {
    model,
    normalizer,
    preTokenizer: pre,
    decodeStripLeadingSpace: dec.strip,
    addedTokens,
    postProcessor,
    config: parseConfig(config),
  };
}

function tokenName(v: unknown): string | null | undefined {
  if (typeof v === "string") return v;
  if (isObj(v) && typeof v.content === "string") return v.content;
  return v === null ? null : undefined;
}

/** Keeps the tokenizer_config.json fields we use; chat_template may be a string or a list of {name, template}. */
function parseConfig(config: unknown): TokenizerConfig {
  if (config === undefined || config === null) return {};
  if (!isObj(config)) throw new FormatError("tokenizer_config.json: expected a JSON object");
  const out: TokenizerConfig = { ...config };
  const ct = config.chat_template;
  if (Array.isArray(ct)) {
    const def = ct.find((x) => isObj(x) && x.name === "default") ?? ct[0];
    if (!isObj(def) || typeof def.template !== "string")
      throw new FormatError("tokenizer_config.json chat_template: expected a string or a list of {name, template}");
    out.chat_template = def.template;
  } else if (ct !== undefined && ct !== null && typeof ct !== "string") {
    throw new FormatError("tokenizer_config.json chat_template: expected a string or a list of {name, template}");
  }
  for (const k of ["bos_token", "eos_token", "pad_token", "unk_token"] as const) {
    const n = tokenName(config[k]);
    if (n !== undefined) out[k] = n;
  }
  return out;
}

/** What toJSON needs from a tokenizer (kept structural so hf.ts imports no runtime code from tokenizer.ts). */
export interface Serializable {
  readonly spec: TokenizerSpec;
  readonly mergePairs: Int32Array | null;
  idToToken(id: number): string | undefined;
}

/** The tokenizer.json object for a tokenizer. */
export function toTokenizerJson(tok: Serializable): Json {
  const s = tok.spec;
  const m = s.model;
  const vocab: Record<string, number> = Object.create(null);
  for (const [t, id] of [...m.vocab].sort((a, b) => a[1] - b[1])) vocab[t] = id;
  let merges: Array<[string, string]>;
  if (m.merges === "ranks") {
    const ids = tok.mergePairs!;
    merges = [];
    for (let i = 0; i < ids.length; i += 2) merges.push([tok.idToToken(ids[i]!)!, tok.idToToken(ids[i + 1]!)!]);
  } else merges = m.merges.map(([a, b]) => [a, b]);
  const normalizer = s.normalizer.length === 0 ? null : { type: "Sequence", normalizers: s.normalizer.map(normJson) };
  let pre: Json | null;
  let decoder: Json | null;
  const p = s.preTokenizer;
  if (p.type === "bytelevel") {
    pre = {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: p.pattern }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: p.addPrefixSpace, trim_offsets: false, use_regex: false },
      ],
    };
    decoder = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false };
  } else {
    pre = p.type === "metaspace" ? { type: "Metaspace", replacement: p.replacement, prepend_scheme: p.prependScheme, split: p.split } : null;
    const repl = p.type === "metaspace" ? p.replacement : "\u2581";
    const steps: Json[] = [{ type: "Replace", pattern: { String: repl }, content: " " }];
    if (m.byteFallback) steps.push({ type: "ByteFallback" });
    steps.push({ type: "Fuse" });
    if (s.decodeStripLeadingSpace) steps.push({ type: "Strip", content: " ", start: 1, stop: 0 });
    decoder = { type: "Sequence", decoders: steps };
  }
  const pp = s.postProcessor;
  let post: Json | null = null;
  if (pp.prefix.length + pp.suffix.length > 0) {
    const item = (id: number) => ({ SpecialToken: { id: tok.idToToken(id)!, type_id: 0 } });
    const special: Record<string, Json> = {};
    for (const id of [...pp.prefix, ...pp.suffix]) special[tok.idToToken(id)!] = { id: tok.idToToken(id)!, ids: [id], tokens: [tok.idToToken(id)!] };
    post = {
      type: "TemplateProcessing",
      single: [...pp.prefix.map(item), { Sequence: { id: "A", type_id: 0 } }, ...pp.suffix.map(item)],
      pair: [...pp.prefix.map(item), { Sequence: { id: "A", type_id: 0 } }, ...pp.suffix.map(item), { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: special,
    };
  }
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: s.addedTokens.map((t) => ({
      id: t.id,
      content: t.content,
      single_word: t.singleWord,
      lstrip: t.lstrip,
      rstrip: t.rstrip,
      normalized: t.normalized,
      special: t.special,
    })),
    normalizer,
    pre_tokenizer: pre,
    post_processor: post,
    decoder,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: m.unkToken,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: m.byteFallback,
      ignore_merges: m.ignoreMerges,
      vocab,
      merges,
    },
  };
}

function normJson(n: NormalizerStep): Json {
  if (n.type === "Prepend") return { type: "Prepend", prepend: n.prepend };
  if (n.type === "Replace") return { type: "Replace", pattern: { String: n.from }, content: n.to };
  return { type: n.type };
}

/** tokenizer_config.json for a tokenizer (the fields transformers and our loaders read). */
export function toConfigJson(tok: Serializable): Json {
  const s = tok.spec;
  const decoder: Record<string, Json> = {};
  for (const t of s.addedTokens) {
    decoder[String(t.id)] = { content: t.content, lstrip: t.lstrip, normalized: t.normalized, rstrip: t.rstrip, single_word: t.singleWord, special: t.special };
  }
  return {
    tokenizer_class: "PreTrainedTokenizerFast",
    clean_up_tokenization_spaces: false,
    ...s.config,
    added_tokens_decoder: decoder,
  };
}

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new FormatError(`cannot read ${what} at ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** Reads tokenizer.json (+ tokenizer_config.json beside it when present) from a directory or a file path. */
export function readTokenizerFiles(path: string): { json: unknown; config: unknown } {
  let file = path;
  if (existsSync(path) && statSync(path).isDirectory()) file = join(path, "tokenizer.json");
  if (!existsSync(file)) throw new FormatError(`no tokenizer.json at ${path}`, { hint: "pass a model directory holding tokenizer.json, or the file itself" });
  const cfgFile = join(dirname(file), "tokenizer_config.json");
  const config = existsSync(cfgFile) ? readJson(cfgFile, "tokenizer_config.json") : undefined;
  return { json: readJson(file, "tokenizer.json"), config };
}

export function writeTokenizerFiles(dir: string, tok: Serializable): void {
  writeFileAtomicSync(join(dir, "tokenizer.json"), `${JSON.stringify(toTokenizerJson(tok), null, 1)}\n`, { mkdir: true });
  writeFileAtomicSync(join(dir, "tokenizer_config.json"), `${JSON.stringify(toConfigJson(tok), null, 2)}\n`, { mkdir: true });
}
