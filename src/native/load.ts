// The only code that loads the native addon (build/Release/slm.node). When it
// is missing or fails to load, or SLM_NATIVE=0, the TypeScript reference
// backend is used instead and a process warning says so once. Everything else
// gets kernels through backend().
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import type { Backend } from "./backend.ts";
import { referenceBackend } from "./reference.ts";

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Where the addon is looked for, in order. */
export const addonPaths = [join(root, "build", "Release", "slm.node"), join(root, "build", "Debug", "slm.node")];

let native: Backend | null | undefined;
let nativeError: string | undefined;
let active: Backend | undefined;
let warned = false;

/** The native backend, or null when it cannot be loaded (see nativeLoadError()). */
export function nativeBackend(): Backend | null {
  if (native !== undefined) return native;
  if (process.env.SLM_NATIVE === "0") {
    nativeError = "disabled by SLM_NATIVE=0";
    native = null;
    return native;
  }
  for (const p of addonPaths) {
    if (!existsSync(p)) continue;
    try {
      const mod = require(p) as Omit<Backend, "name">;
      native = Object.assign(Object.create(null), mod, { name: "native" as const }) as Backend;
      return native;
    } catch (e) {
      nativeError = `failed to load ${p}: ${(e as Error).message}`;
      native = null;
      return native;
    }
  }
  nativeError = `not built (looked for ${addonPaths.join(", ")})`;
  native = null;
  return native;
}

/** Why the native backend is unavailable, or undefined when it loaded. */
export function nativeLoadError(): string | undefined {
  nativeBackend();
  return nativeError;
}

/** The backend kernels run on: native when available, else the reference (with a one-time warning). */
export function backend(): Backend {
  if (active) return active;
  const n = nativeBackend();
  if (n) {
    active = n;
  } else {
    active = referenceBackend;
    if (!warned && process.env.SLM_NATIVE !== "0") {
      warned = true;
      process.emitWarning(
        `slmkit native addon unavailable (${nativeError}); using the slow TypeScript reference kernels. Run \`npm rebuild slmkit\` or \`npm run build:native\`.`,
        { code: "SLM_NO_NATIVE" },
      );
    }
  }
  return active;
}

/** Makes `b` the backend for all kernels (tests use this to run one suite on each). */
export function setBackend(b: Backend): void {
  active = b;
}

/** Every backend available here: native (if it loads) then reference. */
export function availableBackends(): Backend[] {
  const n = nativeBackend();
  return n ? [n, referenceBackend] : [referenceBackend];
}
