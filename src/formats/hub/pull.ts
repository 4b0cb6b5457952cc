// `pull`: a model repository from the Hugging Face Hub into the cache, the way
// huggingface_hub's snapshot_download does it, over the same HTTP API:
//   GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true
//       → the commit (sha) and the files (siblings: rfilename, size, blobId,
//         lfs.sha256) of that revision;
//   GET {endpoint}/{repo}/resolve/{commit}/{path}
//       → the bytes (LFS files through a redirect to the CDN), with Range for resuming.
// A blob already in the cache (downloaded by us or by Python) is linked, not
// fetched: a second pull costs one metadata request. refs/<revision> is written
// last, after every file is in place. With HF_HUB_OFFLINE the cache alone
// answers. When the listing lacks blob ids (a mirror), a HEAD per file gives
// the etag and size (X-Linked-Etag / ETag, X-Linked-Size / Content-Length).
// Progress goes through a callback; nothing is printed.
import { copyFileSync, existsSync, linkSync, mkdirSync, readlinkSync, renameSync, rmSync, statfsSync, statSync, symlinkSync } from "node:fs";
import { dirname, join, relative, resolve as resolvePath } from "node:path";

import { ConfigError, FormatError, NotFoundError, UsageError } from "../../errors.ts";
import { tempPathFor, writeFileAtomicSync } from "../../util/atomic.ts";
import { hubSettings, isCommitHash, parseRepoRef, readRef, repoDir, repoFolderName, snapshotFiles, type HubSettings, type RepoRef } from "./cache.ts";
import { downloadBlob, verifyBlob } from "./download.ts";
import { checkStatus, hubRequest, NetworkError, readBody, type ErrorSubject } from "./http.ts";

/** One file of a revision, as the Hub lists it. */
export interface RepoFile {
  path: string;
  size: number;
  /** sha256 for LFS files, git blob sha1 otherwise: the blob's name in the cache. */
  etag: string;
  lfs: boolean;
}

export type PullEvent =
  | { type: "listed"; repoId: string; revision: string; commit: string; files: RepoFile[]; bytes: number; toDownload: number; offline: boolean }
  | { type: "file"; path: string; size: number; cached: boolean; resumedFrom: number }
  | { type: "progress"; path: string; bytes: number; size: number; doneBytes: number; totalBytes: number }
  | { type: "retry"; path: string; reason: string; attempt: number }
  | { type: "done"; path: string };

export interface PullOptions {
  /** fnmatch-style patterns (`*` crosses `/`, as in huggingface_hub); a file is kept when it matches any. */
  include?: string[];
  /** Patterns of files to leave out. */
  exclude?: string[];
  /** Every file of the revision, without the default choice of weights (see selectFiles). */
  all?: boolean;
  /** Re-hash blobs already in the cache; one that does not match its etag is deleted and downloaded again. */
  verify?: boolean;
  /** Settings; default hubSettings() from the environment. */
  settings?: HubSettings;
  onEvent?: (e: PullEvent) => void;
  signal?: AbortSignal;
  /** Network attempts per file. Default 5. */
  maxAttempts?: number;
  backoffMs?: (attempt: number) => number;
  timeoutMs?: number;
}

export interface PullResult {
  repoId: string;
  revision: string;
  commit: string;
  /** snapshots/<commit> */
  snapshot: string;
  files: Array<RepoFile & { cached: boolean; received: number; resumedFrom: number }>;
  /** Bytes of the selected files. */
  bytes: number;
  /** Bytes received over the network. */
  received: number;
  offline: boolean;
}

// ---------------------------------------------------------------------------
// File selection

/** fnmatch (Python's): `*` any run of characters including `/`, `?` one, `[…]` a set, `[!…]` its complement. A pattern ending in `/` matches a folder. */
export function globToRegExp(pattern: string): RegExp {
  if (pattern.endsWith("/")) pattern += "*";
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        let set = pattern.slice(i + 1, end);
        if (set.startsWith("!")) set = `^${set.slice(1)}`;
        re += `[${set.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += ch.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "s");
}

/** Weight formats slm does not read; left out by default when the repository has safetensors. */
const OTHER_WEIGHTS = [
  "*.bin",
  "*.pt",
  "*.pth",
  "*.ckpt",
  "*.h5",
  "*.msgpack",
  "*.onnx",
  "*.onnx_data",
  "*.ot",
  "*.tflite",
  "*.mlmodel",
  "*.gguf",
  "*.npz",
  "onnx/",
  "openvino/",
  "coreml/",
];

/**
 * The files a pull takes. With include/exclude patterns: those (huggingface_hub's
 * allow/ignore rules). Otherwise, what slm can use: when the revision has
 * safetensors weights, everything except other weight formats (PyTorch .bin,
 * ONNX, GGUF…); when it has no safetensors and several GGUF files, a UsageError
 * asking to choose one; else everything. `all` takes every file.
 */
function selectFiles(repoId: string, files: RepoFile[], o: Pick<PullOptions, "include" | "exclude" | "all"> = {}): RepoFile[] {
  const inc = (o.include ?? []).map(globToRegExp);
  const exc = (o.exclude ?? []).map(globToRegExp);
  const out = files.filter((f) => (inc.length === 0 || inc.some((r) => r.test(f.path))) && !exc.some((r) => r.test(f.path)));
  if (o.all || inc.length > 0) return out;
  if (out.some((f) => f.path.endsWith(".safetensors"))) {
    const other = OTHER_WEIGHTS.map(globToRegExp);
    return out.filter((f) => !other.some((r) => r.test(f.path)));
  }
  const ggufs = out.filter((f) => f.path.toLowerCase().endsWith(".gguf"));
  if (ggufs.length > 1) {
    const tags = ggufs.map((g) => g.path);
    throw new UsageError(`${repoId} holds ${ggufs.length} GGUF files and no safetensors weights; choose one with --include`, {
      hint: `e.g. slm pull ${repoId} --include '${suggestPattern(tags[0]!)}'  (files: ${tags.slice(0, 12).join(", ")}${tags.length > 12 ? ", …" : ""})`,
    });
  }
  return out;
}

function suggestPattern(path: string): string {
  const m = /[-._]((?:I?Q\d|F|BF)[A-Z0-9_]*)\.gguf$/i.exec(path);
  return m ? `*${m[1]}.gguf` : path;
}

// ---------------------------------------------------------------------------
// Listing a revision

interface Listing {
  commit: string;
  files: RepoFile[];
}

const quote = (s: string) => encodeURIComponent(s);
const quotePath = (p: string) => p.split("/").map(encodeURIComponent).join("/");

function resolveUrl(settings: HubSettings, repoId: string, revision: string, path: string): string {
  return `${settings.endpoint}/${repoId}/resolve/${quote(revision)}/${quotePath(path)}`;
}

const normEtag = (v: string | string[] | undefined): string | undefined => {
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined ? undefined : s.replace(/^W\//, "").replace(/^"|"$/g, "");
};

async function listRevision(settings: HubSettings, ref: RepoRef, subject: ErrorSubject, o: PullOptions): Promise<Listing> {
  const url = `${settings.endpoint}/api/models/${ref.repoId}/revision/${quote(ref.revision)}?blobs=true`;
  const res = await withRetries(
    () =>
      hubRequest({
        method: "GET",
        url,
        ...(settings.token ? { token: settings.token } : {}),
        headers: { accept: "application/json" },
        ...(o.signal ? { signal: o.signal } : {}),
      }),
    subject,
    o,
  );
  let info: { sha?: unknown; siblings?: unknown };
  try {
    info = JSON.parse((await readBody(res)).toString("utf8"));
  } catch (e) {
    throw new FormatError(`${url}: the Hub's answer is not JSON`, { cause: e, hint: "is HF_ENDPOINT a Hugging Face Hub?" });
  }
  if (typeof info.sha !== "string" || !isCommitHash(info.sha) || !Array.isArray(info.siblings)) {
    throw new FormatError(`${url}: the answer has no commit (sha) or file list (siblings)`, { hint: "is HF_ENDPOINT a Hugging Face Hub?" });
  }
  const commit = info.sha;
  const files: RepoFile[] = [];
  for (const s of info.siblings as Array<Record<string, unknown>>) {
    const path = s.rfilename;
    if (typeof path !== "string" || path === "" || path.startsWith("/") || path.split("/").some((p) => p === ".." || p === "." || p === "")) {
      throw new FormatError(`${url}: bad file name ${JSON.stringify(path)} in the listing`);
    }
    const lfs = s.lfs as { sha256?: unknown; size?: unknown } | undefined | null;
    if (lfs && typeof lfs.sha256 === "string" && typeof lfs.size === "number") files.push(checked(url, { path, size: lfs.size, etag: lfs.sha256, lfs: true }));
    else if (typeof s.blobId === "string" && typeof s.size === "number") files.push(checked(url, { path, size: s.size, etag: s.blobId, lfs: false }));
    else files.push(await headFile(settings, ref.repoId, commit, path, { ...subject, file: path }, o));
  }
  return { commit, files };
}

/** An etag becomes a file name in blobs/ and a size a byte count: both are checked before use. */
function checked(url: string, f: RepoFile): RepoFile {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(f.etag))
    throw new FormatError(`${url}: ${f.path} has an unusable etag ${JSON.stringify(f.etag.slice(0, 80))}`);
  if (!Number.isSafeInteger(f.size) || f.size < 0) throw new FormatError(`${url}: ${f.path} has a bad size ${f.size}`);
  return f;
}

/** Etag and size of one file from a HEAD on its resolve URL (redirects to another origin not followed: the Hub puts the LFS etag on the redirect to its CDN). */
async function headFile(settings: HubSettings, repoId: string, commit: string, path: string, subject: ErrorSubject, o: PullOptions): Promise<RepoFile> {
  const url = resolveUrl(settings, repoId, commit, path);
  const res = await withRetries(
    () => hubRequest({ method: "HEAD", url, follow: "same-origin", ...(settings.token ? { token: settings.token } : {}) }),
    subject,
    o,
    true,
  );
  res.body.resume();
  const linked = normEtag(res.headers["x-linked-etag"]);
  const etag = linked ?? normEtag(res.headers.etag);
  const size = Number(res.headers["x-linked-size"] ?? (res.status >= 300 ? undefined : res.headers["content-length"]));
  if (!etag || !Number.isSafeInteger(size)) throw new FormatError(`${url}: no ETag or size in the Hub's answer`);
  return checked(url, { path, size, etag, lfs: linked !== undefined });
}

async function withRetries(send: () => Promise<Awaited<ReturnType<typeof hubRequest>>>, subject: ErrorSubject, o: PullOptions, allowRedirect = false) {
  const attempts = o.maxAttempts ?? 5;
  for (let i = 1; ; i++) {
    try {
      const res = await send();
      if (!(allowRedirect && res.status >= 300 && res.status < 400)) await checkStatus(res, subject);
      return res;
    } catch (e) {
      if (!(e instanceof NetworkError) || !e.retry || i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, (o.backoffMs ?? ((n: number) => Math.min(4000, 250 * 2 ** n)))(i - 1)));
    }
  }
}

// ---------------------------------------------------------------------------
// Placing files

/** snapshots/<commit>/<path> → relative symlink to blobs/<etag>, replaced atomically. Falls back to a hard link or a copy where symlinks fail. */
function placePointer(blob: string, pointer: string): void {
  mkdirSync(dirname(pointer), { recursive: true });
  const target = relative(dirname(pointer), blob);
  try {
    if (readlinkSync(pointer) === target) return;
  } catch {
    // absent, or not a symlink
  }
  const tmp = tempPathFor(pointer);
  try {
    symlinkSync(target, tmp);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw e;
    try {
      linkSync(blob, tmp);
    } catch {
      copyFileSync(blob, tmp);
    }
  }
  try {
    renameSync(tmp, pointer);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

function writeRef(repo: string, revision: string, commit: string): void {
  if (revision === commit) return;
  const p = join(repo, "refs", revision);
  if (readRef(repo, revision) === commit && existsSync(p)) return;
  mkdirSync(dirname(p), { recursive: true });
  writeFileAtomicSync(p, commit);
}

// ---------------------------------------------------------------------------
// Pull

/**
 * Pulls `org/name[:revision][/file]` into the cache and returns the snapshot.
 * A reference naming a file pulls that file alone (unless include says otherwise).
 */
export async function pullModel(spec: string, o: PullOptions = {}): Promise<PullResult> {
  const ref = parseRepoRef(spec, true);
  if (!ref) throw new UsageError(`"${spec}" is not a Hub repository id`, { hint: "expected org/name, org/name:revision or org/name/file.gguf" });
  const settings = o.settings ?? hubSettings();
  const repo = repoDir(settings.cacheDir, ref.repoId);
  const include = o.include && o.include.length > 0 ? o.include : ref.file !== undefined ? [ref.file] : undefined;
  const subject: ErrorSubject = { repoId: ref.repoId, revision: ref.revision, endpoint: settings.endpoint, hasToken: settings.token !== undefined };
  if (settings.offline) return pullOffline(ref, repo, settings, { ...o, ...(include ? { include } : {}) });

  const listing = await listRevision(settings, ref, subject, o);
  const selected = selectFiles(ref.repoId, listing.files, { ...o, ...(include ? { include } : {}) });
  if (selected.length === 0) {
    throw new NotFoundError(`no file of ${ref.repoId}@${ref.revision} matches ${include ? include.map((p) => `'${p}'`).join(", ") : "the selection"}`, {
      hint: `the revision has ${listing.files.length} files: ${listing.files
        .slice(0, 10)
        .map((f) => f.path)
        .join(", ")}${listing.files.length > 10 ? ", …" : ""}`,
    });
  }
  const snapshot = join(repo, "snapshots", listing.commit);
  const blobOf = (f: RepoFile) => join(repo, "blobs", f.etag);
  const totalBytes = selected.reduce((a, f) => a + f.size, 0);
  const inCache = (f: RepoFile) => existsSync(blobOf(f)) && statSize(blobOf(f)) === f.size;
  const toDownload = selected.filter((f) => !inCache(f)).reduce((a, f) => a + f.size, 0);
  o.onEvent?.({
    type: "listed",
    repoId: ref.repoId,
    revision: ref.revision,
    commit: listing.commit,
    files: selected,
    bytes: totalBytes,
    toDownload,
    offline: false,
  });
  // Bytes still to write: each missing blob less what its partial file already holds.
  const need = selected.filter((f) => !inCache(f)).reduce((a, f) => a + f.size - Math.max(0, statSize(join(repo, "blobs", `${f.etag}.incomplete`))), 0);
  checkDiskSpace(join(repo, "blobs"), need);

  const result: PullResult = {
    repoId: ref.repoId,
    revision: ref.revision,
    commit: listing.commit,
    snapshot,
    files: [],
    bytes: totalBytes,
    received: 0,
    offline: false,
  };
  let doneBytes = 0;
  for (const f of selected) {
    if (o.verify && inCache(f) && !(await verifyBlob(blobOf(f), f.etag, f.size))) {
      o.onEvent?.({ type: "retry", path: f.path, reason: "the cached blob does not match its checksum: downloading again", attempt: 1 });
      rmSync(blobOf(f), { force: true });
    }
    const cached = inCache(f);
    const partial = join(repo, "blobs", `${f.etag}.incomplete`);
    o.onEvent?.({ type: "file", path: f.path, size: f.size, cached, resumedFrom: cached ? 0 : existsSync(partial) ? statSize(partial) : 0 });
    let received = 0;
    let resumedFrom = 0;
    if (!cached) {
      const base = doneBytes;
      const r = await downloadBlob({
        url: resolveUrl(settings, ref.repoId, listing.commit, f.path),
        ...(settings.token ? { token: settings.token } : {}),
        blobPath: blobOf(f),
        lockPath: join(settings.cacheDir, ".locks", repoFolderName(ref.repoId), `${f.etag}.slm.lock`),
        etag: f.etag,
        size: f.size,
        subject: { ...subject, revision: listing.commit, file: f.path },
        ...(o.maxAttempts !== undefined ? { maxAttempts: o.maxAttempts } : {}),
        ...(o.backoffMs ? { backoffMs: o.backoffMs } : {}),
        ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
        onProgress: (p) => o.onEvent?.({ type: "progress", path: f.path, bytes: p.bytes, size: f.size, doneBytes: base + p.bytes, totalBytes }),
        onRetry: (reason, attempt) => o.onEvent?.({ type: "retry", path: f.path, reason, attempt }),
      });
      received = r.received;
      resumedFrom = r.resumedFrom;
      result.received += received;
    }
    placePointer(blobOf(f), join(snapshot, ...f.path.split("/")));
    doneBytes += f.size;
    result.files.push({ ...f, cached, received, resumedFrom });
    o.onEvent?.({ type: "done", path: f.path });
  }
  writeRef(repo, ref.revision, listing.commit);
  return result;
}

function statSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return -1;
  }
}

/** Refuses, before writing anything, a download of `need` bytes larger than the free space of the cache's file system. */
function checkDiskSpace(blobs: string, need: number): void {
  if (need <= 0) return;
  mkdirSync(blobs, { recursive: true });
  const fs = statfsSync(blobs);
  const free = fs.bavail * fs.bsize;
  if (need > free) {
    const gb = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GB`;
    throw new ConfigError(`not enough disk space for the download: ${gb(need)} needed, ${gb(free)} free in ${blobs}`, {
      hint: "free some space, or point HF_HUB_CACHE (or HF_HOME) at a larger disk",
    });
  }
}

/** HF_HUB_OFFLINE: the cached snapshot of the revision, or a NotFoundError naming what is missing. */
function pullOffline(ref: RepoRef, repo: string, settings: HubSettings, o: PullOptions): PullResult {
  const commit = readRef(repo, ref.revision);
  const snapshot = commit === undefined ? undefined : join(repo, "snapshots", commit);
  const hint = "HF_HUB_OFFLINE is set, so nothing is downloaded; unset it to pull";
  if (!snapshot || !existsSync(snapshot))
    throw new NotFoundError(`offline mode: ${ref.repoId}@${ref.revision} is not in the cache (${settings.cacheDir})`, { hint });
  const files: RepoFile[] = snapshotFiles(snapshot).map((p) => {
    const full = resolvePath(snapshot, p);
    let etag = "";
    try {
      etag = readlinkSync(full).split("/").pop() ?? "";
    } catch {
      // a copied file (no symlinks on this file system)
    }
    return { path: p, size: statSync(full).size, etag, lfs: /^[0-9a-f]{64}$/.test(etag) };
  });
  const inc = (o.include ?? []).map(globToRegExp);
  const exc = (o.exclude ?? []).map(globToRegExp);
  const selected = files.filter((f) => (inc.length === 0 || inc.some((r) => r.test(f.path))) && !exc.some((r) => r.test(f.path)));
  if (selected.length === 0)
    throw new NotFoundError(`offline mode: no cached file of ${ref.repoId}@${ref.revision} matches ${(o.include ?? []).map((p) => `'${p}'`).join(", ")}`, {
      hint,
    });
  const bytes = selected.reduce((a, f) => a + f.size, 0);
  o.onEvent?.({ type: "listed", repoId: ref.repoId, revision: ref.revision, commit: commit!, files: selected, bytes, toDownload: 0, offline: true });
  return {
    repoId: ref.repoId,
    revision: ref.revision,
    commit: commit!,
    snapshot,
    bytes,
    received: 0,
    offline: true,
    files: selected.map((f) => ({ ...f, cached: true, received: 0, resumedFrom: 0 })),
  };
}
