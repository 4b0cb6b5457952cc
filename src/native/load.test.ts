// The loader's switches, in fresh processes: SLM_NATIVE=0 runs every kernel on
// the TypeScript reference; SLM_SIMD narrows the instruction set; SLM_THREADS
// sizes the pool. And the addon's presence: every "native vs reference" kernel
// suite quietly runs on the reference alone when the addon does not load, so a
// missing addon fails here unless the run opted out (docs/kernels.md, "Testing
// without the addon"): SLM_NATIVE=0 (the reference was asked for) or
// SLM_ALLOW_NO_NATIVE=1 (a machine that cannot build it).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

import type { Isa } from "./backend.ts";
import { nativeBackend, nativeLoadError } from "./load.ts";

const probe = `
import { backend } from ${JSON.stringify(join(import.meta.dirname, "load.ts"))};
import { matmul } from ${JSON.stringify(join(import.meta.dirname, "ops", "gemm.ts"))};
const c = new Float32Array(4);
matmul(new Float32Array([1, 2, 3, 4]), new Float32Array([1, 0, 0, 1]), c, 2, 2, 2);
const b = backend();
console.log(JSON.stringify({ name: b.name, isa: b.getIsa(), threads: b.getThreads(), c: Array.from(c) }));
`;

const probeIsa = `
import { nativeBackend } from ${JSON.stringify(join(import.meta.dirname, "load.ts"))};
const b = nativeBackend();
const out = { best: b.bestIsa(), start: b.getIsa(), avx512: b.setIsa("avx512"), after: b.getIsa() };
console.log(JSON.stringify(out));
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

/** Why this run may go without the addon, or null when the addon is expected. */
function optOut(): string | null {
  if (process.env.SLM_NATIVE === "0") return "SLM_NATIVE=0 asks for the reference kernels";
  if (process.env.SLM_ALLOW_NO_NATIVE === "1" && !nativeBackend()) return `SLM_ALLOW_NO_NATIVE=1: running without the native addon (${nativeLoadError()})`;
  return null;
}

test("the native addon loads (unset SLM_ALLOW_NO_NATIVE=1 only on a machine that cannot build it)", { skip: optOut() ?? false }, () => {
  assert.ok(
    nativeBackend(),
    `the native addon did not load (${nativeLoadError()}), so every kernel suite would run on the TypeScript reference alone. ` +
      "Build it (npm run build:native), or set SLM_ALLOW_NO_NATIVE=1 on a machine without a C++ compiler (docs/kernels.md).",
  );
  assert.equal(nativeBackend()!.name, "native");
});

const ISAS: Isa[] = ["scalar", "avx2", "avx512"];

test("setIsa switches to every instruction set up to bestIsa (getIsa says so) and refuses unknown ones", {
  skip: nativeBackend() ? false : "the native addon is not built",
}, () => {
  const b = nativeBackend()!;
  const start = b.getIsa(),
    best = b.bestIsa();
  assert.ok(ISAS.includes(best), `bestIsa() = ${best}`);
  try {
    for (const isa of ISAS.slice(0, ISAS.indexOf(best) + 1)) {
      assert.equal(b.setIsa(isa), true, `setIsa("${isa}") with bestIsa ${best}`);
      assert.equal(b.getIsa(), isa);
    }
    for (const isa of ISAS.slice(ISAS.indexOf(best) + 1)) {
      assert.equal(b.setIsa(isa), false, `setIsa("${isa}") above bestIsa ${best} must be refused`);
      assert.equal(b.getIsa(), best, "a refused setIsa leaves the instruction set alone");
    }
    b.setIsa("avx2");
    assert.throws(() => b.setIsa("neon" as Isa), /expected scalar, avx2 or avx512, got neon/);
    assert.equal(b.getIsa(), "avx2", "an unknown name leaves the instruction set alone");
  } finally {
    b.setIsa(start);
  }
});

test("SLM_SIMD caps the process: setIsa above it is refused and changes nothing", { skip: nativeBackend() ? false : "the native addon is not built" }, () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", probeIsa], {
    env: { ...process.env, SLM_SIMD: "avx2" },
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout.trim().split("\n").pop()!) as { best: Isa; start: Isa; avx512: boolean; after: Isa };
  if (nativeBackend()!.bestIsa() === "scalar") {
    // A CPU without AVX2: SLM_SIMD=avx2 cannot raise it.
    assert.deepEqual(o, { best: "scalar", start: "scalar", avx512: false, after: "scalar" });
    return;
  }
  assert.deepEqual(o, { best: "avx2", start: "avx2", avx512: false, after: "avx2" });
});
