// Declarations for the rope kernels (included inside namespace slm::<isa>; see isa.h).

// out (N,H,D) = rotate(inp (N,H,D)); token i sits at positions[i] (N), 0 <= positions[i] < P.
// cos, sin (P, rot/2): angle of pair j at position p. Only the first rot dims of each head
// rotate (rot even, <= D); the rest copy through. interleaved: pairs (2j, 2j+1), else
// rotate-half pairs (j, j + rot/2). out may alias inp. Positions are not checked here.
void rope_forward(float* out, const float* inp, const float* cos, const float* sin, const int32_t* positions,
                  int64_t n, int64_t h, int64_t d, int64_t rot, bool interleaved);
// dinp (N,H,D) += rotateᵀ(dout (N,H,D)); dinp must not alias dout.
void rope_backward(float* dinp, const float* dout, const float* cos, const float* sin, const int32_t* positions,
                   int64_t n, int64_t h, int64_t d, int64_t rot, bool interleaved);
