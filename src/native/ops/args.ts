// Argument checks shared by the element-wise, norm, loss and optimizer
// wrappers: positive integer dims, finite scalars, buffers long enough for
// the shape, ids inside a table. Each throws a ShapeError naming the kernel,
// the argument, what was expected and what came. Knows nothing about kernels.
import { ShapeError } from "../../errors.ts";

/** Throws unless every entry of `dims` is a positive safe integer. */
export function checkDims(kernel: string, dims: Record<string, number>): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new ShapeError(`${kernel}: ${name} must be a positive integer, got ${v}`);
  }
}

/** Throws unless every entry of `values` is a finite number. */
export function checkFinite(kernel: string, values: Record<string, number>): void {
  for (const [name, v] of Object.entries(values)) {
    if (typeof v !== "number" || !Number.isFinite(v)) throw new ShapeError(`${kernel}: ${name} must be a finite number, got ${v}`);
  }
}

/** Throws unless `arr` is a Float32Array with at least `need` elements (`shape` describes it). */
export function checkF32(kernel: string, name: string, arr: Float32Array | null | undefined, need: number, shape: string): void {
  if (!(arr instanceof Float32Array)) throw new ShapeError(`${kernel}: ${name} must be a Float32Array ${shape}, got ${describe(arr)}`);
  if (arr.length < need) throw new ShapeError(`${kernel}: ${name} has ${arr.length} elements, ${shape} needs ${need}`);
}

/** Like checkF32 but also accepts null (an absent optional buffer). */
export function checkF32OrNull(kernel: string, name: string, arr: Float32Array | null | undefined, need: number, shape: string): void {
  if (arr === null) return;
  checkF32(kernel, name, arr, need, shape);
}

/**
 * Throws unless `ids` is an Int32Array with at least n entries, each in [0, v) or equal to
 * `except` (when given: cross-entropy's ignoreIndex).
 */
export function checkIds(kernel: string, name: string, ids: Int32Array, n: number, v: number, except?: number): void {
  if (!(ids instanceof Int32Array)) throw new ShapeError(`${kernel}: ${name} must be an Int32Array (${n}), got ${describe(ids)}`);
  if (ids.length < n) throw new ShapeError(`${kernel}: ${name} has ${ids.length} elements, (${n}) needs ${n}`);
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    if ((id < 0 || id >= v) && id !== except) {
      throw new ShapeError(`${kernel}: ${name}[${i}] = ${id} is outside [0, ${v})${except === undefined ? "" : ` and is not ignoreIndex (${except})`}`);
    }
  }
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (typeof x !== "object") return typeof x;
  return (x as object).constructor?.name ?? "object";
}
