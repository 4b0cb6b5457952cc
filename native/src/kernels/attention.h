// Declarations for the attention kernels (included inside namespace slm::<isa>; see isa.h).
// q (B,T,H,D) rows qs apart, k, v (B,T,KVH,D) rows ks, vs apart (views into a fused qkv
// buffer are fine); query head j reads kv head j / (H/KVH). Causal.

// out (B,T,H,D) contiguous = softmax(q·kᵀ·scale)·v; lse (B,H,T) = log-sum-exp of each row.
void attention_forward(float* out, float* lse, const float* q, int64_t qs, const float* k, int64_t ks,
                       const float* v, int64_t vs, int64_t b, int64_t t, int64_t h, int64_t kvh, int64_t d,
                       float scale);
// dq (q's layout), dk, dv (k's, v's layouts) += gradients of the loss given dout (B,T,H,D)
// contiguous, the forward's out (B,T,H,D) and lse (B,H,T).
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, int64_t qs,
                        const float* k, int64_t ks, const float* v, int64_t vs, const float* out, const float* lse,
                        int64_t b, int64_t t, int64_t h, int64_t kvh, int64_t d, float scale);
// out, q (B,Tq,H,D) contiguous; kcache, vcache (B,KVH,maxT,D). Query i of sequence b sits at
// position starts[b] + i and sees cache positions 0..starts[b]+i (the caller guarantees
// starts[b] >= 0 and starts[b] + Tq <= maxT).
void attention_decode(float* out, const float* q, const float* kcache, const float* vcache, const int32_t* starts,
                      int64_t b, int64_t tq, int64_t h, int64_t kvh, int64_t d, int64_t maxt, float scale);
