// Entry point of the `slm` binary: finds the subcommand, runs it, and turns
// errors into one-line messages and exit codes (0 ok, 1 failure, 2 usage).
// Stack traces only with --verbose.
import { isSlmError } from "../errors.ts";
import type { Command, CommandContext } from "./command.ts";
import { commands } from "./commands.ts";
import { pullModelArgs } from "./model-ref.ts";

function topHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    "slm: small language models on your CPU (slmkit)",
    "",
    "Usage: slm <command> [options]      slm <command> --help for details",
    "",
    "Commands:",
    ...lines,
    "",
    "Global options: --verbose (stack traces on errors), --help,",
    "  --pull (first download the org/name models named by --model, --base, … into the Hugging Face cache)",
  ].join("\n");
}

/** Longest command name that prefixes argv ("tokenizer train" before "tokenizer"). */
function findCommand(argv: string[]): { cmd: Command; rest: string[] } | undefined {
  let best: { cmd: Command; rest: string[] } | undefined;
  for (const cmd of commands) {
    const words = cmd.name.split(" ");
    if (words.every((w, i) => argv[i] === w) && (!best || words.length > best.cmd.name.split(" ").length)) {
      best = { cmd, rest: argv.slice(words.length) };
    }
  }
  return best;
}

export async function main(argv: string[], ctx?: Partial<CommandContext>): Promise<number> {
  const verbose = argv.includes("--verbose");
  // --pull: pull the org/name models the command names before it runs (model-ref.ts).
  const pull = argv.includes("--pull") && argv[0] !== "pull";
  argv = argv.filter((a) => a !== "--verbose" && (a !== "--pull" || !pull));
  const c: CommandContext = {
    out: ctx?.out ?? ((s) => process.stdout.write(s.endsWith("\n") ? s : `${s}\n`)),
    err: ctx?.err ?? ((s) => process.stderr.write(s.endsWith("\n") ? s : `${s}\n`)),
    tty: ctx?.tty ?? Boolean(process.stderr.isTTY),
    verbose,
    write: ctx?.write ?? ((s) => void process.stdout.write(s)),
    input: ctx?.input ?? process.stdin,
    inputTty: ctx?.inputTty ?? (ctx?.input ? false : Boolean(process.stdin.isTTY)),
  };
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    c.out(topHelp());
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === "--version") {
    c.out("slmkit 0.1.0");
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    // A group word alone ("slm tokenizer") lists its subcommands.
    const group = commands.filter((cmd) => cmd.name.startsWith(`${argv[0]} `));
    if (group.length > 0) {
      c.err(`slm ${argv[0]}: choose a subcommand:\n${group.map((g) => `  ${g.name}  ${g.summary}`).join("\n")}`);
      return 2;
    }
    c.err(`slm: unknown command "${argv[0]}". Run \`slm --help\` for the list.`);
    return 2;
  }
  if (found.rest.includes("--help") || found.rest.includes("-h")) {
    c.out(found.cmd.help);
    return 0;
  }
  try {
    if (pull) await pullModelArgs(found.cmd.name, found.rest, c);
    return await found.cmd.run(found.rest, c);
  } catch (e) {
    if (isSlmError(e)) {
      c.err(`slm ${found.cmd.name}: ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ""}`);
      if (verbose && e.stack) c.err(e.stack);
      return e.code === "USAGE" ? 2 : 1;
    }
    const err = e as Error;
    c.err(`slm ${found.cmd.name}: ${err?.message ?? String(e)}`);
    if (verbose && err?.stack) c.err(err.stack);
    return 1;
  }
}
