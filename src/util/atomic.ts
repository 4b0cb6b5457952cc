// Atomic file output: write to a temporary sibling, fsync, then rename over
// the target, so a crash or a bad input never leaves a half-written file
// where a good one was expected; and the same for whole directories. The
// ground floor: every layer may import this, and it imports nothing of ours.
// Knows nothing about file contents.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** A temporary path beside `path` (same directory, so rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
}

/**
 * Opens a temporary file beside `path`, lets `fill` write to its descriptor,
 * then fsyncs and renames it into place. On any error the temporary file is
 * removed and the error rethrown; `path` is untouched. The parent directory
 * must exist (see writeFileAtomicSync's `mkdir`).
 */
export function writeFileAtomic(path: string, fill: (fd: number) => void): void {
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, "w");
  try {
    fill(fd);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Writes all of `data` at the descriptor's current position. */
export function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

/**
 * Atomically writes a string (as UTF-8) or bytes to `path`. With `mkdir`,
 * creates the parent directory first.
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, opts: { mkdir?: boolean } = {}): void {
  if (opts.mkdir) mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, (fd) => writeAll(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data));
}

/**
 * Puts the finished directory `tmp` in place of `dir`: an existing `dir` is
 * moved aside first and removed after the swap, so at every moment `dir` is
 * either the old directory or the new one. `tmp` must be a sibling of `dir`.
 */
export function replaceDir(tmp: string, dir: string): void {
  const old = existsSync(dir) ? `${tmp}.old` : null;
  if (old) renameSync(dir, old);
  try {
    renameSync(tmp, dir);
  } catch (e) {
    if (old) renameSync(old, dir);
    throw e;
  }
  if (old) rmSync(old, { recursive: true, force: true });
}

/**
 * Builds a directory atomically: `fill` writes into a fresh temporary sibling
 * directory, which then replaces `dir` (replaceDir). On any error the
 * temporary directory is removed and the error rethrown; `dir` is untouched.
 */
export function writeDirAtomic(dir: string, fill: (tmp: string) => void): void {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = tempPathFor(dir);
  mkdirSync(tmp);
  try {
    fill(tmp);
    replaceDir(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
