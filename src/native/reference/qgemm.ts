// Reference quantized products in plain TypeScript (the tests' oracle and the
// slow fallback): each row of W is dequantized exactly with the formats/quant.ts
// decoders, then multiplied in float64. Trusts its arguments: the wrappers in
// ops/qgemm.ts check shapes and ids.
import { traitsById, type TypeTraits } from "../../formats/quant.ts";
import type { QgemmKernels } from "../ops/qgemm.ts";

function rowDecoder(typeId: number, data: Uint8Array, cols: number): (r: number, out: Float32Array) => void {
  const t = traitsById(typeId) as TypeTraits;
  const rowBytes = (cols / t.blockSize) * t.blockBytes;
  return (r, out) => t.decode(data.subarray(r * rowBytes, (r + 1) * rowBytes), out);
}

export const qgemmReference: QgemmKernels = {
  // y (m,rows), x (m,cols), W (rows,cols)
  qgemm(y, x, m, typeId, data, rows, cols) {
    const decode = rowDecoder(typeId, data, cols);
    const w = new Float32Array(cols);
    for (let r = 0; r < rows; r++) {
      decode(r, w);
      for (let i = 0; i < m; i++) {
        let s = 0;
        const xo = i * cols;
        for (let k = 0; k < cols; k++) s += w[k]! * x[xo + k]!;
        y[i * rows + r] = s;
      }
    }
  },
  // ys[k] (m,rows[k]), x (m,cols), W_k (rows[k],cols)
  qgemmMulti(ys, x, m, typeIds, datas, rows, cols) {
    for (let k = 0; k < ys.length; k++) qgemmReference.qgemm(ys[k]!, x, m, typeIds[k]!, datas[k]!, rows[k]!, cols);
  },
  // dx (m,cols) = dy (m,rows) · W (rows,cols)
  qgemmT(dx, dy, m, typeId, data, rows, cols) {
    const decode = rowDecoder(typeId, data, cols);
    const acc = new Float64Array(m * cols);
    const w = new Float32Array(cols);
    for (let r = 0; r < rows; r++) {
      decode(r, w);
      for (let i = 0; i < m; i++) {
        const g = dy[i * rows + r]!;
        if (g === 0) continue;
        const o = i * cols;
        for (let k = 0; k < cols; k++) acc[o + k] = acc[o + k]! + g * w[k]!;
      }
    }
    for (let j = 0; j < m * cols; j++) dx[j] = acc[j]!;
  },
  // out (n,cols) = W[ids[i]]
  qgather(out, typeId, data, _rows, cols, ids, n) {
    const decode = rowDecoder(typeId, data, cols);
    for (let i = 0; i < n; i++) decode(ids[i]!, out.subarray(i * cols, (i + 1) * cols));
  },
};
