// `slm tokenizer train|encode|decode|info`: thin commands over src/tokenizer.
// They parse flags, call the library and print through ctx; no tokenizer logic here.
import { UsageError } from "../errors.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { trainBpe, listInputFiles, DEFAULT_SPECIAL_TOKENS } from "../tokenizer/train.ts";
import { isPatternName, PATTERNS } from "../tokenizer/pretokenize.ts";
import { intFlag, parse, type Command, type CommandContext } from "./command.ts";

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return "";
  const parts: Buffer[] = [];
  for await (const c of process.stdin) parts.push(c as Buffer);
  return Buffer.concat(parts).toString("utf8");
}

function needTokenizer(v: string | undefined): Tokenizer {
  if (!v) throw new UsageError("--tokenizer DIR is required (a directory with tokenizer.json, or the file)");
  return Tokenizer.fromFile(v);
}

const train: Command = {
  name: "tokenizer train",
  summary: "train a byte-level BPE tokenizer on text files",
  help: `Usage: slm tokenizer train --input <file|dir>... --vocab-size N --out DIR [options]

Trains a byte-level BPE tokenizer and writes DIR/tokenizer.json and
DIR/tokenizer_config.json (Hugging Face format, ChatML chat template).

Options:
  --input PATH        file or directory (recursive); repeat for more
  --vocab-size N      final vocabulary size, special tokens included
  --out DIR           output directory
  --pattern NAME      pre-tokenizer regex: ${Object.keys(PATTERNS).join(", ")} (default cl100k)
  --special LIST      comma-separated special tokens (default ${DEFAULT_SPECIAL_TOKENS.join(",")})
  --min-frequency N   never merge pairs seen fewer times (default 2)
  --json              print the summary as JSON

Example:
  slm tokenizer train --input ../shared/corpora/18f-handbook/pages --vocab-size 16384 --out out/tok`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values } = parse(
      argv,
      {
        input: { type: "string", multiple: true },
        "vocab-size": { type: "string" },
        out: { type: "string" },
        pattern: { type: "string" },
        special: { type: "string" },
        "min-frequency": { type: "string" },
        json: { type: "boolean" },
      },
      false,
    );
    if (!values.input?.length) throw new UsageError("--input is required");
    if (!values.out) throw new UsageError("--out is required");
    if (values["vocab-size"] === undefined) throw new UsageError("--vocab-size is required");
    const vocabSize = intFlag("vocab-size", values["vocab-size"], 0, 257);
    const pattern = values.pattern ?? "cl100k";
    if (!isPatternName(pattern)) throw new UsageError(`--pattern must be one of ${Object.keys(PATTERNS).join(", ")}, got "${pattern}"`);
    const specialTokens = values.special !== undefined ? values.special.split(",").filter((s) => s.length > 0) : undefined;
    const files = listInputFiles(values.input);
    const t0 = performance.now();
    let lastLog = 0;
    const tok = await trainBpe(values.input, {
      vocabSize,
      pattern,
      specialTokens,
      minFrequency: intFlag("min-frequency", values["min-frequency"], 2),
      onProgress: (p) => {
        const now = performance.now();
        if (p.phase !== "done" && now - lastLog < (ctx.tty ? 250 : 2000)) return;
        lastLog = now;
        const secs = (now - t0) / 1000;
        const mb = p.chars / 1e6;
        const line =
          p.phase === "count"
            ? `counting: ${mb.toFixed(1)}M chars, ${(mb / secs).toFixed(2)} M chars/s, ${p.chunks} distinct chunks`
            : `merging: ${p.merges}/${p.targetMerges}`;
        if (!values.json) ctx.err(`${line} (${secs.toFixed(1)} s)`);
      },
    });
    tok.save(values.out);
    const secs = (performance.now() - t0) / 1000;
    const summary = {
      out: values.out,
      files: files.length,
      vocabSize: tok.vocabSize,
      merges: tok.mergePairs!.length / 2,
      seconds: Number(secs.toFixed(2)),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    };
    ctx.out(
      values.json
        ? JSON.stringify(summary)
        : `wrote ${values.out}/tokenizer.json and tokenizer_config.json: vocab ${summary.vocabSize}, ${summary.merges} merges from ${summary.files} files in ${summary.seconds} s`,
    );
    return 0;
  },
};

const encode: Command = {
  name: "tokenizer encode",
  summary: "text -> token ids",
  help: `Usage: slm tokenizer encode --tokenizer DIR [--json] [--add-special-tokens] [--no-special] [TEXT]

Encodes TEXT (or standard input when no TEXT is given) and prints the ids,
space-separated, or {"ids":[…]} with --json. Special tokens written in the
text become their ids unless --no-special.

Example:
  slm tokenizer encode --tokenizer out/tok --json "Hello, world"`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values, positionals } = parse(argv, {
      tokenizer: { type: "string" },
      json: { type: "boolean" },
      "add-special-tokens": { type: "boolean" },
      "no-special": { type: "boolean" },
    });
    const tok = needTokenizer(values.tokenizer);
    const text = positionals.length > 0 ? positionals.join(" ") : await readStdin();
    const ids = tok.encode(text, { addSpecialTokens: values["add-special-tokens"] ?? false, allowedSpecial: values["no-special"] ? "none" : "all" });
    ctx.out(values.json ? JSON.stringify({ ids }) : ids.join(" "));
    return 0;
  },
};

function parseIds(s: string): number[] {
  const t = s.trim();
  if (t === "") return [];
  if (t.startsWith("{") || t.startsWith("[")) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      throw new UsageError("ids: invalid JSON");
    }
    const arr = Array.isArray(v) ? v : (v as { ids?: unknown }).ids;
    if (!Array.isArray(arr) || !arr.every((x) => Number.isInteger(x) && x >= 0)) throw new UsageError('ids: expected [1,2,3] or {"ids":[1,2,3]}');
    return arr as number[];
  }
  return t.split(/[\s,]+/).map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`ids: "${x}" is not a token id`);
    return n;
  });
}

const decode: Command = {
  name: "tokenizer decode",
  summary: "token ids -> text",
  help: `Usage: slm tokenizer decode --tokenizer DIR [--skip-special] [IDS...]

Decodes ids given as arguments or on standard input (space/comma separated,
a JSON array, or {"ids":[…]}) and prints the text.

Example:
  slm tokenizer decode --tokenizer out/tok 15496 11 995`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values, positionals } = parse(argv, { tokenizer: { type: "string" }, "skip-special": { type: "boolean" } });
    const tok = needTokenizer(values.tokenizer);
    const ids = parseIds(positionals.length > 0 ? positionals.join(" ") : await readStdin());
    ctx.out(tok.decode(ids, { skipSpecialTokens: values["skip-special"] ?? false }));
    return 0;
  },
};

const info: Command = {
  name: "tokenizer info",
  summary: "describe a tokenizer (vocab size, kind, special tokens)",
  help: `Usage: slm tokenizer info --tokenizer DIR [--json]

Example:
  slm tokenizer info --tokenizer out/tok`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values } = parse(argv, { tokenizer: { type: "string" }, json: { type: "boolean" } }, false);
    const tok = needTokenizer(values.tokenizer);
    const s = tok.spec;
    const d = {
      vocabSize: tok.vocabSize,
      kind: s.model.kind,
      merges: tok.mergePairs ? tok.mergePairs.length / 2 : null,
      preTokenizer: s.preTokenizer.type,
      normalizer: s.normalizer.map((n) => n.type),
      byteFallback: s.model.byteFallback,
      specialTokens: tok.specialTokens,
      chatTemplate: typeof s.config.chat_template === "string",
      bos: s.config.bos_token ?? null,
      eos: s.config.eos_token ?? null,
      pad: s.config.pad_token ?? null,
    };
    if (values.json) ctx.out(JSON.stringify(d));
    else
      ctx.out(
        Object.entries(d)
          .map(([k, v]) => `${k.padEnd(13)} ${typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}`)
          .join("\n"),
      );
    return 0;
  },
};

export const tokenizerCommands: Command[] = [train, encode, decode, info];
