// Declarations for the decode-step kernel (included inside namespace slm::<isa>; see isa.h).
// A few tokens through every layer of a Llama-family decoder (pre-RMSNorm grouped-query
// attention with rotary positions, optional q/k biases and per-head q/k norms, pre-RMSNorm
// SwiGLU MLP), in place on x (b·tq, d), b·tq <= kDecodeMaxRows: the same kernel calls, in the
// same order, as the model's forwardCached makes for those rows (so the result is bitwise the
// same), without returning to JavaScript between them. Token i of sequence s (< b <= slots)
// sits at position starts[s] + i: its keys and values go to that row of cache slot s, and it
// attends over the slot's rows 0..starts[s] + i. The caller guarantees starts[s] >= 0 and
// starts[s] + tq <= maxt. cos, sin: the rotary tables, rot/2 values per position, covering them.
void decode_layers(::slm::DecodePlan& plan, float* x, int64_t b, int64_t tq, const int32_t* starts, const float* cos, const float* sin);
