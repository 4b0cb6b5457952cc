// Declarations for the matmul kernels (included inside namespace slm::<isa>; see isa.h).

// C[b] (M,N) = op(A[b]) (M,K) · op(B[b]) (K,N)  (+ C[b] when accumulate), b in [0,batch)
// op(A) = A when !transA (A stored (M,K), row stride lda), A^T when transA (A stored (K,M)).
// op(B) = B when !transB (B stored (K,N), row stride ldb), B^T when transB (B stored (N,K)).
// strideA/strideB/strideC: elements between consecutive batch matrices (0 broadcasts).
// C rows are ldc apart. Multithreaded over the pool; any sizes, including 1 and primes.
void gemm_f32(int64_t batch, int64_t M, int64_t N, int64_t K,
              const float* A, int64_t lda, int64_t strideA, bool transA,
              const float* B, int64_t ldb, int64_t strideB, bool transB,
              float* C, int64_t ldc, int64_t strideC, bool accumulate);
// C (M,N) = A (M,K) · Bᵀ, B (N,K) rows of IEEE half (bf16 false) or bfloat16 (bf16 true) values
// ldb apart, converted exactly to float32 as the blocked GEMM packs them (no float32 copy of B);
// A rows lda apart, C rows ldc apart, overwritten. Serial on the calling thread (the quantized
// prefill runs one per pool task).
void gemm_f32_halfb(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* B, int64_t ldb, bool bf16, float* C,
                    int64_t ldc);
