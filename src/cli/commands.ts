// The registry of CLI commands: one import and one entry per command file.
import { benchGenerateCommand } from "./bench-generate.ts";
import { chatCommand } from "./chat.ts";
import type { Command } from "./command.ts";
import { generateCommand } from "./generate.ts";
import { ingestCommand } from "./ingest.ts";
import { tokenizerCommands } from "./tokenizer.ts";

export const commands: Command[] = [ingestCommand, ...tokenizerCommands, generateCommand, chatCommand, benchGenerateCommand];
