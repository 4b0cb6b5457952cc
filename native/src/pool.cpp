// Thread pool implementation: workers sleep on a condition variable between
// jobs and spin briefly after each one, so back-to-back kernel calls (the
// common case in a training step) do not pay a futex wake-up each time. While
// spinning, a worker prefetches the range the caller last gave it
// (prefetch_while_idle), if any: a job in between (another kernel) leaves the
// range in place, so the worker resumes it afterwards; the caller replaces it.
#include "pool.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace slm {
namespace {

thread_local bool t_in_pool_task = false;

int default_threads() {
  if (const char* env = std::getenv("SLM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

class Pool {
 public:
  Pool() { resize(default_threads()); }
  ~Pool() { stop_workers(); }

  int size() const { return nthreads_; }

  void resize(int n) {
    if (n <= 0) n = default_threads();
    std::lock_guard<std::mutex> busy(busy_);
    stop_workers();
    nthreads_ = n;
    stopping_ = false;
    // Each worker starts from the generation current now (we hold busy_, so no job can be
    // posted in between): a job posted before a new thread first runs is still seen.
    uint64_t start = generation_.load(std::memory_order_acquire);
    idle_.reset(new Idle[n]);
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, start] { worker_loop(i, start); });
  }

  void run(int64_t ntasks, const std::function<void(int64_t)>& fn) {
    if (ntasks <= 0) return;
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (ntasks == 1 || nthreads_ == 1 || t_in_pool_task || !busy.owns_lock()) {
      for (int64_t i = 0; i < ntasks; ++i) fn(i);
      return;
    }
    job_ = &fn;
    ntasks_ = ntasks;
    // The caller keeps task 0 for itself, so with one worker, task 1 is the worker's first
    // (what decode's idle prefetch predicts); the rest go to whoever is free.
    next_.store(1, std::memory_order_relaxed);
    active_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(mu_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    {
      bool was = t_in_pool_task;
      t_in_pool_task = true;
      fn(0);
      t_in_pool_task = was;
    }
    drain();
    while (active_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    job_ = nullptr;
  }

 private:
  void drain() {
    bool was = t_in_pool_task;
    t_in_pool_task = true;
    for (;;) {
      int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= ntasks_) break;
      (*job_)(i);
    }
    t_in_pool_task = was;
  }

  void worker_loop(int index, uint64_t seen) {
    Idle& idle = idle_[index];
    for (;;) {
      // Spin a little before sleeping: kernels arrive in quick succession. While spinning, pull
      // the lines the caller said the next job will read (prefetch_while_idle) into this core's
      // cache, a few at a time, so that the wait is spent on memory the next job needs.
      bool got = false;
      for (int spin = 0; spin < 20000; ++spin) {
        if (generation_.load(std::memory_order_acquire) != seen || stopping_) { got = true; break; }
        const uint8_t* p = idle.next.load(std::memory_order_relaxed);
        if (p != nullptr && p < idle.end.load(std::memory_order_relaxed)) {
          for (int l = 0; l < kIdleLines; ++l) __builtin_prefetch(p + 64 * l, 0, 2);  // into L2 (prefetcht1)
          idle.next.compare_exchange_strong(p, p + 64 * kIdleLines, std::memory_order_relaxed);
          --spin;
          continue;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
      if (!got) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen || stopping_; });
      }
      if (stopping_) return;
      seen = generation_.load(std::memory_order_acquire);
      drain();
      active_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  struct alignas(64) Idle {
    std::atomic<const uint8_t*> next{nullptr};
    std::atomic<const uint8_t*> end{nullptr};
  };

 public:
  void set_idle(int t, const uint8_t* p, int64_t bytes) {
    if (t < 1 || t >= nthreads_ || !idle_) return;
    Idle& idle = idle_[t];
    idle.next.store(nullptr, std::memory_order_relaxed);
    idle.end.store(p + bytes, std::memory_order_relaxed);
    idle.next.store(p, std::memory_order_release);
  }

 private:
  static constexpr int kIdleLines = 4;
  std::unique_ptr<Idle[]> idle_;
  int nthreads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex busy_;  // held by the thread that owns the pool for one job
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_{0};
  std::atomic<int> active_{0};
  int64_t ntasks_ = 0;
  const std::function<void(int64_t)>* job_ = nullptr;
  std::atomic<bool> stopping_{false};
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: workers must outlive static teardown
  return *p;
}

}  // namespace

int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(n); }

void prefetch_while_idle(int t, const void* p, int64_t bytes) { pool().set_idle(t, static_cast<const uint8_t*>(p), bytes); }

void parallel_tasks(int64_t ntasks, const std::function<void(int64_t)>& fn) { pool().run(ntasks, fn); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t chunks = (n + grain - 1) / grain;
  int64_t nt = num_threads();
  if (chunks > nt) chunks = nt;
  if (chunks <= 1) { fn(0, n); return; }
  int64_t per = n / chunks, rem = n % chunks;
  pool().run(chunks, [&](int64_t c) {
    int64_t b = c * per + (c < rem ? c : rem);
    int64_t e = b + per + (c < rem ? 1 : 0);
    fn(b, e);
  });
}

}  // namespace slm
