// Expands input paths and globs into a sorted list of files: directories are
// walked recursively (hidden entries skipped), symlinks followed with the real
// paths of visited directories tracked so loops end, the same file reached
// twice is read once, and every problem becomes a skip entry with a reason.
// Globs: *, ?, ** (any depth), [abc], {a,b}. Knows nothing about formats'
// contents, only their extensions.
import { lstat, readdir, realpath, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

import { formatOf, type Format } from "./readers.ts";

export interface FoundFile {
  /** Absolute path. */
  path: string;
  /**
   * Provenance label, with "/" separators: the path relative to cwd; for a file outside cwd, the
   * path relative to the folder holding the input it was found through ("playbook/leave.md" for
   * `slm ingest /elsewhere/playbook`), not a chain of "../".
   */
  source: string;
  size: number;
  mtimeMs: number;
  format: Format;
}

export interface WalkSkip {
  source: string;
  reason: string;
}

export interface WalkResult {
  files: FoundFile[];
  skipped: WalkSkip[];
}

const GLOB_CHARS = /[*?[{]/;

/** Glob pattern (relative, "/" separators) to a RegExp over relative paths. */
export function globToRegExp(pattern: string): RegExp {
  let re = "";
  let i = 0;
  let braces = 0;
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i += 2;
        if (pattern[i] === "/") {
          i++;
          re += "(?:.*/)?";
        } else re += ".*";
        continue;
      }
      re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const j = pattern.indexOf("]", i + 1);
      if (j < 0) re += "\\[";
      else {
        re +=
          "[" +
          pattern
            .slice(i + 1, j)
            .replace(/^!/, "^")
            .replace(/\\/g, "\\\\") +
          "]";
        i = j;
      }
    } else if (c === "{") {
      braces++;
      re += "(?:";
    } else if (c === "}" && braces > 0) {
      braces--;
      re += ")";
    } else if (c === "," && braces > 0) re += "|";
    else re += c.replace(/[.+^$()|\\]/g, "\\$&");
    i++;
  }
  return new RegExp(`^${re}$`);
}

export interface WalkOptions {
  cwd: string;
  /** Absolute paths never to enter (the output dataset, the cache). */
  exclude?: string[];
}

/**
 * The label of `abs`: relative to cwd when inside it; else relative to `root` (the folder holding
 * the input), which users read as the document's place in its collection; else the absolute path.
 */
function toSource(cwd: string, abs: string, root?: string): string {
  let r = relative(cwd, abs);
  if (root !== undefined && (r === ".." || r.startsWith(`..${sep}`))) {
    const rr = relative(root, abs);
    if (rr !== "" && rr !== ".." && !rr.startsWith(`..${sep}`) && !isAbsolute(rr)) r = rr;
  }
  return (r === "" ? "." : isAbsolute(r) ? abs : r).split(sep).join("/");
}

export async function findFiles(inputs: string[], o: WalkOptions): Promise<WalkResult> {
  const files: FoundFile[] = [];
  const skipped: WalkSkip[] = [];
  const seenDirs = new Set<string>();
  const seenFiles = new Map<string, string>(); // real path -> source that claimed it
  const exclude = new Set((o.exclude ?? []).map((p) => resolve(o.cwd, p)));

  const addFile = async (abs: string, explicit: boolean, root: string) => {
    const source = toSource(o.cwd, abs, root);
    const format = formatOf(abs);
    if (!format) {
      if (explicit) skipped.push({ source, reason: "unsupported format (by extension)" });
      return;
    }
    try {
      const st = await stat(abs);
      const real = await realpath(abs);
      const prev = seenFiles.get(real);
      if (prev !== undefined) {
        skipped.push({ source, reason: `same file as ${prev}` });
        return;
      }
      seenFiles.set(real, source);
      files.push({ path: abs, source, size: st.size, mtimeMs: st.mtimeMs, format });
    } catch (e) {
      skipped.push({ source, reason: `cannot stat: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
    }
  };

  const walkDir = async (dir: string, match: RegExp | null, base: string, root: string) => {
    let real: string;
    try {
      real = await realpath(dir);
    } catch (e) {
      skipped.push({ source: toSource(o.cwd, dir, root), reason: `cannot resolve: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      return;
    }
    if (seenDirs.has(real)) {
      skipped.push({ source: toSource(o.cwd, dir, root), reason: "directory already visited (symlink loop or duplicate input)" });
      return;
    }
    seenDirs.add(real);
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (e) {
      skipped.push({ source: toSource(o.cwd, dir, root), reason: `cannot list directory: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      return;
    }
    for (const name of names) {
      if (name.startsWith(".")) continue;
      const p = join(dir, name);
      if (exclude.has(p)) continue;
      let st;
      try {
        st = await lstat(p);
        if (st.isSymbolicLink()) st = await stat(p);
      } catch (e) {
        skipped.push({ source: toSource(o.cwd, p, root), reason: `broken or unreadable link: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
        continue;
      }
      if (st.isDirectory()) await walkDir(p, match, base, root);
      else if (st.isFile()) {
        if (match && !match.test(relative(base, p).split(sep).join("/"))) continue;
        await addFile(p, false, root);
      }
    }
  };

  for (const input of inputs) {
    seenDirs.clear(); // per input: loops are caught within a walk, repeated files by seenFiles
    if (GLOB_CHARS.test(input)) {
      const parts = input.split(/[\\/]/);
      const k = parts.findIndex((s) => GLOB_CHARS.test(s));
      const base = resolve(o.cwd, parts.slice(0, k).join("/") || ".");
      await walkDir(base, globToRegExp(parts.slice(k).join("/")), base, dirname(base));
      continue;
    }
    const abs = resolve(o.cwd, input);
    let st;
    try {
      st = await stat(abs);
    } catch (e) {
      skipped.push({ source: toSource(o.cwd, abs), reason: `not found or unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      continue;
    }
    if (st.isDirectory()) await walkDir(abs, null, abs, dirname(abs));
    else await addFile(abs, true, dirname(abs));
  }
  files.sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  return { files, skipped };
}
