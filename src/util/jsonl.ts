// JSON Lines reading: one JSON value a line, blank lines skipped, and every
// error names the file and the 1-based line ("data.jsonl:7: …"). Callers
// pass a function that checks one value and turns it into a record; it gets
// the "file:line" label to put in its own errors. Knows nothing about what
// the records mean. Imports only errors.ts.
import { readFileSync } from "node:fs";

import { FormatError, NotFoundError } from "../errors.ts";

/** Where a value came from: `at` is "name:line", `line` is 1-based. */
export interface JsonlPlace {
  at: string;
  line: number;
}

export interface JsonlOptions {
  /** Shown with the error for a line that is not valid JSON (e.g. an example line). */
  hint?: string;
  /** "skip" ignores lines that are not valid JSON (a torn last line of a running job) instead of throwing. */
  invalid?: "throw" | "skip";
  /** With invalid: "skip", called for each skipped line (to count them). */
  onInvalid?: (place: JsonlPlace) => void;
}

/**
 * Parses JSONL text. `each` turns a parsed value into a record (or
 * undefined to drop it) and may throw an error naming `place.at`; `name`
 * labels errors (a file path, or e.g. "request body").
 */
export function parseJsonl<T>(text: string, name: string, each: (value: unknown, place: JsonlPlace) => T | undefined, opts: JsonlOptions = {}): T[] {
  const out: T[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === "") continue;
    const place = { at: `${name}:${i + 1}`, line: i + 1 };
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      if (opts.invalid === "skip") {
        opts.onInvalid?.(place);
        continue;
      }
      throw new FormatError(`${place.at}: not valid JSON (${(e as Error).message})`, opts.hint === undefined ? undefined : { hint: opts.hint });
    }
    const r = each(v, place);
    if (r !== undefined) out.push(r);
  }
  return out;
}

/** Reads a JSONL file with parseJsonl; a file that cannot be read is a NotFoundError naming it. */
export function readJsonl<T>(path: string, each: (value: unknown, place: JsonlPlace) => T | undefined, opts: JsonlOptions = {}): T[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new NotFoundError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseJsonl(text, path, each, opts);
}
