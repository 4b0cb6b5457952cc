// Declarations for the embed kernels (included inside namespace slm::<isa>; see isa.h).
// ids must already be checked to lie in [0, V): the kernels index the table with them.

// out (N,C) = table (V,C) [ids[i]] for each of the N ids (N).
void embedding_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t C, int64_t V);
// dtable (V,C) += dout (N,C) scattered by ids (N); repeated ids accumulate (race-free:
// threads split the C columns, each walks every id in order).
void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t C, int64_t V);
