// Positioned reads for the format readers: open a file with a FormatError
// that names it, and read an exact byte range or fail with "truncated".
// Knows nothing about any format.
import { openSync, readSync } from "node:fs";

import { FormatError } from "../errors.ts";

/** Opens `path` for reading; a missing or unreadable file is a FormatError naming the errno. */
export function openForRead(path: string): number {
  try {
    return openSync(path, "r");
  } catch (e) {
    throw new FormatError(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Fills buf from byte `position` of the file; end of file first is a FormatError. */
export function readExactly(fd: number, buf: Uint8Array, position: number, path: string): void {
  let off = 0;
  while (off < buf.length) {
    const n = readSync(fd, buf, off, buf.length - off, position + off);
    if (n === 0) throw new FormatError(`${path}: unexpected end of file at byte ${position + off}`, { hint: "the file is truncated" });
    off += n;
  }
}
