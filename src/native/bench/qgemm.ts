// Benchmark cases for the quantized products (`slm bench kernels --op qmatmul`):
// Qwen2.5-0.5B's matrix shapes (d_model 896, 14 query / 2 kv heads of 64,
// d_ff 4864, vocabulary 151,936) in every storage type, for decode (m = 1) and
// a 512-token prefill (m = 512); F32 is the float GEMM on the same shape. GB/s
// counts the weight bytes read once per call. "model" cases run every matrix
// of the 24-layer stack plus the output head once per call, m = 1, each matrix
// with its own weights (~0.4 GB for Q8_0), so tok/s is the matmul-only decode
// ceiling. K-quants need cols % 256 == 0, which 896 is not: as llama-quantize
// falls back (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0), so do the K-quant model
// cases, and the per-shape K-quant cases leave those shapes out. A "copy" case
// (Float32Array.set over 256 MB) measures the machine's memory bandwidth in the
// same run. Weights are random valid blocks (values do not change the speed).
import { randomFillSync } from "node:crypto";

import { traits, type GgmlTypeName } from "../../formats/quant.ts";
import { f32ToF16Bits } from "../../formats/half.ts";
import { Rng } from "../../util/rng.ts";
import { QTYPES, qmatmul, qweight, type QType, type QWeight } from "../ops/qgemm.ts";
import type { BenchCase } from "./types.ts";

const D = 896,
  KV = 128,
  FF = 4864,
  VOCAB = 151936,
  LAYERS = 24;

/** [rows, cols, name] of y = x·Wᵀ */
const SHAPES: [number, number, string][] = [
  [D, D, "q/o 896x896"],
  [KV, D, "k/v 128x896"],
  [FF, D, "gate/up 4864x896"],
  [D, FF, "down 896x4864"],
  [VOCAB, D, "head 151936x896"],
];

/** Random valid bytes for a rows × cols weight of `type` (scales finite and modest). */
export function randomWeight(type: QType, rows: number, cols: number, seed = 1): QWeight {
  const t = traits(type as GgmlTypeName);
  const n = rows * cols;
  const bytes = new Uint8Array((n / t.blockSize) * t.blockBytes);
  if (type === "F32" || type === "F16" || type === "BF16") {
    // tile a 1M-value random pattern: cheap for the 136M-value head
    const tile = new Rng(seed).fillNormal(new Float32Array(Math.min(n, 1 << 20)), 0, 0.05);
    const enc =
      type === "F32"
        ? new Uint8Array(tile.buffer)
        : (() => {
            const o = new Uint8Array(tile.length * 2);
            t.encode(tile, o);
            return o;
          })();
    for (let o = 0; o < bytes.length; o += enc.length) bytes.set(enc.subarray(0, Math.min(enc.length, bytes.length - o)), o);
  } else {
    randomFillSync(bytes);
    const offs = type === "Q6_K" ? [208] : type === "Q4_K" || type === "Q5_K" || type === "Q5_1" ? [0, 2] : [0];
    const h = f32ToF16Bits(type.endsWith("_K") ? 2e-4 : 4e-3);
    for (let b = 0; b < bytes.length; b += t.blockBytes)
      for (const o of offs) {
        bytes[b + o] = h & 0xff;
        bytes[b + o + 1] = h >>> 8;
      }
  }
  return qweight(type, bytes, rows, cols);
}

function fits(type: QType, cols: number): boolean {
  return cols % traits(type as GgmlTypeName).blockSize === 0;
}

function matmulCase(type: QType, m: number, rows: number, cols: number, name: string): BenchCase {
  const t = traits(type as GgmlTypeName);
  return {
    op: "qmatmul",
    shape: `${type} m${m} ${name}`,
    flops: 2 * m * rows * cols,
    bytes: ((rows * cols) / t.blockSize) * t.blockBytes,
    prepare() {
      const w = randomWeight(type, rows, cols);
      const x = new Rng(2).fillNormal(new Float32Array(m * cols));
      const y = new Float32Array(m * rows);
      return () => qmatmul(y, x, m, w);
    },
  };
}

/** Every matmul of one decode step of the 24-layer model plus the head, m = 1. */
function modelCase(type: QType): BenchCase {
  const fallback: Partial<Record<QType, QType>> = { Q4_K: "Q5_0", Q5_K: "Q5_1", Q6_K: "Q8_0" };
  const typeFor = (cols: number): QType => (fits(type, cols) ? type : (fallback[type] ?? "Q8_0"));
  const mats: [number, number][] = [];
  for (let l = 0; l < LAYERS; l++) mats.push([D, D], [KV, D], [KV, D], [D, D], [FF, D], [FF, D], [D, FF]);
  mats.push([VOCAB, D]);
  let bytes = 0,
    flops = 0;
  for (const [r, c] of mats) {
    const tt = traits(typeFor(c) as GgmlTypeName);
    bytes += ((r * c) / tt.blockSize) * tt.blockBytes;
    flops += 2 * r * c;
  }
  return {
    op: "qmatmul",
    shape: `${type} m1 model Qwen2.5-0.5B (${LAYERS} layers + head${type.endsWith("_K") ? `; 896-col matrices ${typeFor(D)}` : ""})`,
    flops,
    bytes,
    tokens: 1,
    prepare() {
      const ws = mats.map(([r, c], i) => randomWeight(typeFor(c), r, c, i + 1));
      const xs = { [D]: new Rng(3).fillNormal(new Float32Array(D)), [FF]: new Rng(4).fillNormal(new Float32Array(FF)) } as Record<number, Float32Array>;
      const ys = ws.map((w) => new Float32Array(w.rows));
      return () => {
        for (let i = 0; i < ws.length; i++) qmatmul(ys[i]!, xs[ws[i]!.cols]!, 1, ws[i]!);
      };
    },
  };
}

function copyCase(): BenchCase {
  const n = 1 << 26; // 256 MB of float32
  return {
    op: "qmatmul",
    shape: "copy 256MB (memory bandwidth)",
    bytes: 2 * 4 * n,
    prepare() {
      const a = new Float32Array(n).fill(1),
        b = new Float32Array(n);
      return () => b.set(a);
    },
  };
}

export const qgemmCases: BenchCase[] = [
  copyCase(),
  ...QTYPES.flatMap((type) => [1, 512].flatMap((m) => SHAPES.filter(([, c]) => fits(type, c)).map(([r, c, name]) => matmulCase(type, m, r, c, name)))),
  ...(["F16", "Q8_0", "Q4_0", "Q5_0", "Q4_K", "Q5_K", "Q6_K"] as QType[]).map(modelCase),
];
