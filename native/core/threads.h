// threads.h — compute-thread set-up shared by every native job: the OpenMP team size of the calling thread
// (oneDNN's sgemm and our own loops use the same team, so they never oversubscribe) and flush-to-zero /
// denormals-are-zero on every thread of that team (denormals slow training by ~20% otherwise).
#pragma once

namespace lk {

// Sets the OpenMP team size for parallel regions started by the calling thread and turns on FTZ/DAZ on it and
// on the team's threads. threads <= 0 means all cores.
void set_compute_threads(int threads);
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
