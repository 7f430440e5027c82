// threads.h — compute-thread set-up shared by every native job: the OpenMP team size of the calling thread
// (oneDNN's sgemm and our own loops use the same team, so they never oversubscribe) and flush-to-zero /
// denormals-are-zero on every thread of that team (denormals slow training by ~20% otherwise).
#pragma once
#include <cstdint>

#include <omp.h>

#include <algorithm>
#include <exception>
#include <new>

#include "memory.h"
#include "status.h"

namespace lk {

// Below this many elements an elementwise pass between GEMMs (bias, activations, bf16 conversions, likelihood,
// reparameterisation, draws) stays serial: a parallel region there parks and wakes the OpenMP team that oneDNN uses,
// which costs more than it saves on small arrays (at batch 128, 2 threads, keeping the step's passes of ≤ 100k
// elements serial took the VAE step from 35k to 56k examples/s); on large ones the serial pass is what the other
// threads wait for (at batch 1,024, 2 threads, bf16, running the 400k–800k-element passes on the team was faster
// than serial in 8 of 8 paired rounds, +4 % at the median).
constexpr int64_t kElementwiseParallelMin = int64_t(1) << 18;

// Runs body(item, thread) for items 0 … n − 1 spread over the OpenMP team (dynamic schedule): each thread owns
// its own buffers (indexed by `thread`, < max_compute_threads()), and GEMMs and kernels inside run on their calling
// thread alone (OpenMP and oneDNN do not nest), so no step of a pass is serial. Returns the first error.
template <typename Body>
Status parallel_items(int64_t n, Body body) {
  Status first;
#pragma omp parallel for schedule(dynamic) if (n > 1)
  for (int64_t i = 0; i < n; ++i) {
    Status s;
    try {  // no exception may leave an OpenMP region: an allocation that failed becomes a Status here
      s = body(i, omp_get_thread_num());
    } catch (const std::bad_alloc& e) {
      s = out_of_memory_status(e);
    } catch (const std::exception& e) {
      s = Status::Error(Code::Backend, e.what());
    }
    if (!s.ok()) {
#pragma omp critical(lk_parallel_items_first_error)
      if (first.ok()) first = s;
    }
  }
  return first;
}

// Runs body(r0, B, slot) for rows [0, n) in chunks of `chunk` rows. Chunk c belongs to slot c mod S (S = min(the
// team size, the chunks)) and each slot runs its chunks in order, the slots spread over the team (parallel_items):
// buffers and accumulators indexed by `slot` then see the same chunks in the same order on every run, so sums over
// rows do not depend on which thread was faster (per-thread accumulators under a dynamic schedule gave a mixture
// fit 3 different results in 10). Sum the slots' accumulators in slot order afterwards.
template <typename Body>
Status for_each_chunk(int64_t n, int64_t chunk, Body body) {
  const int64_t chunks = (n + chunk - 1) / chunk;
  const int64_t slots = std::min<int64_t>(omp_get_max_threads(), std::max<int64_t>(chunks, 1));
  return parallel_items(slots, [&](int64_t slot, int) -> Status {
    for (int64_t c = slot; c < chunks; c += slots)
      LK_RETURN_IF_ERROR(body(c * chunk, std::min(chunk, n - c * chunk), static_cast<int>(slot)));
    return Status::Ok();
  });
}

// Sets the OpenMP team size for parallel regions started by the calling thread and turns on FTZ/DAZ on it and
// on the team's threads. threads <= 0 means the budget; more than the budget are capped at it.
void set_compute_threads(int threads);
// The compute budget: the CPUs this process may use (its affinity mask, and its cgroup's CPU quota rounded up).
int max_compute_threads();

// For the lifetime of this object the calling thread computes alone (OpenMP team of one, so no thread pool is
// created for it) with FTZ/DAZ on; its previous OpenMP setting and MXCSR (which JS on that thread relies on) are
// restored afterwards.
class ScopedSingleThreadCompute {
 public:
  ScopedSingleThreadCompute();
  ~ScopedSingleThreadCompute();
  ScopedSingleThreadCompute(const ScopedSingleThreadCompute&) = delete;
  ScopedSingleThreadCompute& operator=(const ScopedSingleThreadCompute&) = delete;

 private:
  unsigned saved_mxcsr_;
  int saved_threads_;
};

}  // namespace lk
