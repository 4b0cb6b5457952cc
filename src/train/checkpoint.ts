// Training checkpoints: everything needed to continue a run exactly — model
// parameters, AdamW moments and step, the data sampler's RNG state and the
// trainer's counters — in one directory per step:
//   checkpoints/step-00000100/{state.json, model.safetensors, optimizer.safetensors}
// Written under a temporary name and renamed, so a kill at any instant leaves
// either the old set of checkpoints or the new one, never a half-written one.
// state.json carries a format tag and version (upgrade old versions here).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

import { FormatError } from "../errors.ts";
import { replaceDir, writeFileAtomicSync } from "../util/atomic.ts";
import { SafetensorsFile, writeSafetensors } from "../formats/safetensors.ts";
import type { AdamW, Parameter } from "../tensor/index.ts";
import type { SamplerState } from "./batches.ts";

export const CHECKPOINT_FORMAT = "slmkit-train-checkpoint";
export const CHECKPOINT_VERSION = 1;

export interface TrainerCounters {
  /** Optimizer steps completed. */
  step: number;
  /** Training tokens consumed. */
  tokens: number;
  /** Total steps the run will take (fixed once known, so the LR schedule resumes exactly). */
  totalSteps: number;
  /** Wall time spent training so far, across resumes. */
  elapsedMs: number;
  /** Consecutive skipped (non-finite) steps. */
  badSteps: number;
  bestValLoss: number | null;
}

export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  counters: TrainerCounters;
  sampler: SamplerState;
  optimizer: { step: number; config: AdamW["config"] };
  /** The run's options, so `--resume` can check it continues the same run. */
  run: Record<string, unknown>;
}

/** What a checkpoint holds besides the optimizer: a model, or any named set of tensors (LoRA adapters). */
export interface CheckpointParams {
  namedParameters(): [string, Parameter][];
}

function stepDirName(step: number): string {
  return `step-${String(step).padStart(8, "0")}`;
}

/** Writes a checkpoint for the current step and keeps the newest `keep` of them. */
export function saveCheckpoint(
  runDir: string,
  model: CheckpointParams,
  opt: AdamW,
  state: Omit<CheckpointState, "format" | "version" | "optimizer">,
  keep = 2,
): string {
  const root = join(runDir, "checkpoints");
  mkdirSync(root, { recursive: true });
  const name = stepDirName(state.counters.step);
  const final = join(root, name);
  const tmp = join(root, `.${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    writeSafetensors(
      join(tmp, "model.safetensors"),
      model.namedParameters().map(([n, p]) => ({ name: n, shape: [...p.shape], data: p.data })),
    );
    const os = opt.state();
    const moments: { name: string; shape: number[]; data: Float32Array }[] = [];
    for (const [n, s] of Object.entries(os.slots)) {
      moments.push({ name: `m.${n}`, shape: [s.m.length], data: s.m }, { name: `v.${n}`, shape: [s.v.length], data: s.v });
    }
    writeSafetensors(join(tmp, "optimizer.safetensors"), moments);
    const full: CheckpointState = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, ...state, optimizer: { step: os.step, config: os.config } };
    // state.json last: its presence marks a complete checkpoint.
    writeFileAtomicSync(join(tmp, "state.json"), `${JSON.stringify(full, null, 1)}\n`);
    replaceDir(tmp, final);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const all = listCheckpoints(runDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(join(root, old), { recursive: true, force: true });
  return final;
}

/** Complete checkpoint directory names, oldest first. */
export function listCheckpoints(runDir: string): string[] {
  const root = join(runDir, "checkpoints");
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => /^step-\d{8}$/.test(n) && existsSync(join(root, n, "state.json")))
    .sort();
}

/** The newest complete checkpoint's directory, or null. */
export function latestCheckpoint(runDir: string): string | null {
  const all = listCheckpoints(runDir);
  return all.length === 0 ? null : join(runDir, "checkpoints", all[all.length - 1]!);
}

/**
 * Restores model parameters and optimizer moments from a checkpoint directory and returns
 * its state. Every name, shape and the format version are checked; a mismatch is a
 * FormatError naming what differs, and nothing is modified unless all of it checks out.
 */
export function loadCheckpoint(dir: string, model: CheckpointParams, opt: AdamW): CheckpointState {
  let state: CheckpointState;
  try {
    state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8"));
  } catch (e) {
    throw new FormatError(`${dir}/state.json: unreadable (${(e as Error).message})`, {
      hint: "the checkpoint is corrupt; delete it to resume from the one before",
    });
  }
  if (state?.format !== CHECKPOINT_FORMAT) throw new FormatError(`${dir}/state.json: not an slmkit training checkpoint`);
  if (state.version !== CHECKPOINT_VERSION)
    throw new FormatError(`${dir}/state.json: checkpoint version ${state.version}; this build reads version ${CHECKPOINT_VERSION}`);
  const params = model.namedParameters();
  const mf = SafetensorsFile.open(join(dir, "model.safetensors"));
  const of = SafetensorsFile.open(join(dir, "optimizer.safetensors"));
  try {
    const staged = params.map(([n, p]) => {
      const info = mf.header.tensors.get(n);
      if (!info) throw new FormatError(`${dir}: checkpoint has no parameter "${n}"`, { hint: "was it written by a different model configuration?" });
      const t = mf.readFloat32(n);
      if (t.data.length !== p.size) throw new FormatError(`${dir}: parameter "${n}" has ${t.data.length} values, the model has ${p.size}`);
      return { p, data: t.data };
    });
    if (mf.header.tensors.size !== params.length)
      throw new FormatError(`${dir}: checkpoint has ${mf.header.tensors.size} parameters, the model ${params.length}`);
    const slots: Record<string, { m: Float32Array; v: Float32Array }> = {};
    for (const [n, p] of params) {
      if (!p.requiresGrad) continue;
      if (!of.header.tensors.has(`m.${n}`)) continue; // frozen when saved
      const m = of.readFloat32(`m.${n}`).data,
        v = of.readFloat32(`v.${n}`).data;
      if (m.length !== p.size || v.length !== p.size) throw new FormatError(`${dir}: optimizer moments for "${n}" have the wrong size`);
      slots[n] = { m, v };
    }
    opt.loadState({ step: state.optimizer.step, config: state.optimizer.config, slots });
    for (const { p, data } of staged) p.data.set(data);
  } finally {
    mf.close();
    of.close();
  }
  return state;
}
