// What the Hugging Face cache holds, for `slm models`: every model repository
// (ours or Python's downloads alike), each cached snapshot with the refs that
// point at it, its size, its architecture (config.json's model_type /
// architectures, or a GGUF's general.architecture) and its quantization (a
// GGUF's general.file_type, safetensors dtypes weighted by bytes, or
// config.json's quantization_config). Reads headers only, never weights.
// Knows the cache layout (cache.ts) and the file headers; nothing about HTTP.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

import { kvNumber, kvString, readGgufMetadata } from "../gguf.ts";
import { SafetensorsFile } from "../safetensors.ts";
import { hubSettings, isCommitHash, repoIdFromFolder, snapshotFiles, type HubSettings } from "./cache.ts";

export interface CachedSnapshot {
  commit: string;
  /** Branches / tags (refs/) that point at this commit. */
  refs: string[];
  path: string;
  files: string[];
  /** Bytes of the snapshot's files. */
  bytes: number;
  /** model_type or general.architecture (e.g. "qwen2"), when known. */
  architecture?: string;
  /** config.json "architectures" (e.g. ["Qwen2ForCausalLM"]). */
  architectures?: string[];
  /** e.g. "BF16", "F32", "Q4_K_M", "Q4_K_M, Q8_0" (one per GGUF), "gptq". */
  quantization?: string;
  /** "safetensors", "gguf", "pytorch"… */
  formats: string[];
}

export interface CachedRepo {
  repoId: string;
  path: string;
  /** Bytes of every blob (shared by snapshots), partial downloads included. */
  bytesOnDisk: number;
  /** Bytes of partial downloads (blobs/*.incomplete). */
  incompleteBytes: number;
  snapshots: CachedSnapshot[];
}

/** llama.cpp's llama_ftype values (general.file_type) by name. */
const FILE_TYPES: Record<number, string> = {
  0: "F32",
  1: "F16",
  2: "Q4_0",
  3: "Q4_1",
  7: "Q8_0",
  8: "Q5_0",
  9: "Q5_1",
  10: "Q2_K",
  11: "Q3_K_S",
  12: "Q3_K_M",
  13: "Q3_K_L",
  14: "Q4_K_S",
  15: "Q4_K_M",
  16: "Q5_K_S",
  17: "Q5_K_M",
  18: "Q6_K",
  19: "IQ2_XXS",
  20: "IQ2_XS",
  21: "Q2_K_S",
  22: "IQ3_XS",
  23: "IQ3_XXS",
  24: "IQ1_S",
  25: "IQ4_NL",
  26: "IQ3_S",
  27: "IQ3_M",
  28: "IQ2_S",
  29: "IQ2_M",
  30: "IQ4_XS",
  31: "IQ1_M",
  32: "BF16",
  36: "TQ1_0",
  37: "TQ2_0",
  38: "MXFP4_MOE",
};

function size(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}

function readJson(p: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(readFileSync(p, "utf8"));
    return v && typeof v === "object" ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Describes one snapshot folder. Unreadable files are skipped, not fatal: a listing should never fail on one bad download. */
function describeSnapshot(path: string, commit: string, refs: string[]): CachedSnapshot {
  const files = snapshotFiles(path);
  const snap: CachedSnapshot = { commit, refs, path, files, bytes: files.reduce((a, f) => a + size(join(path, f)), 0), formats: [] };
  const cfg = files.includes("config.json") ? readJson(join(path, "config.json")) : undefined;
  if (cfg) {
    if (typeof cfg.model_type === "string") snap.architecture = cfg.model_type;
    if (Array.isArray(cfg.architectures)) snap.architectures = cfg.architectures.filter((a): a is string => typeof a === "string");
  }
  const quants: string[] = [];
  const qc = cfg?.quantization_config as { quant_method?: unknown } | undefined;
  if (qc && typeof qc.quant_method === "string") quants.push(qc.quant_method);
  const st = files.filter((f) => f.endsWith(".safetensors"));
  if (st.length > 0) {
    snap.formats.push("safetensors");
    const bytesByDtype = new Map<string, number>();
    for (const f of st) {
      try {
        const sf = SafetensorsFile.open(join(path, f));
        try {
          for (const n of sf.names) {
            const t = sf.info(n);
            bytesByDtype.set(t.dtype, (bytesByDtype.get(t.dtype) ?? 0) + (t.end - t.begin));
          }
        } finally {
          sf.close();
        }
      } catch {
        // not readable as safetensors: leave it out of the dtype count
      }
    }
    const top = [...bytesByDtype].sort((a, b) => b[1] - a[1])[0];
    if (top && quants.length === 0) quants.push(top[0]);
  }
  const ggufs = files.filter((f) => f.toLowerCase().endsWith(".gguf"));
  if (ggufs.length > 0) snap.formats.push("gguf");
  for (const f of ggufs) {
    try {
      const { kv } = readGgufMetadata(join(path, f));
      snap.architecture ??= kvString(kv, "general.architecture");
      const ft = kvNumber(kv, "general.file_type");
      const name = ft === undefined ? undefined : (FILE_TYPES[ft] ?? `file_type ${ft}`);
      if (name && !quants.includes(name)) quants.push(name);
    } catch {
      // not a GGUF we can read
    }
  }
  if (files.some((f) => /^pytorch_model.*\.bin$/.test(f))) snap.formats.push("pytorch");
  if (quants.length > 0) snap.quantization = quants.join(", ");
  return snap;
}

/** The refs of a repository folder: revision name → commit (nested names such as refs/pr/1 included). */
function readRefs(repo: string): Map<string, string> {
  const out = new Map<string, string>();
  const dir = join(repo, "refs");
  const walk = (d: string, prefix: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith(".")) continue;
      if (e.isDirectory()) walk(join(d, e.name), `${prefix + e.name}/`);
      else {
        const c = readFileSync(join(d, e.name), "utf8").trim();
        if (isCommitHash(c)) out.set(prefix + e.name, c);
      }
    }
  };
  walk(dir, "");
  return out;
}

/** Every model repository in the cache, sorted by id; each snapshot with its refs, size, architecture and quantization. */
export function listCachedModels(settings: HubSettings = hubSettings()): CachedRepo[] {
  if (!existsSync(settings.cacheDir)) return [];
  const out: CachedRepo[] = [];
  for (const e of readdirSync(settings.cacheDir, { withFileTypes: true })) {
    const repoId = e.isDirectory() ? repoIdFromFolder(e.name) : undefined;
    if (!repoId) continue;
    const path = join(settings.cacheDir, e.name);
    const blobs = join(path, "blobs");
    let bytesOnDisk = 0;
    let incompleteBytes = 0;
    if (existsSync(blobs)) {
      for (const b of readdirSync(blobs)) {
        const s = size(join(blobs, b));
        bytesOnDisk += s;
        if (b.endsWith(".incomplete")) incompleteBytes += s;
      }
    }
    const refs = readRefs(path);
    const snapsDir = join(path, "snapshots");
    const snapshots = existsSync(snapsDir)
      ? readdirSync(snapsDir)
          .filter(isCommitHash)
          .map((commit) =>
            describeSnapshot(
              join(snapsDir, commit),
              commit,
              [...refs]
                .filter(([, c]) => c === commit)
                .map(([r]) => r)
                .sort(),
            ),
          )
      : [];
    out.push({ repoId, path, bytesOnDisk, incompleteBytes, snapshots });
  }
  return out.sort((a, b) => a.repoId.localeCompare(b.repoId));
}
