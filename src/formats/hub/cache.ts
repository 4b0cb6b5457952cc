// The Hugging Face Hub cache on disk, laid out the way huggingface_hub lays it
// out, so a model one tool downloaded is found by the other:
//
//   $HF_HUB_CACHE/models--org--name/
//     blobs/<etag>                 file contents, named by sha256 (LFS files) or git blob sha1
//     blobs/<etag>.incomplete      a download in progress (ours resume from it)
//     refs/<revision>              the commit hash a branch or tag pointed at when last pulled
//     snapshots/<commit>/<path>    relative symlinks to ../../blobs/<etag>
//
// This file knows the settings (HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN,
// HF_HUB_OFFLINE), the names and paths, and how a model reference
// `org/name[:revision][/file]` resolves to a local path from the cache alone.
// It makes no network requests (pull.ts does) and reads no model files.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, relative } from "node:path";

import { NotFoundError, UsageError } from "../../errors.ts";

export type Env = Record<string, string | undefined>;

export interface HubSettings {
  /** The hub cache folder: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, HF_HOME defaulting to $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface. */
  cacheDir: string;
  /** $HF_ENDPOINT without a trailing slash; default https://huggingface.co. */
  endpoint: string;
  /** $HF_TOKEN (or the legacy $HUGGING_FACE_HUB_TOKEN), else the token file huggingface_hub's login writes ($HF_TOKEN_PATH or $HF_HOME/token). */
  token?: string;
  /** $HF_HUB_OFFLINE (or $TRANSFORMERS_OFFLINE) is 1/on/yes/true: the cache only, no network. */
  offline: boolean;
}

const DEFAULT_ENDPOINT = "https://huggingface.co";
const DEFAULT_REVISION = "main";

const TRUE_VALUES = new Set(["1", "ON", "YES", "TRUE"]);
const isTrue = (v: string | undefined) => v !== undefined && TRUE_VALUES.has(v.trim().toUpperCase());
const expandHome = (p: string) => (p === "~" || p.startsWith("~/") ? join(homedir(), p.slice(1)) : p);

/** Reads the settings from the environment, the same variables huggingface_hub reads. */
export function hubSettings(env: Env = process.env): HubSettings {
  const home = expandHome(env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "huggingface"));
  const cacheDir = expandHome(env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || join(home, "hub"));
  const endpoint = (env.HF_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/+$/, "");
  let token = (env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || "").trim() || undefined;
  if (token === undefined) {
    const file = expandHome(env.HF_TOKEN_PATH || join(home, "token"));
    try {
      token = readFileSync(file, "utf8").trim() || undefined;
    } catch {
      // no token file: anonymous access
    }
  }
  return { cacheDir, endpoint, ...(token ? { token } : {}), offline: isTrue(env.HF_HUB_OFFLINE) || isTrue(env.TRANSFORMERS_OFFLINE) };
}

// ---------------------------------------------------------------------------
// Names

/** A model reference: `org/name`, an optional `:revision`, an optional file inside the repository. */
export interface RepoRef {
  repoId: string;
  revision: string;
  /** A path inside the repository (e.g. one GGUF file), when the reference names one. */
  file?: string;
}

const NAME = "[A-Za-z0-9][A-Za-z0-9._-]*";
const REPO_RE = new RegExp(`^(${NAME}/${NAME})(?::(refs/pr/\\d+|[^/:]+))?(?:/(.+))?$`);
const SINGLE_RE = new RegExp(`^(${NAME})(?::(refs/pr/\\d+|[^/:]+))?$`);
const COMMIT_RE = /^[0-9a-f]{40}$/;

/**
 * Parses `org/name[:revision][/path/in/repo]`, or undefined when `spec` is not
 * such a reference (an absolute or ./ path, a URL, a name with characters a
 * repository id cannot hold). `allowSingle` also accepts a bare legacy id
 * (`gpt2`), which only `slm pull` does: elsewhere a bare word is a local path
 * or a preset. A revision is one path segment or `refs/pr/N`.
 */
export function parseRepoRef(spec: string, allowSingle = false): RepoRef | undefined {
  if (spec.startsWith(".") || spec.startsWith("/") || spec.startsWith("~") || spec.includes("\\") || spec.includes("//")) return undefined;
  const m = REPO_RE.exec(spec) ?? (allowSingle ? SINGLE_RE.exec(spec) : null);
  if (!m) return undefined;
  const repoId = m[1]!;
  if (m[2] === "." || m[2] === "..") return undefined;
  if (repoId.split("/").some((p) => p.endsWith(".") || p.includes("..") || p.includes("--"))) return undefined;
  const file = m[3];
  if (file?.split("/").some((p) => p === "" || p === "." || p === "..")) return undefined;
  return { repoId, revision: m[2] ?? DEFAULT_REVISION, ...(file !== undefined ? { file } : {}) };
}

/** `org/name` → `models--org--name`, huggingface_hub's folder name for a model repository. */
export function repoFolderName(repoId: string): string {
  return ["models", ...repoId.split("/")].join("--");
}

/** The inverse of repoFolderName, or undefined for a folder that is not a model repository. */
export function repoIdFromFolder(folder: string): string | undefined {
  if (!folder.startsWith("models--")) return undefined;
  return folder.slice("models--".length).split("--").join("/");
}

export function repoDir(cacheDir: string, repoId: string): string {
  return join(cacheDir, repoFolderName(repoId));
}

export function isCommitHash(revision: string): boolean {
  return COMMIT_RE.test(revision);
}

/** A revision's commit: the revision itself when it is a full commit hash, else refs/<revision>; undefined when unknown. */
export function readRef(repo: string, revision: string): string | undefined {
  if (isCommitHash(revision)) return revision;
  try {
    const c = readFileSync(join(repo, "refs", revision), "utf8").trim();
    return isCommitHash(c) ? c : undefined;
  } catch {
    return undefined;
  }
}

/** Every file under a snapshot (its repository paths, "/"-separated), following the symlinks. Skips dangling links. */
export function snapshotFiles(snapshot: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (existsSync(p) && statSync(p).isFile()) out.push(relative(snapshot, p).split("\\").join("/"));
    }
  };
  if (existsSync(snapshot)) walk(snapshot);
  return out.sort();
}

// ---------------------------------------------------------------------------
// Resolving a model reference from the cache

/** What a cached snapshot holds that slm can load. */
export interface SnapshotModel {
  /** The snapshot directory when it holds HF weights (config.json + safetensors). */
  hfDir?: string;
  /** GGUF files in the snapshot (repository paths). */
  ggufs: string[];
}

function snapshotModel(snapshot: string): SnapshotModel {
  const files = snapshotFiles(snapshot);
  const hasConfig = files.includes("config.json");
  const hasWeights = files.includes("model.safetensors") || files.includes("model.safetensors.index.json");
  return { ...(hasConfig && hasWeights ? { hfDir: snapshot } : {}), ggufs: files.filter((f) => f.toLowerCase().endsWith(".gguf")) };
}

export interface ResolvedModel {
  ref: RepoRef;
  commit: string;
  /** A directory (HF weights) or a file (GGUF, or the file the reference named). */
  path: string;
}

/**
 * Resolves `org/name[:revision][/file]` to a local path from the cache alone.
 * Returns undefined when `spec` is not a repository reference. Throws
 * NotFoundError when it is one the cache does not hold, and UsageError when
 * the snapshot holds several GGUF files and no HF weights (name one).
 */
export function resolveCachedModel(spec: string, settings: HubSettings = hubSettings()): ResolvedModel | undefined {
  const ref = parseRepoRef(spec);
  if (!ref) return undefined;
  const repo = repoDir(settings.cacheDir, ref.repoId);
  const where = `the Hugging Face cache (${settings.cacheDir})`;
  const hint = `to download it from the Hub: \`slm pull ${ref.repoId}${ref.revision === DEFAULT_REVISION ? "" : `:${ref.revision}`}\`, or add --pull to the command`;
  if (!existsSync(repo)) throw new NotFoundError(`${spec}: no such file or directory, and ${ref.repoId} is not in ${where}`, { hint });
  const commit = readRef(repo, ref.revision);
  const snapshot = commit === undefined ? undefined : join(repo, "snapshots", commit);
  if (commit === undefined || !existsSync(snapshot!))
    throw new NotFoundError(`${spec}: revision "${ref.revision}" of ${ref.repoId} is not in ${where}`, { hint });
  if (ref.file !== undefined) {
    const p = join(snapshot!, ref.file);
    if (!existsSync(p))
      throw new NotFoundError(`${spec}: ${ref.file} is not in the cached snapshot of ${ref.repoId} (${commit.slice(0, 7)})`, {
        hint: `download it with \`slm pull ${ref.repoId} --include '${ref.file}'\``,
      });
    return { ref, commit, path: p };
  }
  const m = snapshotModel(snapshot!);
  if (m.hfDir) return { ref, commit, path: m.hfDir };
  if (m.ggufs.length === 1) return { ref, commit, path: join(snapshot!, m.ggufs[0]!) };
  if (m.ggufs.length > 1) {
    throw new UsageError(`${spec}: the cached snapshot holds ${m.ggufs.length} GGUF files and no safetensors weights; name the one to use`, {
      hint: `e.g. ${ref.repoId}/${m.ggufs[0]} (files: ${m.ggufs.join(", ")})`,
    });
  }
  throw new NotFoundError(
    `${spec}: the cached snapshot of ${ref.repoId} (${commit.slice(0, 7)}) holds no model weights (config.json + safetensors, or a .gguf)`,
    {
      hint: `pull the weights: \`slm pull ${ref.repoId}\``,
    },
  );
}
