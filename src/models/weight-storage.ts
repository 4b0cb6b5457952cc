// What a model's weights cost in memory, by storage type: float32 parameters
// at 4 bytes a value, matrices held quantized (Parameter.quant) at their
// type's bytes. For model cards, /v1/models and benchmarks.
import { qweightBytes } from "../native/ops/qgemm.ts";
import type { Module } from "../tensor/index.ts";

export interface WeightStorage {
  /** Bytes held by the weights. */
  bytes: number;
  /** Bytes per storage type ("F32", "Q4_0", …), largest first. */
  byType: [string, number][];
  /** The type when all matrices share one, else the matrix types joined by "+", largest share first ("Q4_K+Q6_K+Q4_0"). */
  label: string;
}

export function weightStorage(model: Module): WeightStorage {
  const byType = new Map<string, number>();
  const matrixTypes = new Map<string, number>();
  for (const p of model.parameters()) {
    const type = p.quant?.type ?? "F32";
    const bytes = p.quant ? qweightBytes(p.quant) : p.data.byteLength;
    byType.set(type, (byType.get(type) ?? 0) + bytes);
    if (p.ndim === 2) matrixTypes.set(type, (matrixTypes.get(type) ?? 0) + bytes);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    bytes: [...byType.values()].reduce((a, b) => a + b, 0),
    byType: sorted(byType),
    label:
      sorted(matrixTypes)
        .map(([t]) => t)
        .join("+") || "F32",
  };
}
