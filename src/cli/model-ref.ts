// `--pull` on any command that takes a model: before the command runs, every
// model argument that is a Hub reference (org/name[:revision][/file]) and not
// a local path is pulled into the cache, with progress on stderr. The command
// itself then loads it from the cache (loadModel resolves references; see
// src/formats/hub/cache.ts). Without --pull nothing here runs and nothing is
// downloaded. Knows which flags name models; nothing about the commands.
import { existsSync } from "node:fs";

import { SlmError } from "../errors.ts";
import { hubSettings, parseRepoRef, resolveCachedModel } from "../formats/hub/cache.ts";
import { pullModel } from "../formats/hub/pull.ts";
import type { CommandContext } from "./command.ts";
import { pullReporter, pullSummary } from "./pull-progress.ts";

/** Flags whose value is a model (a path, or a Hub reference read from the cache). */
const MODEL_FLAGS = ["model", "base", "teacher", "student", "init-from", "embed-model"];
/** Commands whose first positional argument is a model. */
const MODEL_POSITIONAL_COMMANDS = ["export", "import"];

/** Flags of the positional commands whose value is not the model (an output path, a name). */
const NOT_MODEL_FLAGS = ["out", "tokenizer", "name", "format", "dtype"];

/**
 * The Hub references among a command's model arguments: values of MODEL_FLAGS,
 * and for MODEL_POSITIONAL_COMMANDS the bare arguments that are not the value
 * of an output flag. A local path that exists is never a reference.
 */
export function modelRefsInArgs(command: string, argv: string[]): string[] {
  const out: string[] = [];
  const positional = MODEL_POSITIONAL_COMMANDS.includes(command);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    let value: string | undefined;
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      if (MODEL_FLAGS.includes(name)) value = eq < 0 ? argv[++i] : a.slice(eq + 1);
      else if (eq < 0 && NOT_MODEL_FLAGS.includes(name)) i++;
    } else if (positional) value = a;
    if (value !== undefined && !existsSync(value) && parseRepoRef(value)) out.push(value);
  }
  return [...new Set(out)];
}

/** Pulls every Hub reference among the model arguments (for `--pull`). Returns how many were pulled. */
export async function pullModelArgs(command: string, argv: string[], ctx: CommandContext): Promise<number> {
  const refs = modelRefsInArgs(command, argv);
  if (refs.length === 0) {
    ctx.err(`slm ${command}: --pull: no org/name model among the arguments (${MODEL_FLAGS.map((f) => `--${f}`).join(", ")}); nothing to pull`);
    return 0;
  }
  const settings = hubSettings();
  for (const ref of refs) {
    const rep = pullReporter(ctx);
    const t0 = performance.now();
    try {
      const r = await pullModel(ref, { settings, onEvent: rep.onEvent });
      rep.clear();
      ctx.err(pullSummary(r, (performance.now() - t0) / 1000));
    } catch (e) {
      // No network but the model is cached: carry on with the cached snapshot, as transformers does.
      if (!(e instanceof SlmError && e.code === "IO")) throw e;
      let cached: string | undefined;
      try {
        cached = resolveCachedModel(ref, settings)?.path;
      } catch {
        // not cached either: report the network error
      }
      if (!cached) throw e;
      rep.clear();
      ctx.err(`slm ${command}: --pull: ${e.message}; using the cached ${ref} (${cached})`);
    } finally {
      rep.clear();
    }
  }
  return refs.length;
}
