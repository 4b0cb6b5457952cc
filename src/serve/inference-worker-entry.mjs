// Worker entry for inference-worker.ts. From the sources (development, tests)
// it registers tsx so the TypeScript module loads in this thread (workers do
// not inherit a programmatic registration); from the built package (dist/,
// where this file is copied as it is) it imports the compiled module.
import { existsSync } from "node:fs";

const source = new URL("./inference-worker.ts", import.meta.url);
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(source.href);
} else {
  await import("./inference-worker.js");
}
