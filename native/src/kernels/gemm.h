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
