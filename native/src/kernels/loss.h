// Declarations for the loss kernels (included inside namespace slm::<isa>; see isa.h).
// targets must already be checked: each in [0, V) or equal to ignore_index.

// losses (N) = lse − logits[i][targets[i]] (0 where targets[i] == ignore_index),
// lse (N) = log Σ_j e^logits[i][j], written for every row. logits (N,V), targets (N).
void cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                           int64_t V, int64_t ignore_index);
// dlogits (N,V) = scale·(e^(logits − lse) − onehot(target)), 0 on ignored rows. WRITES
// (does not add), and dlogits may be the logits buffer itself. lse (N), targets (N).
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets, int64_t N,
                            int64_t V, int64_t ignore_index, float scale);
