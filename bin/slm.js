#!/usr/bin/env node
// The `slm` command. slmkit ships TypeScript sources; tsx compiles them on
// load, so there is no separate build step to forget after an edit.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
