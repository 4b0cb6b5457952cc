// Export parity with PyTorch: test/fixtures/export/<name>/ holds an HF model
// directory that slmkit wrote (tools/reference/export_fixtures.ts) and the
// logits the plain PyTorch models of tools/reference/models.py computed after
// loading that directory (torch-logits.safetensors, by check_hf_export.py).
// Loading each directory with loadModel must reproduce PyTorch's logits, so the
// committed fixture proves PyTorch reads our export as we do; the same model
// through GGUF f32 must too (llama, qwen2, qwen3, gemma3, llama3 / yarn RoPE).
// No Python runs here.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { exportModel } from "../../src/formats/convert.ts";
import { loadModel } from "../../src/formats/hf-dir.ts";
import { SafetensorsFile } from "../../src/formats/safetensors.ts";
import { forEachBackend, using } from "../../src/native/testing.ts";
import { Tape } from "../../src/tensor/index.ts";

const root = join(import.meta.dirname, "..", "fixtures", "export");
const LOGITS_ATOL = 1e-4;
const tmp = mkdtempSync(join(tmpdir(), "slm-export-parity-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function read(path: string, name: string): Float32Array {
  const f = SafetensorsFile.open(path);
  try {
    return f.readFloat32(name).data;
  } finally {
    f.close();
  }
}

for (const name of ["llama-gqa", "qwen2-tied", "gpt2", "qwen3", "gemma3", "llama-rope-llama3", "llama-rope-yarn"]) {
  forEachBackend(`export parity ${name}`, (c) => {
    test("PyTorch's logits from our exported HF directory match ours", () =>
      using(c, () => {
        const dir = join(root, name);
        const { ids } = JSON.parse(readFileSync(join(dir, "inputs.json"), "utf8")) as { ids: number[][] };
        const B = ids.length,
          T = ids[0]!.length;
        const flat = Int32Array.from(ids.flat());
        const torch = read(join(dir, "torch-logits.safetensors"), "logits");
        const m = loadModel(dir);
        assert.equal(m.source.format, "hf");
        const logits = m.model.forward(new Tape({ grad: false }), flat, B, T).data;
        const d = maxAbsDiff(logits, torch);
        assert.ok(d <= LOGITS_ATOL, `max |ours − torch| = ${d.toExponential(2)} > ${LOGITS_ATOL}`);
        // The logits are not trivially close: their spread dwarfs the tolerance.
        assert.ok(Math.max(...torch) - Math.min(...torch) > 1e4 * LOGITS_ATOL);
        // The logits we recorded at export time agree too (what check_hf_export.py checked).
        assert.ok(maxAbsDiff(read(join(dir, "logits.safetensors"), "logits"), torch) <= LOGITS_ATOL);
        if (m.config.modelType === "gpt2") return;
        const gguf = join(tmp, `${name}-${c.label.replace(/\W+/g, "_")}.gguf`);
        exportModel(m, gguf, { format: "gguf", dtype: "f32" });
        const g = loadModel(gguf).model.forward(new Tape({ grad: false }), flat, B, T).data;
        // Gemma's norms go through llama.cpp's 1 + w and back: equal to float32 rounding.
        if (m.config.modelType === "gemma3_text") assert.ok(maxAbsDiff(g, logits) < 1e-5, "GGUF f32 gives the same logits");
        else assert.deepEqual(g, logits, "GGUF f32 gives the same logits");
      }));
  });
}
