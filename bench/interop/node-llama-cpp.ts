// Where the interop benchmarks find node-llama-cpp: it is NOT a dependency of
// slmkit. SLM_NODE_LLAMA_CPP names a directory whose node_modules holds it
// (e.g. /work/interop, or bench/interop itself after `npm install` there; see
// bench/interop/llamacpp.ts). Returns the module, or null when it is not there.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export async function loadNodeLlamaCpp(fallbackRoot?: string): Promise<any | null> {
  const root = process.env.SLM_NODE_LLAMA_CPP ?? fallbackRoot;
  if (!root) return null;
  const pkgDir = join(root, "node_modules", "node-llama-cpp");
  if (!existsSync(join(pkgDir, "package.json"))) return null;
  const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
  return import(pathToFileURL(join(pkgDir, pkg.exports?.["."]?.import ?? pkg.main ?? "dist/index.js")).href);
}
