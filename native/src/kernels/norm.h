// Declarations for the norm kernels (included inside namespace slm::<isa>; see isa.h).
// Backward kernels ADD (+=) into dinp, dweight and dbias.

// out (N,C) = inp (N,C) · rstd · weight (C); rstd (N) = 1/sqrt(mean(inp²) + eps), saved.
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C, float eps);
// dinp (N,C) +=, dweight (C) += from dout (N,C), inp (N,C), weight (C), rstd (N).
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int64_t N, int64_t C);
// out (N,C) = (inp - mean)·rstd·weight (C) + bias (C, may be null); mean, rstd (N) saved.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t N, int64_t C, float eps);
// dinp (N,C) +=, dweight (C) +=, dbias (C, may be null) += from dout (N,C), inp (N,C),
// weight (C), mean (N), rstd (N).
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C);
