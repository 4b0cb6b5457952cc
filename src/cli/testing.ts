// Test helper for the CLI: runs `slm ARGV` in-process through main() with
// everything it prints captured, so command tests read stdout and stderr as
// strings. Used by tests only; knows nothing about any command.
import { Readable } from "node:stream";

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
