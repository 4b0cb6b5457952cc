// Worker entry for inference-worker.ts: registers tsx so the TypeScript module
// loads in this thread (workers do not inherit a programmatic registration).
import { register } from "tsx/esm/api";

register();
await import("./inference-worker.ts");
