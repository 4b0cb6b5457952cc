// The quantized products' driver, compiled once per instruction set: picks
// the path for each call and splits the work over the pool.
//   y = x·Wᵀ, m <= kQuantRows (decode, batched decode): the activation rows are
//     quantized once on the calling thread (qact.cpp), then each thread takes a
//     contiguous range of W's rows and, row by row, dots it with every
//     activation row (qdot_*.cpp). A row (<= ~3 KB) is read from memory once and
//     from L1 for the other m - 1 activation rows, so W streams once per call.
//     qgemm_multi does this for several matrices that share x (a layer's q/k/v,
//     gate/up) with one quantization of x and one pool dispatch for all of them.
//   y = x·Wᵀ, m > kQuantRows (prefill): Q8_0/Q4_0/Q5_0 on AVX-512 VNNI run the
//     int8 GEMM of qgemm_i8.cpp; otherwise panels of W's rows are dequantized to
//     float32 in a per-thread buffer and multiplied with gemm_f32 (one panel per
//     task, the GEMM runs serially inside the task).
//   F32 weights go straight to gemm_f32.
//   dx = dy·W, m <= kQuantRows: threads own column slabs of dx; each dequantizes
//     its slab of every row once and adds it, scaled, into the m rows of the slab.
//   dx = dy·W, m > kQuantRows (training): column slabs per thread, panels of
//     W's rows dequantized within the slab, one float GEMM per panel.
//   qgather: rows dequantized exactly, split over threads.
// Knows nothing about models; the contract is qgemm.h.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "isa.h"
#include "kernels/qinternal.h"
#include "kernels/simd.h"
#include "pool.h"

#if defined(SLM_ISA_AVX512) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace slm {
namespace SLM_ISA {

namespace {

// Activation rows up to which the integer path is used (src/native/ops/qgemm.ts QGEMM_QUANT_ROWS).
constexpr int64_t kQuantRows = 8;
// Weight matrices one qgemm_multi call runs in one dispatch (more are run in several).
constexpr int kMaxJobs = 8;
// A parallel decode call is cut into up to kTasksPerThread ranges per thread, each of at
// least kTaskBytes of weights (at least one per thread).
constexpr int64_t kTasksPerThread = 4;
constexpr int64_t kTaskBytes = int64_t(1) << 17;
// Below this many multiply-adds a product stays on the calling thread: waking the pool costs more.
constexpr int64_t kSerialMacs = int64_t(1) << 18;
// Rows of a prefill panel of dequantized rows (per thread, reused buffer).
constexpr int64_t kPanelRows = 1024;
// Columns per slab of the transposed product.
constexpr int64_t kSlabCols = 512;
// Bytes of dequantized float32 rows per panel of the transposed product for m > kQuantRows.
constexpr int64_t kPanelBytes = int64_t(1) << 21;

// Activation rows quantized for one block size (32 or 256 values per scale), calling thread only.
struct ActBufs {
  std::vector<int8_t> q;     // (m, cols)
  std::vector<float> d;      // (m, cols / block)
  std::vector<int16_t> s;    // (m, cols / 16)
  qt::ActRow rows[kQuantRows];
};
thread_local ActBufs t_act32, t_act256;
// Calling thread: activation rows packed for the wide loops, one buffer per wide type (Q8_0, Q4_0, Q5_0).
thread_local std::vector<uint8_t> t_wide[3];
thread_local std::vector<float> t_panel;   // per thread: dequantized rows

using DotFn = float (*)(const uint8_t*, const qt::ActRow&, int64_t);
using Dot4Fn = void (*)(const uint8_t*, int64_t, const qt::ActRow&, int64_t, float*);

// How far ahead of the row being multiplied the decode loops prefetch.
constexpr int64_t kPrefetchBytes = 2048;

inline void prefetch_row(const uint8_t* p, int64_t bytes) {
  for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 3);
}

// x (m, cols) -> bufs.rows[0..m): 8-bit codes, one scale per `block` values.
const qt::ActRow* quantize_acts(ActBufs& bufs, const float* x, int64_t m, int64_t cols, int block) {
  bufs.q.resize(static_cast<size_t>(m * cols));
  bufs.d.resize(static_cast<size_t>(m * cols / block));
  bufs.s.resize(static_cast<size_t>(m * cols / 16));
  for (int64_t i = 0; i < m; ++i) {
    int8_t* q = bufs.q.data() + i * cols;
    float* d = bufs.d.data() + i * cols / block;
    int16_t* s = bufs.s.data() + i * cols / 16;
    quantize_act_row(x + i * cols, cols, block, q, d, s);
    bufs.rows[i] = {q, d, s};
  }
  return bufs.rows;
}

// One weight matrix of a decode call (m <= kQuantRows; quantized, F16 or BF16) with its
// activations prepared on the calling thread; threads then run ranges of its rows.
struct DecodeJob {
  float* y;                   // (m, rows)
  int type;
  const uint8_t* w;           // rows · rb bytes
  int64_t rows, rb, nblocks;
  const qt::ActRow* act;      // int8 loops: the m quantized activation rows
  const void* packs[kQuantRows];  // wide loops: the m packed rows (packs[0] null otherwise)
  int64_t ahead;              // rows prefetched ahead
};

DecodeJob make_job(float* y, int type, const uint8_t* w, int64_t rows, int64_t cols) {
  DecodeJob j{};
  j.y = y;
  j.type = type;
  j.w = w;
  j.rows = rows;
  j.rb = qt::row_bytes(type, cols);
  j.nblocks = cols / qt::block_size(type);
  // Prefetch about kPrefetchBytes ahead: a dot product spends many instructions per cache
  // line, so the out-of-order window alone keeps too few lines in flight to stream from DRAM.
  j.ahead = std::max<int64_t>(1, (kPrefetchBytes + j.rb - 1) / j.rb);
  return j;
}

// Quantizes (once per block size) and packs (once per wide type) x for each job.
void prepare_jobs(DecodeJob* jobs, int n, const float* x, int64_t m, int64_t cols) {
  const qt::ActRow* act[2] = {nullptr, nullptr};  // block 32, block 256
  const void* packed[3][kQuantRows] = {};          // wide Q8_0, Q4_0, Q5_0
  for (int k = 0; k < n; ++k) {
    DecodeJob& j = jobs[k];
    if (j.type == qt::F16 || j.type == qt::BF16) continue;
    const int b = qt::block_size(j.type) == 256 ? 1 : 0;
    if (!act[b]) act[b] = quantize_acts(b ? t_act256 : t_act32, x, m, cols, b ? 256 : 32);
    j.act = act[b];
    if (!wide_decode(j.type)) continue;
    // AVX-512 VNNI, Q4_0 / Q5_0 / Q8_0: the activation rows regrouped for the 512-bit loops
    // (qact.cpp, qdot_wide.inc).
    const int t = j.type == qt::Q8_0 ? 0 : j.type == qt::Q4_0 ? 1 : 2;
    if (!packed[t][0]) {
      const int64_t pb = wide_row_bytes(j.type, j.nblocks);
      t_wide[t].resize(static_cast<size_t>(m * pb + 64));
      uint8_t* base = t_wide[t].data() + (64 - reinterpret_cast<uintptr_t>(t_wide[t].data()) % 64) % 64;
      for (int64_t i = 0; i < m; ++i) {
        pack_act_wide(j.type, j.act[i], j.nblocks, base + i * pb);
        packed[t][i] = base + i * pb;
      }
    }
    for (int64_t i = 0; i < m; ++i) j.packs[i] = packed[t][i];
  }
}

// Rows [r0, r1) of one job (r0 a multiple of 4), on the calling pool thread.
void run_rows(const DecodeJob& j, const float* x, int64_t m, int64_t cols, int64_t r0, int64_t r1) {
  const int64_t rb = j.rb;
  const uint8_t* w = j.w;
  float* y = j.y;
  if (j.type == qt::F16 || j.type == qt::BF16) {
    const bool bf = j.type == qt::BF16;
    for (int64_t r = r0; r < r1; ++r) {
      if (r + j.ahead < r1) prefetch_row(w + (r + j.ahead) * rb, rb);
      for (int64_t i = 0; i < m; ++i) y[i * j.rows + r] = bf ? dot_bf16(w + r * rb, x + i * cols, cols) : dot_f16(w + r * rb, x + i * cols, cols);
    }
    return;
  }
  if (j.packs[0]) {
    dot_rows_wide(j.type, w + r0 * rb, rb, r1 - r0, j.nblocks, j.packs, m, y + r0, j.rows);
    return;
  }
  const int type = j.type;
  const int64_t nblocks = j.nblocks, ahead = j.ahead;
  DotFn dot = type == qt::Q8_0 ? dot_q8_0 : type == qt::Q4_0 ? dot_q4_0 : type == qt::Q5_0 ? dot_q5_0
            : type == qt::Q5_1 ? dot_q5_1 : type == qt::Q4_K ? dot_q4_k : type == qt::Q5_K ? dot_q5_k : dot_q6_k;
  // Four rows per pass where it measured faster (CPU time, 1 thread, 4864x896: Q4_0 278 ->
  // 200-222 us, Q5_0 345 -> 300-315 us); Q8_0 got slower (248 -> 316-337 us), so it stays
  // row by row.
  Dot4Fn dot4 = type == qt::Q4_0 ? dot4_q4_0 : type == qt::Q5_0 ? dot4_q5_0 : nullptr;
  int64_t r = r0;
  if (dot4) {
    float out[4];
    for (; r + 4 <= r1; r += 4) {
      const uint8_t* wr = w + r * rb;
      if (r + 4 + ahead <= r1) prefetch_row(wr + (4 + ahead) * rb - 4 * rb, 4 * rb);
      for (int64_t i = 0; i < m; ++i) {
        dot4(wr, rb, j.act[i], nblocks, out);
        for (int k = 0; k < 4; ++k) y[i * j.rows + r + k] = out[k];
      }
    }
  }
  for (; r < r1; ++r) {
    const uint8_t* wr = w + r * rb;
    if (r + ahead < r1) prefetch_row(wr + ahead * rb, rb);
    for (int64_t i = 0; i < m; ++i) y[i * j.rows + r] = dot(wr, j.act[i], nblocks);
  }
}

// Idle prefetch. Between two decode calls the calling thread runs the norms, attention and the
// JavaScript in between while the pool's workers only spin, and memory sits idle. Decode runs
// the same sequence of calls every token, so each calling thread remembers, per call (keyed by
// its first weight), where each worker's rows began in the call that came next the last time;
// after a call it asks each worker to prefetch the start of its rows of the predicted next call
// while it waits (pool.h prefetch_while_idle). A wrong guess costs only bandwidth.
constexpr int kHintThreads = 8;                 // workers 1..7 get hints
constexpr int kHintSlots = 1024;                // calls remembered per calling thread
constexpr int64_t kIdleBytes = int64_t(1) << 20;  // at most this much per worker and call
struct NextStarts {
  const uint8_t* key;
  const uint8_t* p[kHintThreads];
  int64_t bytes[kHintThreads];
};
thread_local std::vector<NextStarts> t_next;
thread_local const uint8_t* t_prev_key = nullptr;
std::atomic<int> g_idle_prefetch{-1};  // -1 undecided (SLM_IDLE_PREFETCH=0 turns it off), 0 off, 1 on

bool idle_prefetch_on() {
  int v = g_idle_prefetch.load(std::memory_order_relaxed);
  if (v < 0) {
    const char* e = std::getenv("SLM_IDLE_PREFETCH");
    v = e && e[0] == '0' ? 0 : 1;
    g_idle_prefetch.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

NextStarts& next_slot(const uint8_t* key) {
  if (t_next.empty()) t_next.resize(kHintSlots);
  const uint64_t h = (reinterpret_cast<uintptr_t>(key) >> 6) * 0x9E3779B97F4A7C15ull;
  return t_next[h >> (64 - 10)];
}

// Runs n prepared jobs that share x (m, cols) in one pool dispatch. Their rows are laid end to
// end as one run of quads (rows 4q..4q+3 of one matrix; a matrix's last quad may be short) and
// cut into one contiguous range per thread (task t goes to pool thread t unless a thread is
// late, when another takes it), so a quad's rows go through the four-row loops together
// whatever the split: every output is computed by one thread in a fixed order, the same as when
// the matrix is multiplied alone and whatever the thread count. Products under kSerialMacs in
// all stay on the caller.
void run_jobs(const DecodeJob* jobs, int n, const float* x, int64_t m, int64_t cols) {
  int64_t first[kMaxJobs + 1];
  first[0] = 0;
  for (int k = 0; k < n; ++k) first[k + 1] = first[k] + (jobs[k].rows + 3) / 4;
  const int64_t quads = first[n];
  const int64_t quad_grain = std::max<int64_t>(1, kSerialMacs / std::max<int64_t>(1, cols * m) / 4);
  const int64_t threads = num_threads();
  int64_t chunks = std::min<int64_t>(threads, (quads + quad_grain - 1) / quad_grain);
  if (chunks > 1) {
    // Several ranges per thread on big calls, taken in order by whichever thread is free: a
    // thread that starts late (woken late, descheduled) or whose first rows were prefetched
    // while it waited does not leave the others idle at the end.
    int64_t bytes = 0;
    for (int k = 0; k < n; ++k) bytes += jobs[k].rows * jobs[k].rb;
    chunks = std::max(chunks, std::min({threads * kTasksPerThread, bytes / kTaskBytes, quads}));
  }
  const int64_t per = quads / std::max<int64_t>(1, chunks), rem = quads % std::max<int64_t>(1, chunks);
  auto begin = [&](int64_t c) { return c * per + std::min(c, rem); };
  auto run = [&](int64_t q0, int64_t q1) {
    for (int k = 0; k < n; ++k) {
      const int64_t a = std::max(q0, first[k]), b = std::min(q1, first[k + 1]);
      if (a < b) run_rows(jobs[k], x, m, cols, 4 * (a - first[k]), std::min(jobs[k].rows, 4 * (b - first[k])));
    }
  };
  if (chunks <= 1) {
    run(0, quads);
    return;
  }
  const bool hint = idle_prefetch_on();
  const int64_t hinted = std::min<int64_t>({threads, chunks, kHintThreads});  // range t is pool thread t's first
  if (hint) {
    // Where each worker's rows begin in this call, remembered for the call before it.
    if (t_prev_key != nullptr) {
      NextStarts& ns = next_slot(t_prev_key);
      ns.key = t_prev_key;
      for (int t = 1; t < kHintThreads; ++t) {
        ns.p[t] = nullptr;
        ns.bytes[t] = 0;
        if (t >= hinted) continue;
        // From the start of range t to the end of its matrix: a thread whose first range is in
        // cache finishes it early and takes the next ranges, which follow it in memory.
        const int64_t q = begin(t);
        int k = 0;
        while (first[k + 1] <= q) ++k;
        const int64_t r = 4 * (q - first[k]);
        ns.p[t] = jobs[k].w + r * jobs[k].rb;
        ns.bytes[t] = (jobs[k].rows - r) * jobs[k].rb;
      }
    }
    for (int t = 1; t < hinted; ++t) prefetch_while_idle(t, nullptr, 0);
  }
  parallel_tasks(chunks, [&](int64_t c) { run(begin(c), begin(c + 1)); });
  if (hint) {
    const uint8_t* key = jobs[0].w;
    const NextStarts& ns = next_slot(key);
    if (ns.key == key)
      for (int t = 1; t < kHintThreads; ++t)
        if (ns.p[t]) prefetch_while_idle(t, ns.p[t], std::min(ns.bytes[t], kIdleBytes));
    t_prev_key = key;
  }
}

void prefill_panels(float* y, const float* x, int64_t m, int type, const uint8_t* w, int64_t rows, int64_t cols) {
  const int64_t rb = qt::row_bytes(type, cols);
  const int64_t nblocks = cols / qt::block_size(type);
  const int64_t threads = num_threads();
  // Panels of at most kPanelRows rows, a whole number per thread: every panel's GEMM packs
  // all of x again (m x cols floats), so panels are as tall as balance allows (with 107-row
  // panels, 512x896x4864 spent ~25% of its time repacking x: 74 vs 99 GFLOP per CPU-s).
  const int64_t per_thread = (rows + threads - 1) / threads;
  const int64_t k = (per_thread + kPanelRows - 1) / kPanelRows;
  const int64_t p = std::max<int64_t>(1, (rows + threads * k - 1) / (threads * k));
  const int64_t npanels = (rows + p - 1) / p;
  parallel_tasks(npanels, [&](int64_t t) {
    const int64_t r0 = t * p, r1 = std::min(rows, r0 + p);
    if (type == qt::F16 || type == qt::BF16) {
      // Converted while the GEMM packs them: no float32 panel written and read back (17 MB per
      // task for a Qwen2.5-0.5B down projection).
      gemm_f32_halfb(m, r1 - r0, cols, x, cols, reinterpret_cast<const uint16_t*>(w + r0 * rb), cols, type == qt::BF16, y + r0, rows);
      return;
    }
    t_panel.resize(static_cast<size_t>(p * cols));
    float* wp = t_panel.data();
    for (int64_t r = r0; r < r1; ++r) dequant_blocks(type, w + r * rb, nblocks, wp + (r - r0) * cols);
    gemm_f32(1, m, r1 - r0, cols, x, cols, 0, false, wp, cols, 0, true, y + r0, rows, 0, false);
  });
}

inline void axpy(float* dst, const float* src, float g, int64_t n) {
  const VF vg = VF::set1(g);
  int64_t k = 0;
  for (; k + VF::W <= n; k += VF::W) fmadd(vg, VF::load(src + k), VF::load(dst + k)).store(dst + k);
  for (; k < n; ++k) dst[k] += g * src[k];
}

}  // namespace

bool qgemm_set_idle_prefetch(int mode) {
  if (mode >= 0) g_idle_prefetch.store(mode > 0 ? 1 : 0, std::memory_order_relaxed);
  return idle_prefetch_on();
}

// y (m,rows), x (m,cols), w (rows · row_bytes)
void qgemm(float* y, const float* x, int64_t m, int type, const uint8_t* w, int64_t rows, int64_t cols) {
  if (type == qt::F32) {
    gemm_f32(1, m, rows, cols, x, cols, 0, false, reinterpret_cast<const float*>(w), cols, 0, true, y, rows, 0, false);
  } else if (m > kQuantRows) {
    if (!prefill_int8(y, x, m, type, w, rows, cols)) prefill_panels(y, x, m, type, w, rows, cols);
  } else {
    DecodeJob j = make_job(y, type, w, rows, cols);
    prepare_jobs(&j, 1, x, m, cols);
    run_jobs(&j, 1, x, m, cols);
  }
}

// ys[k] (m,rows[k]), x (m,cols), ws[k] (rows[k] · row_bytes), k < n
void qgemm_multi(float* const* ys, const float* x, int64_t m, int n, const int* types, const uint8_t* const* ws, const int64_t* rows,
                 int64_t cols) {
  for (int k0 = 0; k0 < n; k0 += kMaxJobs) {
    DecodeJob jobs[kMaxJobs];
    int nj = 0;
    for (int k = k0; k < std::min(n, k0 + kMaxJobs); ++k) {
      if (types[k] == qt::F32 || m > kQuantRows) qgemm(ys[k], x, m, types[k], ws[k], rows[k], cols);
      else jobs[nj++] = make_job(ys[k], types[k], ws[k], rows[k], cols);
    }
    if (nj == 0) continue;
    prepare_jobs(jobs, nj, x, m, cols);
    run_jobs(jobs, nj, x, m, cols);
  }
}

namespace {

// dx = dy·W for m > kQuantRows (training's input gradient): each thread owns a column slab of
// dx (whole blocks, about cols / threads wide), dequantizes panels of W's rows restricted to the
// slab and runs a float GEMM per panel, dx[:, slab] (+)= dy[:, panel rows] · panel. The first
// panel writes, the rest accumulate. (The axpy path below streams dx's slab once per W row,
// which at m in the thousands runs from memory, not cache; with it a LoRA step over a q8_0
// base ran 2.5x slower than over float32 in bench/finetune.ts.)
void transposed_panels(float* dx, const float* dy, int64_t m, int type, const uint8_t* w, int64_t rows, int64_t cols) {
  const int64_t bs = qt::block_size(type), bb = qt::block_bytes(type), rb = qt::row_bytes(type, cols);
  const int64_t threads = num_threads();
  int64_t slab = (cols + threads - 1) / threads;
  slab = std::max(bs, (slab + bs - 1) / bs * bs);
  const int64_t nslabs = (cols + slab - 1) / slab;
  const int64_t p = std::min<int64_t>(rows, std::max<int64_t>(16, kPanelBytes / (4 * slab)));
  parallel_tasks(nslabs, [&](int64_t s) {
    const int64_t c0 = s * slab, width = std::min(slab, cols - c0);
    t_panel.resize(static_cast<size_t>(p * width));
    float* wp = t_panel.data();
    for (int64_t r0 = 0; r0 < rows; r0 += p) {
      const int64_t r1 = std::min(rows, r0 + p);
      for (int64_t r = r0; r < r1; ++r) dequant_blocks(type, w + r * rb + c0 / bs * bb, width / bs, wp + (r - r0) * width);
      // dx[:, c0:c0+width] (m, width; ldc cols) (+)= dy[:, r0:r1] (m, r1-r0; lda rows) · wp (r1-r0, width)
      gemm_f32(1, m, width, r1 - r0, dy + r0, rows, 0, false, wp, width, 0, false, dx + c0, cols, 0, r0 > 0);
    }
  });
}

}  // namespace

// dx (m,cols), dy (m,rows), w (rows · row_bytes)
void qgemm_t(float* dx, const float* dy, int64_t m, int type, const uint8_t* w, int64_t rows, int64_t cols) {
  if (m > kQuantRows) {
    transposed_panels(dx, dy, m, type, w, rows, cols);
    return;
  }
  const int64_t bs = qt::block_size(type), bb = qt::block_bytes(type), rb = qt::row_bytes(type, cols);
  // Slabs are whole blocks: kSlabCols rounded up to the block size.
  const int64_t slab = std::max(bs, (kSlabCols + bs - 1) / bs * bs);
  const int64_t nslabs = (cols + slab - 1) / slab;
  const int64_t per = std::max<int64_t>(1, slab * rows * m);
  parallel_for(nslabs, std::max<int64_t>(1, kSerialMacs / per), [&](int64_t s0, int64_t s1) {
    t_panel.resize(static_cast<size_t>(slab));
    float* tmp = t_panel.data();
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t c0 = s * slab, width = std::min(slab, cols - c0);
      for (int64_t i = 0; i < m; ++i) std::memset(dx + i * cols + c0, 0, static_cast<size_t>(width) * sizeof(float));
      for (int64_t r = 0; r < rows; ++r) {
        dequant_blocks(type, w + r * rb + c0 / bs * bb, width / bs, tmp);
        for (int64_t i = 0; i < m; ++i) {
          const float g = dy[i * rows + r];
          if (g != 0.f) axpy(dx + i * cols + c0, tmp, g, width);
        }
      }
    }
  });
}

// out (n,cols), w (rows · row_bytes), ids (n) in [0,rows)
void qgather(float* out, int type, const uint8_t* w, int64_t /*rows*/, int64_t cols, const int32_t* ids, int64_t n) {
  const int64_t rb = qt::row_bytes(type, cols), nblocks = cols / qt::block_size(type);
  parallel_for(n, std::max<int64_t>(1, (int64_t(1) << 15) / cols), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) dequant_blocks(type, w + static_cast<int64_t>(ids[i]) * rb, nblocks, out + i * cols);
  });
}

}  // namespace SLM_ISA
}  // namespace slm
