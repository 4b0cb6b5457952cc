/* Times OpenBLAS cblas_sgemm on the shapes given on the command line, for the
 * matmul comparison in bench/matmul.ts (compiled there at bench time with
 * `cc -O2 sgemm_bench.c -lopenblas`; never part of the build or the tests).
 * Knows nothing about slmkit: it mirrors the timing rule of
 * src/native/bench/run.ts (warm up, then repeat until the time budget is spent,
 * report the median) and prints one JSON object per shape.
 *
 * usage: sgemm_bench THREADS SECONDS M,N,K,TA,TB [M,N,K,TA,TB ...]
 *   TA/TB are 0 or 1: op(A) = A^T when TA (A stored K x M), likewise B.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char* openblas_get_corename(void);
extern char* openblas_get_config(void);
extern void openblas_set_num_threads(int);

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static void fill(float* p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = (float)((seed >> 8) & 0xffff) / 65536.0f - 0.5f;
  }
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s THREADS SECONDS M,N,K,TA,TB ...\n", argv[0]);
    return 2;
  }
  int threads = atoi(argv[1]);
  double budget_ms = atof(argv[2]) * 1e3;
  openblas_set_num_threads(threads);
  for (int a = 3; a < argc; ++a) {
    long m, n, k;
    int ta, tb;
    if (sscanf(argv[a], "%ld,%ld,%ld,%d,%d", &m, &n, &k, &ta, &tb) != 5 || m < 1 || n < 1 || k < 1) {
      fprintf(stderr, "bad shape \"%s\" (want M,N,K,TA,TB)\n", argv[a]);
      return 2;
    }
    float* A = aligned_alloc(64, ((size_t)m * k * 4 + 63) / 64 * 64);
    float* B = aligned_alloc(64, ((size_t)k * n * 4 + 63) / 64 * 64);
    float* C = aligned_alloc(64, ((size_t)m * n * 4 + 63) / 64 * 64);
    if (!A || !B || !C) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
    fill(A, (size_t)m * k, 1);
    fill(B, (size_t)k * n, 2);
    memset(C, 0, (size_t)m * n * 4);
    const int lda = ta ? m : k, ldb = tb ? k : n;
#define CALL() cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, \
                           m, n, k, 1.0f, A, lda, B, ldb, 0.0f, C, n)
    /* warm-up: at least 2 calls and ~10% of the budget */
    double t0 = now_ms();
    int w = 0;
    while (w < 2 || now_ms() - t0 < budget_ms * 0.1) { CALL(); ++w; }
    int cap = 1 << 16, reps = 0;
    double* times = malloc(sizeof(double) * cap);
    t0 = now_ms();
    while ((reps < 5 || now_ms() - t0 < budget_ms) && reps < cap) {
      double s = now_ms();
      CALL();
      times[reps++] = now_ms() - s;
    }
    qsort(times, reps, sizeof(double), cmp_double);
    double med = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
    double flops = 2.0 * m * n * k;
    printf("{\"m\":%ld,\"n\":%ld,\"k\":%ld,\"transA\":%s,\"transB\":%s,\"ms\":%.6f,\"gflops\":%.3f,\"reps\":%d,"
           "\"threads\":%d,\"core\":\"%s\",\"config\":\"%s\"}\n",
           m, n, k, ta ? "true" : "false", tb ? "true" : "false", med, flops / med / 1e6, reps, threads,
           openblas_get_corename(), openblas_get_config());
    fflush(stdout);
    free(times);
    free(A);
    free(B);
    free(C);
  }
  return 0;
}
