// What a CLI command is: a name, help text with an example, and a run function
// over parsed arguments. Commands are thin: they parse flags, call the
// library, and print. Exit codes: 0 success, 1 failure, 2 usage error.
import { parseArgs, type ParseArgsConfig } from "node:util";

import { UsageError } from "../errors.ts";

export interface CommandContext {
  /** Standard output / error writers (tests capture them). */
  out: (s: string) => void;
  err: (s: string) => void;
  /** True when stderr is a terminal (progress bars) . */
  tty: boolean;
  verbose: boolean;
  /** Raw standard output, no newline added (streamed text). Default: process.stdout.write. */
  write?: (s: string) => void;
  /** Standard input (interactive commands read lines from it). Default: process.stdin. */
  input?: NodeJS.ReadableStream;
  /** True when input is an interactive terminal (prompts are shown). Default: process.stdin.isTTY. */
  inputTty?: boolean;
}

export interface Command {
  /** The words after `slm`, e.g. "bench" or "tokenizer train". */
  name: string;
  /** One line for `slm --help`. */
  summary: string;
  /** Full help: usage line, options, at least one example. */
  help: string;
  run(argv: string[], ctx: CommandContext): Promise<number>;
}

export type Options = NonNullable<ParseArgsConfig["options"]>;

/** What parse() returns: parseArgs's result for these options (named, so declarations can be emitted). */
export type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>>;

/** node:util parseArgs with strict checking, turned into UsageErrors. */
export function parse<O extends Options>(argv: string[], options: O, allowPositionals = true): Parsed<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ""));
  }
}

/** Parses a positive integer flag value, with a usage error naming the flag. */
export function intFlag(name: string, v: string | undefined, def: number, min = 1): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}

/**
 * A number flag (undefined when absent) within [min, max], with a usage error naming the flag;
 * `open` excludes a bound ("min": above min, e.g. a learning rate > 0; "max": below max).
 * The one number parser of the CLI: intFlag for integers with a default.
 */
export function numFlag(name: string, v: string | undefined, min = -Infinity, max = Infinity, open?: "min" | "max"): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  const inside = open === "min" ? n > min : n >= min;
  const below = open === "max" ? n < max : n <= max;
  if (v.trim() === "" || !Number.isFinite(n) || !inside || !below) {
    const lo = Number.isFinite(min),
      hi = Number.isFinite(max);
    const range =
      lo && hi
        ? ` in ${open === "min" ? "(" : "["}${min}, ${max}${open === "max" ? ")" : "]"}`
        : lo
          ? ` ${open === "min" ? ">" : ">="} ${min}`
          : hi
            ? ` ${open === "max" ? "<" : "<="} ${max}`
            : "";
    throw new UsageError(`--${name} must be a number${range}, got "${v}"`);
  }
  return n;
}
