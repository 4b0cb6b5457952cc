// A command file (src/cli/<command>.ts, one that defines a Command) imports no
// other command: flag tables and helpers that several commands share live in
// their own modules (command.ts, *-flags.ts, progress.ts, …) or in the
// library. Only the registry (commands.ts) imports the commands.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const cli = join(import.meta.dirname, "..", "src", "cli");

test("no src/cli command file imports another command", () => {
  const files = readdirSync(cli).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
  const text = new Map(files.map((f) => [f, readFileSync(join(cli, f), "utf8")]));
  const commands = new Set(files.filter((f) => f !== "commands.ts" && /^export const \w+: Command(\[\])? = /m.test(text.get(f)!)));
  assert.ok(commands.has("generate.ts") && commands.has("ask.ts") && commands.has("tokenizer.ts"), "the command files are found");
  const bad: string[] = [];
  for (const [f, src] of text) {
    if (f === "commands.ts") continue;
    for (const m of src.matchAll(/from "\.\/([\w-]+\.ts)"/g)) if (commands.has(m[1]!)) bad.push(`${f} imports ${m[1]}`);
  }
  assert.deepEqual(bad, [], "move the shared piece to a shared module (command.ts, a *-flags.ts) or the library");
});
