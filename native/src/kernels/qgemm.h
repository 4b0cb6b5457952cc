// Declarations for the quantized-product kernels (included inside namespace slm::<isa>; see isa.h).
// W (rows,cols) is in GGUF's layout: each row a run of GGML blocks of ggml type `type`
// (0 F32, 1 F16, 30 BF16, 8 Q8_0, 2 Q4_0, 6 Q5_0, 7 Q5_1, 12 Q4_K, 13 Q5_K, 14 Q6_K); cols a whole number of
// blocks. The binding checks types and sizes. Multithreaded over the pool.

// y (m,rows) = x (m,cols) · Wᵀ. m <= 8: activations quantized to 8 bits per block, integer
// dot products, W streamed once per call; m > 8: an int8 GEMM (AMX tiles or AVX-512 VNNI)
// where the build, CPU and type allow, else W dequantized panel by panel, float GEMM.
void qgemm(float* y, const float* x, int64_t m, int type, const uint8_t* w, int64_t rows, int64_t cols);
// ys[k] (m,rows[k]) = x (m,cols) · W_kᵀ for n matrices of types[k] at ws[k] that share cols and x
// (a layer's q/k/v, its gate/up): for m <= 8, x is quantized once per block size and all rows
// go to the pool in one dispatch. Each ys[k] is bitwise what qgemm gives for W_k alone.
void qgemm_multi(float* const* ys, const float* x, int64_t m, int n, const int* types, const uint8_t* const* ws, const int64_t* rows,
                 int64_t cols);
// dx (m,cols) = dy (m,rows) · W. Writes dx.
void qgemm_t(float* dx, const float* dy, int64_t m, int type, const uint8_t* w, int64_t rows, int64_t cols);
// out (n,cols) = W[ids[i]], dequantized exactly as ggml's dequantize_row_* (ids checked by the caller).
void qgather(float* out, int type, const uint8_t* w, int64_t rows, int64_t cols, const int32_t* ids, int64_t n);
// Whether this build's Q8_0/Q4_0/Q5_0/Q5_1 dot products use VNNI (AVX-512 VNNI in the avx512 build,
// AVX-VNNI in the avx2 build; never in scalar). mode < 0 asks; 0 forces the plain
// pmaddubsw path; 1 uses VNNI when the CPU has it. Returns the state after the call.
bool qgemm_set_vnni(int mode);
// Whether this build's prefill (m > 8) of Q8_0/Q4_0/Q5_0/Q5_1/Q4_K/Q5_K uses AMX-INT8 tiles
// (AVX-512 build only, and only while the VNNI switch above is on). mode < 0 asks; 0 turns
// it off (the VNNI int8 GEMM runs); 1 turns it on when the CPU and OS allow. Returns the
// state after the call.
bool qgemm_set_amx(int mode);
// Whether decode calls (m <= 8, several threads) ask the idle pool workers to prefetch the rows
// they will take in the call predicted to come next (see qgemm.cpp, "Idle prefetch"). mode < 0
// asks; 0 turns it off, 1 on (the default; SLM_IDLE_PREFETCH=0 starts a process with it off).
// Never changes a result. Returns the state after the call.
bool qgemm_set_idle_prefetch(int mode);
