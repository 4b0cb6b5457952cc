// Declarations for the activation kernels (included inside namespace slm::<isa>; see isa.h).
// Backward kernels ADD (+=) into their gradient outputs. Element-wise kernels
// take n values; outputs may alias inputs where noted.

// out (n) = silu(gate) · up, silu(x) = x / (1 + e^-x).
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n);
// dgate (n) += dout · up · silu'(gate), dup (n) += dout · silu(gate).
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n);
// out (n) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
void gelu_forward(float* out, const float* inp, int64_t n);
// dinp (n) += gelu'(inp) · dout.
void gelu_backward(float* dinp, const float* dout, const float* inp, int64_t n);
// out (N,V) = row-wise softmax of inp (N,V); out may alias inp.
void softmax_forward(float* out, const float* inp, int64_t N, int64_t V);
// out (n) = a + b; out may alias a or b.
void add_f32(float* out, const float* a, const float* b, int64_t n);
// y (n) += alpha · x.
void axpy_f32(float* y, float alpha, const float* x, int64_t n);
