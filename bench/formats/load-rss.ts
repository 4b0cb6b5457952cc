// Peak memory of loading a model: writes a ~480 MB float32 HF checkpoint of a
// synthetic Llama (d 768, 12 layers, ffn 3072, vocab 8192, tied: ~120M
// parameters) to a temp directory, then loads it in fresh child processes and
// reports each one's peak RSS (process.resourceUsage().maxRSS) against the
// checkpoint's size. Trials:
//   baseline   node + tsx + our modules imported, nothing loaded
//   loadModel  loadModel(dir): F32 tensors read straight into the parameters
//   copy       the older path: createModel (random init), then each tensor read
//              into a temporary and copied into its parameter
// Target: loadModel's peak RSS < 1.3 × the file size.
//
//   node --import tsx bench/formats/load-rss.ts [--keep DIR]
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { loadModel, saveModelDir } from "../../src/formats/hf-dir.ts";
import { loadHfTensors } from "../../src/formats/hf-weights.ts";
import { SafetensorsCheckpoint } from "../../src/formats/safetensors.ts";
import { countParameters, createModel, fromHfConfig, presetConfig } from "../../src/models/index.ts";

const MB = 1024 * 1024;

/**
 * This process's peak RSS in bytes. Linux: VmHWM of /proc/self/status, the
 * high-water mark of this process's own memory map. process.resourceUsage().maxRSS
 * is not used there: Linux carries the parent's RSS at fork over into the child's
 * ru_maxrss across exec, so a child of a big parent reports the parent's size.
 */
function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

async function child(mode: string, dir: string): Promise<void> {
  const t0 = performance.now();
  if (mode === "loadModel") {
    loadModel(dir);
  } else if (mode === "copy") {
    const config = fromHfConfig(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")));
    const model = createModel(config);
    const ck = SafetensorsCheckpoint.open(dir);
    loadHfTensors(model, (n) => ck.readFloat32(n), ck.names, dir);
    ck.close();
  }
  const ms = performance.now() - t0;
  process.stdout.write(`${JSON.stringify({ mode, maxRssBytes: peakRss(), ms })}\n`);
}

if (process.argv[2] === "--child") {
  await child(process.argv[3]!, process.argv[4]!);
} else {
  const keep = process.argv.indexOf("--keep");
  const dir = keep > 0 ? process.argv[keep + 1]! : join(mkdtempSync(join(tmpdir(), "slm-load-rss-")), "model");
  try {
    if (!existsSync(join(dir, "model.safetensors"))) {
      const config = presetConfig("base", 8192);
      saveModelDir(dir, createModel(config, 1));
    }
    const fileBytes = statSync(join(dir, "model.safetensors")).size;
    const config = fromHfConfig(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")));
    const params = countParameters(config).total;
    const results: Record<string, { maxRssMB: number; ratio: number; seconds: number }> = {};
    for (const mode of ["baseline", "loadModel", "copy"]) {
      const r = spawnSync(process.execPath, ["--import", "tsx", import.meta.filename, "--child", mode, dir], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
      });
      if (r.status !== 0) throw new Error(`child ${mode} exited ${r.status}`);
      const j = JSON.parse(r.stdout.trim().split("\n").pop()!);
      results[mode] = { maxRssMB: +(j.maxRssBytes / MB).toFixed(1), ratio: +(j.maxRssBytes / fileBytes).toFixed(3), seconds: +(j.ms / 1000).toFixed(2) };
    }
    const target = 1.3;
    console.log(
      JSON.stringify(
        {
          bench: "formats/load-rss",
          parameters: params,
          fileMB: +(fileBytes / MB).toFixed(1),
          ...results,
          target,
          loadModelWithinTarget: results.loadModel!.ratio < target,
          copyVsLoadModel: +(results.copy!.maxRssMB / results.loadModel!.maxRssMB).toFixed(3),
        },
        null,
        1,
      ),
    );
  } finally {
    if (keep < 0) rmSync(join(dir, ".."), { recursive: true, force: true });
  }
}
