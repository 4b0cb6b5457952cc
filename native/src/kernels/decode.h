// Declarations for the decode-step kernel (included inside namespace slm::<isa>; see isa.h).
// One token through every layer of a Llama-family decoder (pre-RMSNorm grouped-query
// attention with rotary positions, optional q/k biases and per-head q/k norms, pre-RMSNorm
// SwiGLU MLP), in place on x (d): the same kernel calls, in the same order, as the model's
// forwardCached makes for one token (so the result is bitwise the same), without returning to
// JavaScript between them. The token sits at position pos (0 <= pos < maxt): its keys and
// values are written into each layer's cache row pos and attention reads rows 0..pos.
// cos, sin (>= pos + 1 rows of rot/2): the rotary tables.
void decode_layers(::slm::DecodePlan& plan, float* x, int64_t pos, const float* cos, const float* sin);
