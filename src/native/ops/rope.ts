// Rope kernels: the raw signatures shared by the native addon and the
// TypeScript reference, and the validating wrappers the library calls.

export interface RopeKernels {}
