// PEFT LoRA adapter directories: adapter_config.json (peft_type "LORA",
// task_type "CAUSAL_LM", r, lora_alpha, lora_dropout, target_modules, bias,
// fan_in_fan_out, use_rslora, base_model_name_or_path, inference_mode, …) and
// adapter_model.safetensors with tensors named
// base_model.model.<module>.lora_A.weight (r, in) and .lora_B.weight (out, r).
// Saving writes the directory under a temporary name and renames it into
// place. Loading validates the config (features we do not implement — DoRA,
// per-layer rank or alpha patterns, trained biases, modules_to_save — are
// refused by name), attaches adapters to a live model and fills them; every
// tensor must land on an adapted module and every adapted module must get both
// of its tensors. GPT-2 (HF Conv1D layers) is written with fan_in_fan_out
// true, as PEFT sets it; A and B keep the same (r, in) / (out, r) shapes.
// Knows nothing about training or inference.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { ConfigError, FormatError } from "../errors.ts";
import { attachLora, peftPrefix, type CausalLM, type LoraModel, type ResolvedLora } from "../models/index.ts";
import { writeDirAtomic, writeFileAtomicSync } from "../util/atomic.ts";
import { SafetensorsFile, writeSafetensors } from "./safetensors.ts";

export const ADAPTER_CONFIG = "adapter_config.json";
export const ADAPTER_WEIGHTS = "adapter_model.safetensors";

/** The adapter_config.json fields we write (PEFT's LoraConfig names). */
export interface PeftLoraConfig {
  peft_type: "LORA";
  task_type: "CAUSAL_LM";
  base_model_name_or_path: string | null;
  revision: null;
  inference_mode: boolean;
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[] | string;
  bias: "none";
  fan_in_fan_out: boolean;
  use_rslora: boolean;
  use_dora: boolean;
  init_lora_weights: boolean;
  modules_to_save: null;
  layers_to_transform: null;
  layers_pattern: null;
  rank_pattern: Record<string, never>;
  alpha_pattern: Record<string, never>;
}

export interface SaveAdapterOptions {
  /** base_model_name_or_path: the base model's directory or hub id (default null). */
  baseModel?: string | null;
}

/** The adapter_config.json object for a LoRA set. */
function peftConfig(lora: LoraModel, opts: SaveAdapterOptions = {}): PeftLoraConfig {
  const c = lora.config;
  return {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: opts.baseModel ?? null,
    revision: null,
    inference_mode: true,
    r: c.r,
    lora_alpha: c.alpha,
    lora_dropout: c.dropout,
    target_modules: c.targetModules,
    bias: "none",
    fan_in_fan_out: lora.model.config.modelType === "gpt2",
    use_rslora: c.useRslora,
    use_dora: false,
    init_lora_weights: true,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
  };
}

/** Writes `lora` as a PEFT adapter directory at `dir` (replacing one that is there), atomically. */
export function saveAdapter(dir: string, lora: LoraModel, opts: SaveAdapterOptions = {}): void {
  writeDirAtomic(dir, (tmp) => {
    writeFileAtomicSync(join(tmp, ADAPTER_CONFIG), `${JSON.stringify(peftConfig(lora, opts), null, 2)}\n`);
    writeSafetensors(
      join(tmp, ADAPTER_WEIGHTS),
      lora.namedParameters().map(([n, p]) => ({ name: n, shape: [...p.shape], data: p.data })),
      { format: "pt" },
    );
  });
}

function isEmptyish(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    (typeof v === "object" && !Array.isArray(v) && Object.keys(v as object).length === 0) ||
    (Array.isArray(v) && v.length === 0)
  );
}

/** Reads and checks adapter_config.json; returns the LoRA settings it describes. */
function readAdapterConfig(dir: string): { lora: ResolvedLora; raw: Record<string, unknown> } {
  const path = join(dir, ADAPTER_CONFIG);
  if (!existsSync(path))
    throw new ConfigError(`${dir}: not an adapter directory (no ${ADAPTER_CONFIG})`, {
      hint: "pass the directory `slm finetune --method lora` wrote (RUN/adapter)",
    });
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new Error("not a JSON object");
  } catch (e) {
    throw new FormatError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const bad = (msg: string): never => {
    throw new FormatError(`${path}: ${msg}`);
  };
  if (raw.peft_type !== "LORA") bad(`peft_type is ${JSON.stringify(raw.peft_type)}; only "LORA" adapters are supported`);
  if (raw.task_type !== undefined && raw.task_type !== null && raw.task_type !== "CAUSAL_LM")
    bad(`task_type is ${JSON.stringify(raw.task_type)}; expected "CAUSAL_LM"`);
  const r = raw.r;
  if (typeof r !== "number" || !Number.isInteger(r) || r < 1) bad(`r must be an integer >= 1, got ${JSON.stringify(r)}`);
  const alpha = raw.lora_alpha ?? 8; // PEFT's default
  if (typeof alpha !== "number" || !(alpha > 0)) bad(`lora_alpha must be a number > 0, got ${JSON.stringify(alpha)}`);
  const dropout = raw.lora_dropout ?? 0;
  if (typeof dropout !== "number" || !(dropout >= 0 && dropout < 1)) bad(`lora_dropout must be in [0, 1), got ${JSON.stringify(dropout)}`);
  const tm = raw.target_modules;
  if (!(typeof tm === "string" && tm.length > 0) && !(Array.isArray(tm) && tm.length > 0 && tm.every((t) => typeof t === "string" && t.length > 0))) {
    bad(`target_modules must be a non-empty list of module names or a regex string, got ${JSON.stringify(tm)}`);
  }
  if ((raw.bias ?? "none") !== "none") bad(`bias is ${JSON.stringify(raw.bias)}; only "none" (no trained biases) is supported`);
  if (raw.use_dora === true) bad("use_dora is true; DoRA adapters are not supported");
  for (const k of ["rank_pattern", "alpha_pattern", "modules_to_save", "layers_to_transform", "layers_pattern"]) {
    if (!isEmptyish(raw[k])) bad(`${k} is set (${JSON.stringify(raw[k])}); adapters with ${k} are not supported`);
  }
  if (raw.fan_in_fan_out !== undefined && typeof raw.fan_in_fan_out !== "boolean") bad("fan_in_fan_out must be true or false");
  const useRslora = raw.use_rslora === true;
  const rr = r as number,
    aa = alpha as number;
  return {
    lora: { r: rr, alpha: aa, dropout: dropout as number, useRslora, targetModules: tm as string[] | string, scale: useRslora ? aa / Math.sqrt(rr) : aa / rr },
    raw,
  };
}

/**
 * Attaches the adapter in `dir` to `model` (unmerged: the base weights are untouched) and
 * returns it. The base is frozen. Names, shapes and coverage are all checked before any
 * value is copied; on failure the model is left without adapters.
 */
export function loadAdapter(dir: string, model: CausalLM): LoraModel {
  const { lora: cfg } = readAdapterConfig(dir);
  const wpath = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(wpath))
    throw new ConfigError(`${dir}: no ${ADAPTER_WEIGHTS}`, { hint: "adapter_model.bin (pickle) is not read; save the adapter with safe_serialization" });
  const lora = attachLora(model, cfg);
  const f = SafetensorsFile.open(wpath);
  try {
    const want = new Map(lora.namedParameters());
    const staged: Array<[Float32Array, Float32Array]> = [];
    for (const name of f.names) {
      const p = want.get(name);
      if (!p) {
        const hint = name.startsWith(peftPrefix(""))
          ? "the adapter was made for a different model or target list"
          : "PEFT tensor names start with base_model.model.";
        throw new FormatError(`${wpath}: tensor "${name}" matches no adapted module of this model`, { hint });
      }
      const info = f.info(name);
      if (info.shape.length !== 2 || info.shape[0] !== p.shape[0] || info.shape[1] !== p.shape[1]) {
        throw new FormatError(`${wpath}: "${name}" has shape [${info.shape.join(", ")}], expected [${p.shape.join(", ")}]`);
      }
      staged.push([p.data, f.readFloat32(name).data]);
      want.delete(name);
    }
    if (want.size > 0) throw new FormatError(`${wpath}: missing ${want.size} adapter tensors, e.g. "${[...want.keys()][0]}"`);
    for (const [dst, src] of staged) dst.set(src);
  } catch (e) {
    lora.detach();
    throw e;
  } finally {
    f.close();
  }
  return lora;
}

/** True when `dir` looks like an adapter directory. */
export function isAdapterDir(dir: string): boolean {
  return existsSync(join(dir, ADAPTER_CONFIG));
}
