// A persistent thread pool shared by all kernels. Knows nothing about kernels:
// it runs index ranges on worker threads; the calling thread takes part.
// Calls from inside a pool task, or from a second JS thread while the pool is
// busy, run serially on the caller instead of deadlocking.
#pragma once
#include <cstdint>
#include <functional>

namespace slm {

// Number of threads used by parallel calls (including the caller). Defaults to
// SLM_THREADS when set, else the number of online CPUs.
int num_threads();
// Resizes the pool; n <= 0 restores the default.
void set_num_threads(int n);

// Runs fn(task) for every task in [0, ntasks): the caller runs task 0, the other tasks are
// handed out dynamically in order to whichever thread is free.
void parallel_tasks(int64_t ntasks, const std::function<void(int64_t task)>& fn);

// Splits [0, n) into at most num_threads() contiguous ranges of at least
// `grain` items and runs fn(begin, end) on each.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

// Asks pool thread t (1..num_threads()-1) to prefetch [p, p + bytes) into its cache while it
// waits for the next job (e.g. the rows it will take in the next call); the next job stops it
// wherever it got to. Replaces t's earlier range. Only a hint: nothing is read for its value.
void prefetch_while_idle(int t, const void* p, int64_t bytes);

}  // namespace slm
