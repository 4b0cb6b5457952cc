// Moving weights between our models and Hugging Face tensor layouts. Our
// parameter names ARE the HF names; the differences handled here are GPT-2's
// "Conv1D" linear weights, stored (in, out) by HF and (out, in) by us, and the
// output head, which HF checkpoints may omit (or repeat) when tied.
// Knows nothing about file containers: tensors in, tensors out.
import { FormatError } from "../errors.ts";
import type { CausalLM } from "../models/index.ts";
import { qrows, type QWeight } from "../native/ops/qgemm.ts";

/** A tensor by value (float32), or a matrix kept in a quantized storage type (see Parameter.quant). */
export type NamedTensor = { shape: number[]; data: Float32Array } | { shape: number[]; quant: QWeight };

/** GPT-2 linear weights that HF stores transposed. */
function isConv1d(modelType: string, name: string): boolean {
  return modelType === "gpt2" && /\.(c_attn|c_proj|c_fc)\.weight$/.test(name);
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** Maps an HF checkpoint name onto ours (GPT-2 checkpoints sometimes lack the "transformer." prefix). */
function canonicalName(modelType: string, name: string): string {
  if (modelType === "gpt2" && !name.startsWith("transformer.") && !name.startsWith("lm_head.")) return `transformer.${name}`;
  return name;
}

/**
 * Copies HF-layout tensors into the model's parameters. Every parameter must be present
 * with the right shape; extra tensors are reported (rotary caches and attention-mask
 * buffers some checkpoints carry are ignored). `fresh`: the model's parameters were never
 * written (a loader's emptyModel), so a quantized tensor keeps the parameter's zero buffer
 * (Parameter.setQuantized's `untouched`).
 */
export function loadHfTensors(
  model: CausalLM,
  get: (name: string) => NamedTensor | undefined,
  names: Iterable<string>,
  source = "checkpoint",
  fresh = false,
): void {
  const mt = model.config.modelType;
  const params = new Map(model.namedParameters());
  const seen = new Set<string>();
  const byCanonical = new Map<string, string>();
  for (const n of names) byCanonical.set(canonicalName(mt, n), n);
  for (const [name, p] of params) {
    const src = byCanonical.get(name);
    if (src === undefined)
      throw new FormatError(`${source}: missing tensor "${name}" (shape ${JSON.stringify(p.shape)})`, { hint: "is the config.json right for these weights?" });
    const t = get(src)!;
    const want = isConv1d(mt, name) ? [p.shape[1]!, p.shape[0]!] : [...p.shape];
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new FormatError(`${source}: tensor "${src}" has shape ${JSON.stringify(t.shape)}, the model expects ${JSON.stringify(want)}`);
    }
    if ("quant" in t) {
      if (isConv1d(mt, name)) throw new FormatError(`${source}: tensor "${src}" is stored transposed (GPT-2 Conv1D); it cannot stay quantized`);
      p.setQuantized(t.quant, fresh);
    } else p.data.set(isConv1d(mt, name) ? transpose(t.data, want[0]!, want[1]!) : t.data);
    seen.add(name);
  }
  for (const [canon, src] of byCanonical) {
    if (seen.has(canon)) continue;
    if (/rotary_emb\.inv_freq$|\.attn\.(masked_)?bias$/.test(canon)) continue;
    if (canon === "lm_head.weight" && model.config.tieEmbeddings) continue; // a tied head saved twice
    throw new FormatError(`${source}: unexpected tensor "${src}" that the model has no parameter for`, {
      hint: "the config.json may not match the checkpoint (tie_word_embeddings, biases, layer count)",
    });
  }
}

/**
 * The model's parameters in HF layout and naming, in registration order, as float32 (a
 * matrix held quantized is dequantized).
 */
export function toHfTensors(model: CausalLM): { name: string; shape: number[]; data: Float32Array }[] {
  const mt = model.config.modelType;
  return model.namedParameters().map(([name, p]) => {
    let data = p.data;
    if (p.quant !== null) {
      data = new Float32Array(p.size);
      qrows(
        data,
        p.quant,
        Int32Array.from({ length: p.quant.rows }, (_, i) => i),
      );
    }
    return isConv1d(mt, name)
      ? { name, shape: [p.shape[1]!, p.shape[0]!], data: transpose(data, p.shape[0]!, p.shape[1]!) }
      : { name, shape: [...p.shape], data };
  });
}
