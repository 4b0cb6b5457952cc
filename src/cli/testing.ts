// Test helper for the CLI: runs `slm ARGV` in-process through main() with
// everything it prints captured, so command tests read stdout and stderr as
// strings; and a small word corpus for the commands that train. Used by tests
// only; knows nothing about any command.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";

import { Rng } from "../util/rng.ts";
import { main } from "./main.ts";

export interface CliRun {
  /** The exit code. */
  code: number;
  /** Lines printed with ctx.out (stdout), each ending in a newline. */
  out: string;
  /** Lines printed with ctx.err (stderr), each ending in a newline. */
  err: string;
  /** Raw streamed text (ctx.write), unless streamToOut put it into `out`. */
  stream: string;
}

/** Runs `slm ARGV` (not a TTY); `input` lines become its stdin; `streamToOut` appends streamed text to `out`. */
export async function runCli(argv: string[], opts: { input?: string[]; streamToOut?: boolean } = {}): Promise<CliRun> {
  let out = "";
  let err = "";
  let stream = "";
  const code = await main(argv, {
    out: (s) => (out += `${s}\n`),
    err: (s) => (err += `${s}\n`),
    write: opts.streamToOut ? (s) => (out += s) : (s) => (stream += s),
    tty: false,
    ...(opts.input ? { input: Readable.from(opts.input) } : {}),
  });
  return { code, out, err, stream };
}

/** The words of writeWordCorpus. */
export const CORPUS_WORDS = [
  "leave",
  "request",
  "manager",
  "annual",
  "sick",
  "days",
  "policy",
  "travel",
  "expense",
  "receipt",
  "approve",
  "submit",
  "the",
  "a",
  "your",
  "before",
  "after",
  "within",
];

/** A small handbook-like corpus in `dir`: `files` Markdown pages (page-N.md) of `paragraphs` paragraphs of 40 seeded random words. */
export function writeWordCorpus(dir: string, files: number, paragraphs: number, seed = 5): void {
  mkdirSync(dir, { recursive: true });
  const r = new Rng(seed);
  for (let f = 0; f < files; f++) {
    let text = `# Topic ${f}\n\n`;
    for (let p = 0; p < paragraphs; p++) text += `${Array.from({ length: 40 }, () => CORPUS_WORDS[r.int(CORPUS_WORDS.length)]).join(" ")}.\n\n`;
    writeFileSync(join(dir, `page-${f}.md`), text);
  }
}
