// The loader's switches, in fresh processes: SLM_NATIVE=0 runs every kernel on
// the TypeScript reference; SLM_SIMD narrows the instruction set; SLM_THREADS
// sizes the pool.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

import { nativeBackend } from "./load.ts";

const probe = `
import { backend } from ${JSON.stringify(join(import.meta.dirname, "load.ts"))};
import { matmul } from ${JSON.stringify(join(import.meta.dirname, "ops", "gemm.ts"))};
const c = new Float32Array(4);
matmul(new Float32Array([1, 2, 3, 4]), new Float32Array([1, 0, 0, 1]), c, 2, 2, 2);
const b = backend();
console.log(JSON.stringify({ name: b.name, isa: b.getIsa(), threads: b.getThreads(), c: Array.from(c) }));
`;

function run(env: Record<string, string>): { name: string; isa: string; threads: number; c: number[]; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", probe], { env: { ...process.env, ...env }, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return { ...JSON.parse(r.stdout.trim().split("\n").pop()!), stderr: r.stderr };
}

test("SLM_NATIVE=0 runs on the reference kernels, silently (it was asked for)", () => {
  const r = run({ SLM_NATIVE: "0" });
  assert.equal(r.name, "reference");
  assert.deepEqual(r.c, [1, 2, 3, 4]);
  assert.doesNotMatch(r.stderr, /SLM_NO_NATIVE/);
});

test("SLM_SIMD=scalar and SLM_THREADS=1 are honoured by the addon", { skip: nativeBackend() ? false : "the native addon is not built" }, () => {
  const r = run({ SLM_SIMD: "scalar", SLM_THREADS: "1" });
  assert.equal(r.name, "native");
  assert.equal(r.isa, "scalar");
  assert.equal(r.threads, 1);
  assert.deepEqual(r.c, [1, 2, 3, 4]);
  const d = run({ SLM_THREADS: "3" });
  assert.equal(d.threads, 3);
  assert.equal(d.isa, nativeBackend()!.bestIsa());
});
