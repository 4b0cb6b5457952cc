// The assistant's fitted parameters as data: the extractive picker's weights
// (extractive.ts) and the answer-confidence model and threshold
// (confidence.ts) live in fitted-weights.json beside this file, written by
// tools/fit-picker.ts and tools/fit-confidence.ts and read once at start.
// This file knows the file's format (magic, version, one section each) and
// validates it against the feature names the caller expects, so a corrupt or
// stale file is a clear FormatError naming it, never a silent NaN. Knows
// nothing about what the features mean: the callers pass their feature
// names, and it imports neither extractive.ts nor confidence.ts, so no
// import cycle can form.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { FormatError } from "../errors.ts";
import { writeFileAtomicSync } from "../util/atomic.ts";

const FITTED_FORMAT = "slmkit-assistant-fitted";
/** Bumped when the layout changes; a file of another version is refused. */
const FITTED_VERSION = 1;

/** The file that ships with the package (next to this module, in src/ and in the built dist/). */
export const FITTED_PATH = fileURLToPath(new URL("./fitted-weights.json", import.meta.url));

/** Where a section's numbers came from (free text, for people). */
export interface FittedProvenance {
  /** ISO date of the fit. */
  fittedAt: string;
  /** The command that wrote the section. */
  fittedBy: string;
  /** The question sets, sizes and held-out figures. */
  note: string;
}

/** The extractive picker: a linear score, one weight per feature name. */
export interface FittedPicker extends FittedProvenance {
  weights: Record<string, number>;
}

/** The answer confidence: p = σ(bias + Σ weight·(x − mean)/sd), "not found" below threshold. */
export interface FittedConfidence extends FittedProvenance {
  features: Record<string, { mean: number; sd: number; weight: number }>;
  bias: number;
  threshold: number;
}

export interface FittedFile {
  format: typeof FITTED_FORMAT;
  version: number;
  picker: FittedPicker;
  confidence: FittedConfidence;
}

const cache = new Map<string, FittedFile>();

/** Reads and checks the shape of a fitted-parameters file (cached per path). */
export function readFitted(path = FITTED_PATH): FittedFile {
  const hit = cache.get(path);
  if (hit) return hit;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new FormatError(`the assistant's fitted parameters are missing: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      hint: "reinstall slmkit, or refit with tools/fit-picker.ts and tools/fit-confidence.ts (docs/assistant.md)",
    });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${path}: the assistant's fitted parameters are not valid JSON (${(e as Error).message})`, {
      hint: 'restore it from the package or git, or refit (docs/assistant.md, "Refitting")',
    });
  }
  const f = parseFitted(v, path);
  cache.set(path, f);
  return f;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Checks the envelope and both sections' field types; `name` labels errors. */
function parseFitted(v: unknown, name: string): FittedFile {
  const bad = (what: string) => new FormatError(`${name}: ${what}`, { hint: 'restore it from the package or git, or refit (docs/assistant.md, "Refitting")' });
  if (!isObj(v) || v.format !== FITTED_FORMAT) throw bad(`not an slmkit fitted-parameters file (expected "format": "${FITTED_FORMAT}")`);
  if (v.version !== FITTED_VERSION) throw bad(`version ${JSON.stringify(v.version)} is not supported (this slmkit reads version ${FITTED_VERSION})`);
  const prov = (s: Record<string, unknown>, sec: string) => {
    for (const k of ["fittedAt", "fittedBy", "note"]) if (typeof s[k] !== "string") throw bad(`${sec}.${k} must be a string`);
  };
  const p = v.picker;
  if (!isObj(p) || !isObj(p.weights)) throw bad(`"picker.weights" must be an object of numbers`);
  prov(p, "picker");
  for (const [k, w] of Object.entries(p.weights)) if (!finite(w)) throw bad(`picker.weights.${k} must be a finite number, got ${JSON.stringify(w)}`);
  const c = v.confidence;
  if (!isObj(c) || !isObj(c.features)) throw bad(`"confidence.features" must be an object`);
  prov(c, "confidence");
  for (const [k, e] of Object.entries(c.features)) {
    if (!isObj(e) || !finite(e.mean) || !finite(e.sd) || !finite(e.weight))
      throw bad(`confidence.features.${k} must be {"mean", "sd", "weight"} finite numbers`);
    if (e.sd <= 0) throw bad(`confidence.features.${k}.sd must be positive, got ${e.sd}`);
  }
  if (!finite(c.bias)) throw bad(`confidence.bias must be a finite number`);
  if (!finite(c.threshold) || c.threshold < 0 || c.threshold > 1)
    throw bad(`confidence.threshold must be a number in [0, 1], got ${JSON.stringify(c.threshold)}`);
  return v as unknown as FittedFile;
}

/** Throws unless `got` holds exactly the `want` names. */
function sameNames(got: readonly string[], want: readonly string[], what: string, path: string): void {
  const missing = want.filter((n) => !got.includes(n)),
    extra = got.filter((n) => !want.includes(n));
  if (missing.length || extra.length) {
    throw new FormatError(
      `${path}: ${what} do not match this slmkit's features (${[missing.length ? `missing ${missing.join(", ")}` : "", extra.length ? `unknown ${extra.join(", ")}` : ""].filter(Boolean).join("; ")})`,
      { hint: 'the file is from another version: refit (docs/assistant.md, "Refitting")' },
    );
  }
}

/** The picker's weights for exactly `names` (the order of the record follows `names`). */
export function fittedPickerWeights<N extends string>(names: readonly N[], path = FITTED_PATH): Record<N, number> {
  const w = readFitted(path).picker.weights;
  sameNames(Object.keys(w), names, "picker.weights", path);
  return Object.fromEntries(names.map((n) => [n, w[n]!])) as Record<N, number>;
}

/** The confidence model as arrays in `names` order, and its threshold. */
export function fittedConfidence(
  names: readonly string[],
  path = FITTED_PATH,
): { mean: number[]; sd: number[]; weights: number[]; bias: number; threshold: number } {
  const c = readFitted(path).confidence;
  sameNames(Object.keys(c.features), names, "confidence.features", path);
  return {
    mean: names.map((n) => c.features[n]!.mean),
    sd: names.map((n) => c.features[n]!.sd),
    weights: names.map((n) => c.features[n]!.weight),
    bias: c.bias,
    threshold: c.threshold,
  };
}

/** Replaces one section of the file at `path` (the other is kept), atomically; for the fitting tools. */
export function writeFittedSection(path: string, section: { picker: FittedPicker } | { confidence: FittedConfidence }): void {
  const cur = readFitted(path);
  const next = parseFitted({ ...cur, ...section }, `${path} (new contents)`);
  writeFileAtomicSync(path, `${JSON.stringify(next, null, 2)}\n`);
  cache.delete(path);
}
