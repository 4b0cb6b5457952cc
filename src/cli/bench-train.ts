// `slm bench train`: training tokens/s of a preset on random data, and model
// FLOP utilisation against the matmul rate measured in the same run.
import { UsageError } from "../errors.ts";
import { PRESETS, countParameters, createModel, presetConfig } from "../models/index.ts";
import { backend } from "../native/load.ts";
import { gemmCase } from "../native/bench/gemm.ts";
import { runCase } from "../native/bench/run.ts";
import { benchTrainSteps } from "../train/bench.ts";
import { intFlag, parse, type Command, type CommandContext } from "./command.ts";
import { formatCount } from "./format.ts";

const HELP = `Usage: slm bench train [--preset NAME] [--batch 8] [--context N] [--steps 10] [--vocab 8192] [--threads N] [--json]

Trains a preset on random tokens for a few steps (forward, backward, clipping,
AdamW) and prints tokens/s and model FLOP utilisation (MFU): achieved model
FLOP/s (6 × matmul parameters + 6 × layers × d × T for causal attention, per
token) over our best matmul GFLOP/s on the model's own forward shapes,
measured in the same run. Presets: ${Object.keys(PRESETS).join(", ")}.
bench/train.ts runs the same configuration in PyTorch beside it and prints the ratio.

Example:
  slm bench train --preset mini --json`;

export const benchTrainCommand: Command = {
  name: "bench train",
  summary: "training tokens/s and MFU of a preset",
  help: HELP,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values: v } = parse(
      argv,
      {
        preset: { type: "string" },
        batch: { type: "string" },
        context: { type: "string" },
        steps: { type: "string" },
        vocab: { type: "string" },
        threads: { type: "string" },
        json: { type: "boolean" },
      },
      false,
    );
    const preset = v.preset ?? "mini";
    if (!(preset in PRESETS)) throw new UsageError(`unknown preset "${preset}" (choose ${Object.keys(PRESETS).join(", ")})`);
    const be = backend();
    if (v.threads !== undefined) be.setThreads(intFlag("threads", v.threads, 1));
    const config = presetConfig(preset, intFlag("vocab", v.vocab, 8192, 16));
    const batch = intFlag("batch", v.batch, 8);
    const seqLen = intFlag("context", v.context, Math.min(config.maxSeqLen, 256));
    // The matmul rate to compare with: the best of this model's own forward products
    // (attention projections, MLP, output head), measured before training.
    const rows = batch * seqLen;
    const shapes = [
      [config.dModel, config.dModel],
      [config.ffnDim, config.dModel],
      [config.vocabSize, config.dModel],
    ] as const;
    const peak = {
      gflops: Math.max(
        ...shapes.map(([n, k]) => runCase(gemmCase({ m: rows, n, k, transA: false, transB: false, role: "peak" }), { seconds: 0.3 }).gflops ?? 0),
      ),
    };
    const model = createModel(config, 0);
    const r = benchTrainSteps(model, batch, seqLen, intFlag("steps", v.steps, 10));
    const out = {
      preset,
      params: countParameters(config).total,
      batch,
      context: seqLen,
      vocab: config.vocabSize,
      tokens_per_s: r.tokensPerSec,
      ms_per_step: r.msPerStep,
      model_gflops: r.flops / 1e9,
      matmul_gflops: peak.gflops ?? 0,
      mfu: peak.gflops ? r.flops / 1e9 / peak.gflops : null,
      threads: be.getThreads(),
      isa: be.getIsa(),
      backend: be.name,
    };
    if (v.json) ctx.out(JSON.stringify(out));
    else {
      ctx.out(`${preset}: ${formatCount(out.params)} params, batch ${batch} × context ${seqLen}, ${out.threads} threads (${out.backend}/${out.isa})`);
      ctx.out(
        `  ${out.tokens_per_s.toFixed(0)} tokens/s, ${out.ms_per_step.toFixed(0)} ms/step, ${out.model_gflops.toFixed(1)} model GFLOP/s = ${((out.mfu ?? 0) * 100).toFixed(1)}% of matmul (${out.matmul_gflops.toFixed(1)} GFLOP/s)`,
      );
    }
    return 0;
  },
};
