// The registry of CLI commands: one import and one entry per command file.
import { askCommand } from "./ask.ts";
import { benchKernelsCommand } from "./bench.ts";
import { benchGenerateCommand } from "./bench-generate.ts";
import { benchTrainCommand } from "./bench-train.ts";
import { chatCommand } from "./chat.ts";
import type { Command } from "./command.ts";
import { demoCommand } from "./demo.ts";
import { distillCommand } from "./distill.ts";
import { evalCommand } from "./eval.ts";
import { evalCompareCommand } from "./eval-compare.ts";
import { evalQaCommand } from "./eval-qa.ts";
import { exportCommand } from "./export.ts";
import { finetuneCommand } from "./finetune.ts";
import { generateCommand } from "./generate.ts";
import { importCommand } from "./import.ts";
import { indexCommand } from "./index-cmd.ts";
import { ingestCommand } from "./ingest.ts";
import { serveCommand } from "./serve.ts";
import { mergeCommand } from "./merge.ts";
import { modelsCommand } from "./models.ts";
import { pullCommand } from "./pull.ts";
import { tokenizerCommands } from "./tokenizer.ts";
import { trainCommand } from "./train.ts";
import { trainReaderCommand } from "./train-reader.ts";

export const commands: Command[] = [
  demoCommand,
  ingestCommand,
  ...tokenizerCommands,
  trainCommand,
  distillCommand,
  finetuneCommand,
  mergeCommand,
  evalCommand,
  evalQaCommand,
  evalCompareCommand,
  generateCommand,
  chatCommand,
  indexCommand,
  trainReaderCommand,
  askCommand,
  pullCommand,
  modelsCommand,
  importCommand,
  exportCommand,
  serveCommand,
  benchKernelsCommand,
  benchTrainCommand,
  benchGenerateCommand,
];
