// `slm merge`: folds a LoRA adapter (a PEFT adapter directory) into its base
// model and writes a plain model: a Hugging Face directory (float32, f16,
// bf16) or, re-quantized, a llama.cpp GGUF file. The base may be a GGUF file
// (a quantized one is expanded to float32 first: the adapter is folded into
// the float weights, then the result is quantized once). Thin: loading and
// writing are src/formats, the arithmetic is src/models/lora.ts.
import { UsageError } from "../errors.ts";
import { DEFAULT_DTYPE, FORMAT_DTYPES, checkExport, exportModel, type ExportDtype, type ExportFormat } from "../formats/convert.ts";
import { loadModel } from "../formats/hf-dir.ts";
import { loadAdapter } from "../formats/peft.ts";
import { parse, type Command, type CommandContext } from "./command.ts";

export const mergeCommand: Command = {
  name: "merge",
  summary: "fold a LoRA adapter into its base model (float or re-quantized GGUF)",
  help: `Usage: slm merge --base MODEL --adapter ADAPTER_DIR --out PATH [--format hf|gguf] [--dtype T]

Computes W + (alpha/r)·B·A for every adapted layer and writes the result: an
HF model directory (config, weights, tokenizer, generation config of the
base), or a llama.cpp GGUF file. MODEL is an HF directory or a .gguf (a
quantized one is expanded to float32 before merging: an adapter trained over
a q4_0 base folds into the float weights and is quantized once, at the end).
The adapter is a PEFT LoRA directory (adapter_config.json +
adapter_model.safetensors), e.g. RUN/adapter from slm finetune.

Options:
  --format F   hf or gguf (default: gguf when PATH ends in .gguf, else hf)
  --dtype T    hf: f32 (default), f16, bf16; gguf: f16 (default), f32, q8_0,
               q4_0, q4_k_m, q5_k_m, q6_k (as slm export)

Examples:
  slm merge --base runs/hr/model --adapter runs/hr-chat/adapter --out runs/hr-chat/merged
  slm merge --base base.q4_0.gguf --adapter run/adapter --out merged.q8_0.gguf --dtype q8_0`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(
      argv,
      { base: { type: "string" }, adapter: { type: "string" }, out: { type: "string" }, dtype: { type: "string" }, format: { type: "string" } },
      false,
    );
    if (!v.base || !v.adapter || !v.out) throw new UsageError("--base, --adapter and --out are required");
    const format = (v.format ?? (v.out.endsWith(".gguf") ? "gguf" : "hf")) as ExportFormat;
    if (format !== "hf" && format !== "gguf") throw new UsageError(`--format must be hf or gguf, got "${v.format}"`);
    const dtype = (v.dtype?.toLowerCase() ?? DEFAULT_DTYPE[format]) as ExportDtype;
    if (!FORMAT_DTYPES[format].includes(dtype))
      throw new UsageError(`--dtype for ${format} must be one of ${FORMAT_DTYPES[format].join(", ")}, got "${v.dtype}"`);
    const loaded = loadModel(v.base);
    checkExport(loaded.config, format, dtype); // before the work: an impossible output writes nothing
    const lora = loadAdapter(v.adapter, loaded.model);
    lora.mergeAndDetach();
    exportModel(loaded, v.out, { format, dtype });
    ctx.err(
      `slm merge: ${lora.adapters.size} layers merged (r ${lora.config.r}, scale ${lora.config.scale}); ${format === "gguf" ? `GGUF ${dtype}` : `model (${dtype})`}: ${v.out}`,
    );
    return 0;
  },
};
