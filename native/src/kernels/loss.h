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
// Distillation (src/train/distill-loss.ts): the two O(N·V) passes of the loss.
// lse1 (N) = log Σ_j e^x[i][j] and lseT (N) = log Σ_j e^(x[i][j]·inv_t), logits (N,V), inv_t > 0.
void softmax_lse_pair(float* lse1, float* lseT, const float* logits, int64_t N, int64_t V, float inv_t);
// dlogits (N,V) = c1[i]·e^(x − lse1[i]) + cT[i]·e^(x·inv_t − lseT[i]): the dense part of the
// gradient (CE softmax and student softmax at T, per-row weights). WRITES; logits (N,V),
// lse1, lseT, c1, cT (N). A zero weight skips its exponential.
void distill_dense_backward(float* dlogits, const float* logits, const float* lse1, const float* lseT, const float* c1,
                            const float* cT, int64_t N, int64_t V, float inv_t);
