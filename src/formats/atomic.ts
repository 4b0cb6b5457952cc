// Atomic file output: write to a temporary sibling, fsync, then rename over
// the target, so a crash or a bad input never leaves a half-written file
// where a good one was expected. Knows nothing about file contents.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** A temporary path beside `path` (same directory, so rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
}

/**
 * Opens a temporary file beside `path`, lets `fill` write to its descriptor,
 * then fsyncs and renames it into place. On any error the temporary file is
 * removed and the error rethrown; `path` is untouched.
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

/**
 * Builds a directory atomically: `fill` writes into a fresh temporary sibling
 * directory, which then replaces `dir` (an existing one is moved aside first
 * and removed after the swap). On any error the temporary directory is removed
 * and the error rethrown; `dir` is untouched.
 */
export function writeDirAtomic(dir: string, fill: (tmp: string) => void): void {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = tempPathFor(dir);
  mkdirSync(tmp);
  try {
    fill(tmp);
    const old = existsSync(dir) ? `${tmp}.old` : null;
    if (old) renameSync(dir, old);
    renameSync(tmp, dir);
    if (old) rmSync(old, { recursive: true, force: true });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Writes all of `data` at the descriptor's current position. */
export function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

/** Atomically writes a string or bytes. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  writeFileAtomic(path, (fd) => writeAll(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data));
}
