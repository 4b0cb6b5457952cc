// One file from the Hub into the cache's blobs/ folder: written to
// blobs/<etag>.incomplete, resumed from there with a Range request after a cut
// connection (in this run or a later one), checked against its etag (the
// sha256 of an LFS file, the git blob sha1 of a small one) and its size, then
// renamed to blobs/<etag>. A blob whose bytes do not match is deleted and
// downloaded once more from scratch; a second mismatch is an error. So a blob
// in place is always complete and verified. A lock file beside the cache
// (.locks/<repo folder>/<etag>.slm.lock, holding our pid) keeps two slm
// processes from appending to the same partial file.
// Knows the cache's blob names and HTTP; nothing about repositories or models.
import { createHash, type Hash } from "node:crypto";
import {
  closeSync,
  createReadStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
  ftruncateSync,
} from "node:fs";
import { dirname } from "node:path";

import { CancelledError, FormatError, SlmError } from "../../errors.ts";
import { checkStatus, hubRequest, NetworkError, type ErrorSubject } from "./http.ts";

/** How a blob's name checks its content. */
export type EtagKind = "sha256" | "git-sha1" | "none";

function etagKind(etag: string): EtagKind {
  if (/^[0-9a-f]{64}$/.test(etag)) return "sha256";
  if (/^[0-9a-f]{40}$/.test(etag)) return "git-sha1";
  return "none";
}

export interface BlobProgress {
  /** Bytes of this blob on disk so far (resumed bytes included). */
  bytes: number;
  size: number;
  /** Bytes received over the network in this call. */
  received: number;
}

export interface DownloadOptions {
  url: string;
  token?: string;
  /** The blob path (blobs/<etag>); the partial file is this + ".incomplete". */
  blobPath: string;
  lockPath: string;
  etag: string;
  size: number;
  subject: ErrorSubject;
  /** Network attempts in a row that make no progress (cuts, timeouts, 5xx) before giving up. Default 5. */
  maxAttempts?: number;
  /** Delay before retry n (ms): default 250·2^n, capped at 4 s. */
  backoffMs?: (attempt: number) => number;
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: BlobProgress) => void;
  onRetry?: (reason: string, attempt: number) => void;
}

export interface DownloadResult {
  /** Bytes received over the network (0 when nothing was needed). */
  received: number;
  /** Bytes already on disk in a partial file when this call started. */
  resumedFrom: number;
  /** Requests that returned a body (GET). */
  requests: number;
  /** Downloads thrown away because the bytes did not match the etag. */
  corrupt: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function newHash(kind: EtagKind, size: number): Hash | undefined {
  if (kind === "none") return undefined;
  const h = createHash(kind === "sha256" ? "sha256" : "sha1");
  if (kind === "git-sha1") h.update(`blob ${size}\0`);
  return h;
}

async function hashFile(h: Hash | undefined, path: string, end: number): Promise<void> {
  if (!h || end === 0) return;
  for await (const c of createReadStream(path, { start: 0, end: end - 1 })) h.update(c as Buffer);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the blob's lock (a file holding our pid); a lock left by a dead process is taken over. */
function lock(path: string, what: string): () => void {
  mkdirSync(dirname(path), { recursive: true });
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number(readFileSync(path, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
        throw new SlmError("IO", `another slm process (pid ${pid}) is downloading ${what}`, {
          hint: `wait for it to finish, or remove the lock file if that process is gone: ${path}`,
        });
      }
      rmSync(path, { force: true });
    }
  }
  throw new SlmError("IO", `cannot take the download lock ${path}`);
}

/**
 * Re-hashes a blob already in the cache against its etag (huggingface_hub
 * checks sizes only, so a blob it placed may never have been hashed). True
 * when it matches, or when the etag is not a hash we know.
 */
export async function verifyBlob(path: string, etag: string, size: number): Promise<boolean> {
  const h = newHash(etagKind(etag), size);
  if (!h) return true;
  await hashFile(h, path, size);
  return h.digest("hex") === etag;
}

/** Downloads one blob into place (see the file comment). Returns at once when the blob exists with the right size. */
export async function downloadBlob(o: DownloadOptions): Promise<DownloadResult> {
  const result: DownloadResult = { received: 0, resumedFrom: 0, requests: 0, corrupt: 0 };
  if (existsSync(o.blobPath) && statSync(o.blobPath).size === o.size) return result;
  const unlock = lock(o.lockPath, `${o.subject.file ?? "this file"} of ${o.subject.repoId}`);
  try {
    return await downloadLocked(o, result);
  } finally {
    unlock();
  }
}

async function downloadLocked(o: DownloadOptions, result: DownloadResult): Promise<DownloadResult> {
  const part = `${o.blobPath}.incomplete`;
  mkdirSync(dirname(o.blobPath), { recursive: true });
  const kind = etagKind(o.etag);
  const maxAttempts = o.maxAttempts ?? 5;
  const backoff = o.backoffMs ?? ((n: number) => Math.min(4000, 250 * 2 ** n));
  let failures = 0;
  let first = true;
  for (;;) {
    if (o.signal?.aborted) throw new CancelledError("download cancelled");
    let start = existsSync(part) ? statSync(part).size : 0;
    if (start > o.size) {
      rmSync(part, { force: true });
      start = 0;
    }
    if (first) result.resumedFrom = start;
    first = false;
    let hash = newHash(kind, o.size);
    await hashFile(hash, part, start);
    const fd = openSync(part, start > 0 ? "r+" : "w");
    let pos = start;
    try {
      if (start < o.size) {
        try {
          const res = await hubRequest({
            method: "GET",
            url: o.url,
            ...(o.token ? { token: o.token } : {}),
            headers: start > 0 ? { range: `bytes=${start}-` } : {},
            ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
            ...(o.signal ? { signal: o.signal } : {}),
          });
          await checkStatus(res, o.subject);
          result.requests++;
          if (res.status === 200 && start > 0) {
            // The server ignored the Range: start over.
            pos = 0;
            ftruncateSync(fd, 0);
            hash = newHash(kind, o.size);
          } else if (res.status === 206) {
            const m = /^bytes (\d+)-/.exec(String(res.headers["content-range"] ?? ""));
            if (!m || Number(m[1]) !== start) {
              res.body.destroy();
              throw new NetworkError(`${res.url}: asked for bytes ${start}- and got "${res.headers["content-range"] ?? "no Content-Range"}"`);
            }
          }
          for await (const chunk of res.body) {
            const c = chunk as Buffer;
            if (pos + c.length > o.size) {
              res.body.destroy();
              throw new FormatError(`${o.subject.file}: the server sent more than the expected ${o.size} bytes`);
            }
            writeSync(fd, c, 0, c.length, pos);
            pos += c.length;
            result.received += c.length;
            hash?.update(c);
            o.onProgress?.({ bytes: pos, size: o.size, received: result.received });
          }
          if (pos < o.size) throw new NetworkError(`connection closed after ${pos} of ${o.size} bytes`);
        } catch (e) {
          if (o.signal?.aborted) throw new CancelledError("download cancelled", { cause: e });
          const network = (e instanceof NetworkError && e.retry) || (!(e instanceof SlmError) && e instanceof Error);
          if (!network) throw e;
          // Count failures in a row without progress: a long download over a flaky link keeps going while it advances.
          if (pos > start) failures = 0;
          failures++;
          if (failures >= maxAttempts) {
            throw new NetworkError(`${o.subject.file}: download failed after ${failures} attempts: ${(e as Error).message}`, {
              cause: e,
              hint: `the ${pos} bytes received are kept in ${part}; run the pull again to resume`,
            });
          }
          const msg = (e as Error).message;
          o.onRetry?.(/ after \d+ of \d+ bytes/.test(msg) ? `${msg}; resuming` : `${msg} after ${pos} of ${o.size} bytes; resuming`, failures);
          await sleep(backoff(failures - 1));
          continue;
        }
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const digest = hash?.digest("hex");
    if (pos !== o.size || (digest !== undefined && digest !== o.etag)) {
      rmSync(part, { force: true });
      result.corrupt++;
      const what = pos !== o.size ? `${pos} bytes, expected ${o.size}` : `${kind} ${digest}, expected ${o.etag}`;
      if (result.corrupt >= 2)
        throw new FormatError(`${o.subject.file}: the downloaded bytes do not match the Hub's checksum twice (${what})`, {
          hint: "the server or a proxy is corrupting the file; nothing was placed in the cache",
        });
      o.onRetry?.(`checksum mismatch (${what}): downloading again`, result.corrupt);
      continue;
    }
    renameSync(part, o.blobPath);
    return result;
  }
}
