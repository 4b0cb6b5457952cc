// Declarations for the optim kernels (included inside namespace slm::<isa>; see isa.h).

// One AdamW step over n values, in place on param, m, v (all (n)), from grad (n):
// m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; m̂ = m/(1−β1^step); v̂ = v/(1−β2^step);
// param −= lr·(m̂/(√v̂ + eps) + weight_decay·param). step counts from 1.
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                float eps, float weight_decay, int64_t step);
// Σ x² over x (n), squares and sums in double (no overflow, float64 accuracy).
double sum_squares(const float* x, int64_t n);
// x (n) *= s in place.
void scale_f32(float* x, int64_t n, float s);
