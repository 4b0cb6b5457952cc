// `slm import SRC --out MODEL_DIR`: reads a Hugging Face model directory, a
// llama.cpp .gguf (llama / qwen2) or a llama2.c .bin and writes an HF model
// directory (re-saving an HF directory converts its dtype or joins shards).
// Prints a one-line summary, or JSON with --json. Thin: the work is in
// src/formats/convert.ts; knows nothing about the formats themselves.
import { UsageError } from "../errors.ts";
import { importModel } from "../formats/convert.ts";
import { Tokenizer } from "../tokenizer/index.ts";
import { parse, type Command, type CommandContext } from "./command.ts";
import { formatCount } from "./format.ts";

const HELP = `Usage: slm import SRC --out MODEL_DIR [--dtype f32|f16|bf16] [--tokenizer DIR] [--json]

Reads a model and writes it as a Hugging Face model directory (config.json,
model.safetensors, generation_config.json, and tokenizer.json +
tokenizer_config.json when there is a tokenizer). MODEL_DIR is replaced
atomically if it exists; nothing is written when SRC cannot be read.

SRC may be:
  an HF model directory    config.json + model.safetensors (or shards with
                           model.safetensors.index.json); F32, F16, BF16 weights
  a .gguf file             llama.cpp "llama", "qwen2", "qwen3" or "gemma3"; F32, F16,
                           BF16, Q8_0 and Q4_0 tensors are dequantized to float32;
                           the tokenizer comes along when the file has one
  a llama2.c .bin file     legacy (version 0) checkpoint; token ids only, so pass
                           --tokenizer to attach a tokenizer

Options:
  --out MODEL_DIR       directory to write (required)
  --dtype D             stored weight dtype: f32 (default), f16 or bf16
  --tokenizer DIR       attach this tokenizer (a directory with tokenizer.json, or
                        the file); replaces one found in SRC
  --json                print the summary as JSON

Examples:
  slm import ../shared/models/stories260K/stories260K.bin --out models/stories260K
  slm import smollm-135m.Q8_0.gguf --out models/smollm --dtype bf16
  slm import models/big --out models/big-f16 --dtype f16`;

export const importCommand: Command = {
  name: "import",
  summary: "Convert an HF directory, .gguf or llama2.c .bin into an HF model directory",
  help: HELP,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v, positionals } = parse(argv, {
      out: { type: "string" },
      dtype: { type: "string" },
      tokenizer: { type: "string" },
      json: { type: "boolean" },
    });
    if (positionals.length !== 1)
      throw new UsageError(positionals.length === 0 ? "give the model to import (SRC)" : `one SRC at a time, got ${positionals.length}`, {
        hint: "slm import model.gguf --out models/m",
      });
    if (!v.out) throw new UsageError("--out MODEL_DIR is required");
    const dtype = v.dtype ?? "f32";
    if (dtype !== "f32" && dtype !== "f16" && dtype !== "bf16")
      throw new UsageError(`--dtype must be f32, f16 or bf16 for an HF directory, got "${dtype}"`, {
        hint: "quantized dtypes are for GGUF: slm export MODEL --format gguf --dtype q8_0",
      });
    const tokenizer = v.tokenizer !== undefined ? Tokenizer.fromFile(v.tokenizer) : undefined;
    const t0 = performance.now();
    const r = importModel(positionals[0]!, v.out, { dtype, ...(tokenizer ? { tokenizer } : {}) });
    const seconds = (performance.now() - t0) / 1000;
    const s = r.summary;
    if (v.json) ctx.out(JSON.stringify({ ...r, seconds }));
    else {
      ctx.out(
        `slm import: ${r.source.path} (${r.source.format}) → ${r.out}: ${s.architecture}, ${formatCount(s.parameters)} params, ` +
          `${s.layers} layers × ${s.dModel}, vocab ${s.vocabSize}, tokenizer ${s.tokenizer ? "yes" : "no"}, ${dtype} (${seconds.toFixed(1)} s)`,
      );
    }
    return 0;
  },
};
