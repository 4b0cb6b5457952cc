// --json-schema FILE, shared by `slm generate` and `slm ask`: the file read
// and parsed, with a UsageError that names the flag and the file. Compiling
// the schema is the library's (src/infer/json-schema/).
import { readFileSync } from "node:fs";

import { UsageError } from "../errors.ts";

/** A JSON Schema file, parsed; UsageError naming the file when it cannot be read or is not JSON. */
export function readSchemaFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`--json-schema: cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--json-schema: ${path} is not valid JSON: ${(e as Error).message}`);
  }
}
