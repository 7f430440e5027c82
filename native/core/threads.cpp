// threads.cpp — see threads.h.
#include "threads.h"

#include <omp.h>
#include <xmmintrin.h>

namespace lk {

namespace {
inline void enable_ftz_daz() { _mm_setcsr(_mm_getcsr() | 0x8040); }  // FTZ (bit 15) | DAZ (bit 6)
}  // namespace

int max_compute_threads() { return omp_get_num_procs(); }

void set_compute_threads(int threads) {
  // More threads than cores only oversubscribe them (and a checkpoint's "threads": 1024 made libgomp fail to create
  // its team and exit the process): the team is capped at the core count.
  if (threads <= 0 || threads > omp_get_num_procs()) threads = omp_get_num_procs();
  omp_set_dynamic(0);
  omp_set_num_threads(threads);
  enable_ftz_daz();
#pragma omp parallel num_threads(threads)
  enable_ftz_daz();
}

ScopedSingleThreadCompute::ScopedSingleThreadCompute()
    : saved_mxcsr_(_mm_getcsr()), saved_threads_(omp_get_max_threads()) {
  omp_set_num_threads(1);
  enable_ftz_daz();
}

ScopedSingleThreadCompute::~ScopedSingleThreadCompute() {
  _mm_setcsr(saved_mxcsr_);
  omp_set_num_threads(saved_threads_);
}

}  // namespace lk
