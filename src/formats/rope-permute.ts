// Row permutation of q/k projection weights between the two RoPE pair
// layouts. Hugging Face Llama checkpoints rotate pairs (i, i + hd/2)
// ("rotate-half"); llama2.c and GGUF rotate consecutive pairs (2i, 2i+1)
// ("interleaved"). A model is the same function under either layout once each
// head's output rows are reordered, which is what these do. Our models use
// rotate-half, so importers from interleaved formats permute on load and
// exporters to them permute back. Rows move whole, so the same permutation
// applies to a quantized matrix's byte rows (interleavedToHalfBytes).
// Knows nothing about files.

/**
 * w (heads·hd, cols) in interleaved row order → rotate-half row order:
 * new row j < hd/2 of a head is old row 2j; new row hd/2 + j is old row 2j + 1.
 * Works for biases too (cols = 1).
 */
export function interleavedToHalf(w: Float32Array, heads: number, hd: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    const base = h * hd;
    for (let j = 0; j < half; j++) {
      out.set(w.subarray((base + 2 * j) * cols, (base + 2 * j + 1) * cols), (base + j) * cols);
      out.set(w.subarray((base + 2 * j + 1) * cols, (base + 2 * j + 2) * cols), (base + half + j) * cols);
    }
  }
  return out;
}

/** The inverse of interleavedToHalf: rotate-half row order → interleaved. */
export function halfToInterleaved(w: Float32Array, heads: number, hd: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    const base = h * hd;
    for (let j = 0; j < half; j++) {
      out.set(w.subarray((base + j) * cols, (base + j + 1) * cols), (base + 2 * j) * cols);
      out.set(w.subarray((base + half + j) * cols, (base + half + j + 1) * cols), (base + 2 * j + 1) * cols);
    }
  }
  return out;
}

/** interleavedToHalf on raw rows of `rowBytes` bytes each (a quantized or half-precision matrix). */
export function interleavedToHalfBytes(w: Uint8Array, heads: number, hd: number, rowBytes: number): Uint8Array {
  const out = new Uint8Array(w.length);
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    const base = h * hd;
    for (let j = 0; j < half; j++) {
      out.set(w.subarray((base + 2 * j) * rowBytes, (base + 2 * j + 1) * rowBytes), (base + j) * rowBytes);
      out.set(w.subarray((base + 2 * j + 1) * rowBytes, (base + 2 * j + 2) * rowBytes), (base + half + j) * rowBytes);
    }
  }
  return out;
}
