// `slm merge`: folds a LoRA adapter (a PEFT adapter directory) into its base
// model and writes a plain Hugging Face model directory. Thin: loading and
// saving are src/formats, the arithmetic is src/models/lora.ts.
import { UsageError } from "../errors.ts";
import { loadModel, saveModelDir } from "../formats/hf-dir.ts";
import { loadAdapter } from "../formats/peft.ts";
import { parse, type Command, type CommandContext } from "./command.ts";

export const mergeCommand: Command = {
  name: "merge",
  summary: "fold a LoRA adapter into its base model",
  help: `Usage: slm merge --base MODEL_DIR --adapter ADAPTER_DIR --out MODEL_DIR

Computes W + (alpha/r)·B·A for every adapted layer and writes the result as a
model directory (config, weights, tokenizer, generation config of the base).
The adapter is a PEFT LoRA directory (adapter_config.json +
adapter_model.safetensors), e.g. RUN/adapter from slm finetune.

Options:
  --dtype T    stored weight type: F32 (default), F16 or BF16

Example:
  slm merge --base runs/hr/model --adapter runs/hr-chat/adapter --out runs/hr-chat/merged`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(argv, { base: { type: "string" }, adapter: { type: "string" }, out: { type: "string" }, dtype: { type: "string" } }, false);
    if (!v.base || !v.adapter || !v.out) throw new UsageError("--base, --adapter and --out are required");
    const dtype = (v.dtype ?? "F32").toUpperCase();
    if (dtype !== "F32" && dtype !== "F16" && dtype !== "BF16") throw new UsageError(`--dtype must be F32, F16 or BF16, got "${v.dtype}"`);
    const loaded = loadModel(v.base);
    const lora = loadAdapter(v.adapter, loaded.model);
    lora.mergeAndDetach();
    saveModelDir(v.out, loaded.model, { tokenizer: loaded.tokenizer, generation: loaded.generation, dtype });
    ctx.err(`slm merge: ${lora.adapters.size} layers merged (r ${lora.config.r}, scale ${lora.config.scale}); model: ${v.out}`);
    return 0;
  },
};
