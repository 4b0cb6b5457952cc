// The registry of CLI commands: one import and one entry per command file.
import { benchKernelsCommand } from "./bench.ts";
import type { Command } from "./command.ts";

export const commands: Command[] = [benchKernelsCommand];
