// Quantized matrix products: a weight matrix W (rows × cols) kept in its GGML
// storage type (F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) times float32
// activations. The raw kernel signatures shared by the native addon and the
// TypeScript reference, and the validating wrappers the library calls.
//
// Layout: every type is read in GGUF's own layout ("ggml": rows of cols values,
// row-major, each row a run of GGML blocks), so qweight() validates and returns
// a view, never a copy. `layout` names the layout so that a repacked one (e.g.
// interleaved rows for a prefill GEMM) can be added without changing callers.
//
// Numerics: the reference dequantizes W exactly (the quant.ts decoders) and
// multiplies in float64. The native kernels, for m ≤ QGEMM_QUANT_ROWS
// activation rows (decode, batched decode), quantize each activation row to
// 8 bits per block as llama.cpp does (scale max|x|/127 per ACTIVATION_BLOCK
// values, round to nearest) and use integer dot products; for more rows
// (prefill) they run an int8 GEMM over rows repacked per call (AMX tiles or AVX-512
// VNNI; activations 8-bit with 32 values per scale) or, elsewhere, dequantize panels
// of W to float32 and run the float GEMM.
// See docs/kernels.md "Quantized matrix products" for the tolerance.
//
// Layering note: this file and reference/qgemm.ts read the block traits from
// formats/quant.ts (a leaf module that imports only errors.ts and half.ts):
// a type is declared once, in one traits table (ARCHITECTURE.md habit 11).
import { FormatError, ShapeError } from "../../errors.ts";
import { traits, type GgmlTypeName, type TypeTraits } from "../../formats/quant.ts";
import { backend } from "../load.ts";
import { checkDims, checkF32, checkIds } from "./args.ts";

// Q5_0 and Q5_1 are beyond the list: llama-quantize writes them in Q4_K_M /
// Q5_K_M files for matrices whose rows are not a multiple of 256 (Qwen2.5-0.5B's
// d_model 896, SmolLM2-135M's 576), so those files need them.
export type QType = "F32" | "F16" | "BF16" | "Q8_0" | "Q4_0" | "Q5_0" | "Q5_1" | "Q4_K" | "Q5_K" | "Q6_K";

export const QTYPES: readonly QType[] = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"];

/** A weight matrix W (rows × cols) kept in its storage type; data is in whatever layout the kernels read (maybe repacked). */
export interface QWeight {
  readonly type: QType;
  readonly rows: number;
  readonly cols: number;
  readonly data: Uint8Array;
  readonly layout: string;
}

/** The one layout today: GGUF's row-major GGML blocks. */
export const LAYOUT_GGML = "ggml";

/**
 * Up to this many activation rows the native kernels quantize activations to
 * 8 bits (ACTIVATION_BLOCK values per scale) and stream W once per call (decode,
 * batched decode); above it they run the prefill paths (int8 GEMM with 32 values
 * per activation scale on AVX-512 VNNI, else float GEMM on dequantized panels).
 */
export const QGEMM_QUANT_ROWS = 8;

/**
 * Values per activation scale when the native kernels quantize activations:
 * 32 for Q8_0/Q4_0/Q5_0/Q5_1 (as llama.cpp's Q8_0/Q8_1 activations), 256 for the
 * K-quants (as its Q8_K), 0 for the float types (activations stay float32).
 */
export function activationBlock(type: QType): number {
  if (type === "Q8_0" || type === "Q4_0" || type === "Q5_0" || type === "Q5_1") return 32;
  if (type === "Q4_K" || type === "Q5_K" || type === "Q6_K") return 256;
  return 0;
}

export interface QgemmKernels {
  /**
   * y (m × rows) = x (m × cols) · Wᵀ, W of ggml type `typeId` in `data` (rows of
   * cols values, GGML blocks, row-major). Writes y.
   */
  qgemm(y: Float32Array, x: Float32Array, m: number, typeId: number, data: Uint8Array, rows: number, cols: number): void;
  /**
   * ys[k] (m × rows[k]) = x (m × cols) · W_kᵀ for the n matrices of datas[k] (type typeIds[k]) that
   * share cols and x: qgemm for each, in one call (natively, for m ≤ QGEMM_QUANT_ROWS, one
   * quantization of x and one pool dispatch; each ys[k] is bitwise what qgemm gives). Writes ys.
   */
  qgemmMulti(ys: Float32Array[], x: Float32Array, m: number, typeIds: Int32Array, datas: Uint8Array[], rows: Int32Array, cols: number): void;
  /** dx (m × cols) = dy (m × rows) · W (the transposed product; LoRA backward over a quantized base). Writes dx. */
  qgemmT(dx: Float32Array, dy: Float32Array, m: number, typeId: number, data: Uint8Array, rows: number, cols: number): void;
  /** out (n × cols) = rows ids[i] of W, dequantized exactly (ids already checked to be in [0, rows)). */
  qgather(out: Float32Array, typeId: number, data: Uint8Array, rows: number, cols: number, ids: Int32Array, n: number): void;
  /**
   * Native only: whether the Q8_0/Q4_0 integer dot products use VNNI. mode -1 (or
   * omitted) asks, 0 forces the plain pmaddubsw path, 1 uses VNNI when the CPU has it.
   */
  qgemmVnni?(mode?: number): boolean;
  /**
   * Native only: whether prefill (m > QGEMM_QUANT_ROWS) of Q8_0/Q4_0/Q5_0/Q5_1/Q4_K/Q5_K
   * uses AMX-INT8 tiles (AVX-512 build on a CPU and OS that allow them, while qgemmVnni is
   * on). mode -1 (or omitted) asks, 0 turns it off (the VNNI int8 GEMM runs), 1 turns it on
   * where possible. Returns the state after the call.
   */
  qgemmAmx?(mode?: number): boolean;
  /**
   * Native only: whether decode calls ask the idle pool threads to prefetch the rows they will
   * take in the call predicted to come next (never changes a result). mode -1 (or omitted) asks,
   * 0 turns it off, 1 on (the default). Returns the state after the call.
   */
  qgemmIdlePrefetch?(mode?: number): boolean;
}

function traitsOf(type: QType): TypeTraits {
  if (!QTYPES.includes(type)) throw new FormatError(`qweight: unknown storage type "${String(type)}"`, { hint: `supported: ${QTYPES.join(", ")}` });
  return traits(type as GgmlTypeName);
}

/**
 * Validates GGUF-layout bytes (rows of cols values, row-major, GGML blocks) and
 * repacks them for the kernels. Today every type is read in place, so this
 * returns a view of `bytes` (no copy: keep `bytes` alive and unmodified).
 * Throws FormatError for an unknown type, ShapeError for bad sizes.
 */
export function qweight(type: QType, bytes: Uint8Array, rows: number, cols: number): QWeight {
  const t = traitsOf(type);
  checkDims("qweight", { rows, cols });
  if (!(bytes instanceof Uint8Array)) throw new ShapeError(`qweight: bytes must be a Uint8Array, got ${bytes === null ? "null" : typeof bytes}`);
  if (cols % t.blockSize !== 0) {
    throw new ShapeError(`qweight: ${type} stores blocks of ${t.blockSize} values; rows of ${cols} values are not a whole number of blocks`, {
      hint: `cols must be a multiple of ${t.blockSize}`,
    });
  }
  const need = rows * (cols / t.blockSize) * t.blockBytes;
  if (bytes.length !== need) {
    throw new ShapeError(`qweight: ${type} ${rows}×${cols} takes ${need} bytes, got ${bytes.length}`, {
      hint: "the tensor's shape or type does not match its data",
    });
  }
  return Object.freeze({ type, rows, cols, data: bytes, layout: LAYOUT_GGML });
}

function checkWeight(kernel: string, w: QWeight): TypeTraits {
  if (!w || typeof w !== "object") throw new ShapeError(`${kernel}: w must be a QWeight (from qweight()), got ${w === null ? "null" : typeof w}`);
  const t = traitsOf(w.type);
  if (w.layout !== LAYOUT_GGML) throw new FormatError(`${kernel}: unknown weight layout "${w.layout}"`, { hint: "make weights with qweight()" });
  checkDims(kernel, { rows: w.rows, cols: w.cols });
  if (w.cols % t.blockSize !== 0 || !(w.data instanceof Uint8Array) || w.data.length !== ((w.rows * w.cols) / t.blockSize) * t.blockBytes) {
    throw new ShapeError(`${kernel}: w (${w.type} ${w.rows}×${w.cols}) has ${w.data?.length} bytes of data, which does not match its shape`, {
      hint: "make weights with qweight()",
    });
  }
  return t;
}

/** y (m × rows) = x (m × cols) · Wᵀ, float32 in and out. m = 1 is decode; m > 1 prefill / batched decode. */
export function qmatmul(y: Float32Array, x: Float32Array, m: number, w: QWeight): void {
  const t = checkWeight("qmatmul", w);
  checkDims("qmatmul", { m });
  checkF32("qmatmul", "x", x, m * w.cols, `(${m},${w.cols})`);
  checkF32("qmatmul", "y", y, m * w.rows, `(${m},${w.rows})`);
  backend().qgemm(y, x, m, t.id, w.data, w.rows, w.cols);
}

/**
 * ys[k] (m × W_k.rows) = x (m × cols) · W_kᵀ for weights that share cols and x (a layer's q/k/v,
 * its gate/up): the same as qmatmul for each, in one native call (one pool dispatch at decode).
 */
export function qmatmulMulti(ys: readonly Float32Array[], x: Float32Array, m: number, ws: readonly QWeight[]): void {
  checkDims("qmatmulMulti", { m });
  if (ws.length === 0 || ws.length !== ys.length)
    throw new ShapeError(`qmatmulMulti: got ${ws.length} weights and ${ys.length} outputs`, { hint: "pass one output per weight, at least one" });
  const cols = ws[0]!.cols;
  const ids = new Int32Array(ws.length),
    rows = new Int32Array(ws.length);
  ws.forEach((w, k) => {
    ids[k] = checkWeight("qmatmulMulti", w).id;
    rows[k] = w.rows;
    if (w.cols !== cols)
      throw new ShapeError(`qmatmulMulti: weight ${k} has ${w.cols} columns, weight 0 has ${cols}`, { hint: "the weights must share their input" });
    checkF32("qmatmulMulti", `ys[${k}]`, ys[k]!, m * w.rows, `(${m},${w.rows})`);
  });
  checkF32("qmatmulMulti", "x", x, m * cols, `(${m},${cols})`);
  backend().qgemmMulti(
    ys as Float32Array[],
    x,
    m,
    ids,
    ws.map((w) => w.data),
    rows,
    cols,
  );
}

/** dX (m × cols) = dY (m × rows) · W: the transposed product (gradient of x through qmatmul). Writes dx. */
export function qmatmulT(dx: Float32Array, dy: Float32Array, m: number, w: QWeight): void {
  const t = checkWeight("qmatmulT", w);
  checkDims("qmatmulT", { m });
  checkF32("qmatmulT", "dy", dy, m * w.rows, `(${m},${w.rows})`);
  checkF32("qmatmulT", "dx", dx, m * w.cols, `(${m},${w.cols})`);
  backend().qgemmT(dx, dy, m, t.id, w.data, w.rows, w.cols);
}

/** Gathers rows ids[i] of W as float32 into out (ids.length × cols): embedding lookup on a quantized table. */
export function qrows(out: Float32Array, w: QWeight, ids: Int32Array): void {
  const t = checkWeight("qrows", w);
  const n = ids instanceof Int32Array ? ids.length : 0;
  checkIds("qrows", "ids", ids, n, w.rows);
  if (n === 0) return;
  checkF32("qrows", "out", out, n * w.cols, `(${n},${w.cols})`);
  backend().qgather(out, t.id, w.data, w.rows, w.cols, ids, n);
}

/** The ggml type id of a storage type (the kernels' typeId; 0 F32, 1 F16, 8 Q8_0, …). */
export function qtypeId(type: QType): number {
  return traitsOf(type).id;
}

/** Bytes of W's data (what it costs in memory). */
export function qweightBytes(w: QWeight): number {
  return w.data.byteLength;
}
