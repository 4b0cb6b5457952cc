// Activation and element-wise kernels (SwiGLU, GELU-tanh, softmax, add,
// axpy): the raw signatures shared by the native addon and the TypeScript
// reference, and the validating wrappers. Backward ADDS into its outputs.

export interface ActivationKernels {
  /** out (N) = silu(gate) · up, element-wise over n values. */
  swigluForward(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;
  /** dgate (N) +=, dup (N) += from dout (N). */
  swigluBackward(dgate: Float32Array, dup: Float32Array, dout: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;
  /** out (N) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
  geluForward(out: Float32Array, inp: Float32Array, n: number): void;
  /** dinp (N) += gelu'(inp) · dout. */
  geluBackward(dinp: Float32Array, dout: Float32Array, inp: Float32Array, n: number): void;
  /** out (N,V) = softmax over each row of inp (N,V). out may alias inp. */
  softmaxForward(out: Float32Array, inp: Float32Array, n: number, v: number): void;
  /** out (N) = a + b. out may alias a or b. */
  add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void;
  /** y (N) += alpha · x. */
  axpy(y: Float32Array, alpha: number, x: Float32Array, n: number): void;
}
