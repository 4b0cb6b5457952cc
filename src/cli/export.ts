// `slm export MODEL --format hf|gguf [--dtype …] --out PATH`: loads a model
// (HF directory, .gguf or llama2.c .bin) and writes it as an HF model
// directory or a llama.cpp GGUF file. Unsupported format/dtype/model
// combinations are refused before anything is written. Thin: the work is in
// src/formats/convert.ts.
import { UsageError } from "../errors.ts";
import { checkExport, checkFormatDtype, DEFAULT_DTYPE, exportModel, FORMAT_DTYPES, type ExportDtype, type ExportFormat } from "../formats/convert.ts";
import { loadModel } from "../formats/hf-dir.ts";
import { parse, type Command, type CommandContext } from "./command.ts";
import { formatCount } from "./format.ts";

const HELP = `Usage: slm export MODEL --format hf|gguf --out PATH [--dtype D] [--name NAME] [--json]

Writes MODEL (an HF model directory, a .gguf or a llama2.c .bin) as:
  --format hf     a Hugging Face model directory at PATH (config.json,
                  model.safetensors, generation_config.json, tokenizer files);
                  --dtype f32 (default), f16 or bf16
  --format gguf   a llama.cpp GGUF file at PATH (llama / mistral / qwen2 models;
                  GPT-2 has no GGUF mapping here), with the tokenizer when the
                  model has one; --dtype f16 (default), f32, bf16, q8_0, q4_0, or the
                  K-quant mixes q4_k_m, q5_k_m, q6_k (llama.cpp's presets: which
                  tensor gets which type is in docs/formats.md).
                  Under q4_0 the output head is stored as q8_0; norms stay f32;
                  matrices whose rows are not a multiple of 32 fall back to f16.

PATH is written atomically (replaced if it exists). Unsupported combinations
(gpt2 → gguf, q4_0 → hf, bf16 → gguf) are errors and write nothing.

Options:
  --format F      hf or gguf (required)
  --out PATH      output directory (hf) or file (gguf) (required)
  --dtype D       stored dtype (see above)
  --name NAME     general.name in the GGUF file (default "slmkit model")
  --json          print the summary as JSON

Examples:
  slm export runs/handbook/model --format gguf --dtype q8_0 --out handbook.q8_0.gguf
  slm export runs/handbook/model --format hf --dtype bf16 --out share/handbook-bf16
  ollama create handbook -f Modelfile   # with "FROM ./handbook.q8_0.gguf"`;

export const exportCommand: Command = {
  name: "export",
  summary: "Write a model as an HF directory or a llama.cpp GGUF file (f32/f16/bf16/q8_0/q4_0)",
  help: HELP,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v, positionals } = parse(argv, {
      format: { type: "string" },
      out: { type: "string" },
      dtype: { type: "string" },
      name: { type: "string" },
      json: { type: "boolean" },
    });
    if (positionals.length !== 1)
      throw new UsageError(positionals.length === 0 ? "give the model to export (MODEL)" : `one MODEL at a time, got ${positionals.length}`, {
        hint: "slm export models/m --format gguf --out m.gguf",
      });
    if (v.format === undefined) throw new UsageError("--format hf|gguf is required");
    if (v.format !== "hf" && v.format !== "gguf") throw new UsageError(`--format must be hf or gguf, got "${v.format}"`);
    if (!v.out) throw new UsageError("--out PATH is required");
    const format: ExportFormat = v.format;
    const all = new Set<string>([...FORMAT_DTYPES.hf, ...FORMAT_DTYPES.gguf]);
    if (v.dtype !== undefined && !all.has(v.dtype)) throw new UsageError(`--dtype must be one of ${[...all].join(", ")}, got "${v.dtype}"`);
    const dtype = (v.dtype ?? DEFAULT_DTYPE[format]) as ExportDtype;
    if (v.name !== undefined && format !== "gguf") throw new UsageError("--name is for --format gguf");
    checkFormatDtype(format, dtype);
    const t0 = performance.now();
    const m = loadModel(positionals[0]!);
    checkExport(m.config, format, dtype);
    const r = exportModel(m, v.out, { format, dtype, ...(v.name !== undefined ? { name: v.name } : {}) });
    const seconds = (performance.now() - t0) / 1000;
    const s = r.summary;
    if (v.json) ctx.out(JSON.stringify({ ...r, source: m.source, seconds }));
    else {
      let types = "";
      if (r.gguf) {
        const counts = new Map<string, number>();
        for (const t of r.gguf.tensors) counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
        types = `, tensors ${[...counts].map(([t, n]) => `${n}×${t}`).join(" ")}`;
      }
      ctx.out(
        `slm export: ${m.source.path} → ${r.path} (${format}, ${dtype}): ${s.architecture}, ${formatCount(s.parameters)} params, ` +
          `vocab ${s.vocabSize}, tokenizer ${s.tokenizer ? "yes" : "no"}${types} (${seconds.toFixed(1)} s)`,
      );
    }
    return 0;
  },
};
