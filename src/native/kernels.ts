// The kernels the rest of the library calls: validating wrappers over the
// active backend (native addon or TypeScript reference), one module per group.
export * from "./ops/gemm.ts";
export * from "./ops/embed.ts";
export * from "./ops/norm.ts";
export * from "./ops/rope.ts";
export * from "./ops/attention.ts";
export * from "./ops/activation.ts";
export * from "./ops/loss.ts";
export * from "./ops/optim.ts";
export { backend, setBackend, availableBackends, nativeBackend, nativeLoadError } from "./load.ts";
export type { Backend, Isa, Kernels } from "./backend.ts";
