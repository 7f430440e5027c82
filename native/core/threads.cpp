// threads.cpp — see threads.h.
#include "threads.h"

#include <omp.h>
#include <xmmintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace lk {

namespace {
inline void enable_ftz_daz() { _mm_setcsr(_mm_getcsr() | 0x8040); }  // FTZ (bit 15) | DAZ (bit 6)
}  // namespace

namespace {
// The CPUs a cgroup quota (v2 cpu.max "quota period", v1 cpu.cfs_quota_us / cpu.cfs_period_us) allows `dir`, or 0.
int quota_cpus(const std::string& dir, bool v2) {
  double quota = -1, period = 0;
  if (v2) {
    std::ifstream f(dir + "/cpu.max");
    std::string q;
    if (!(f >> q >> period) || q == "max") return 0;
    quota = std::atof(q.c_str());
  } else {
    std::ifstream fq(dir + "/cpu.cfs_quota_us"), fp(dir + "/cpu.cfs_period_us");
    if (!(fq >> quota) || !(fp >> period)) return 0;
  }
  if (quota <= 0 || period <= 0) return 0;
  return std::max(1, static_cast<int>(std::ceil(quota / period)));
}

// The smallest CPU quota of this process's cgroup and its ancestors (cgroup v2 and v1), or 0 for none.
int cgroup_cpus() {
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  int best = 0;
  while (std::getline(f, line)) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    const bool v2 = controllers.empty();
    bool cpu = v2;
    for (size_t i = 0; !v2 && i <= controllers.size();) {
      const size_t j = std::min(controllers.find(',', i), controllers.size());
      cpu = cpu || controllers.compare(i, j - i, "cpu") == 0;
      i = j + 1;
    }
    if (!cpu) continue;
    const std::vector<std::string> roots = v2 ? std::vector<std::string>{"/sys/fs/cgroup"}
                                              : std::vector<std::string>{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"};
    for (;;) {  // the cgroup, then each ancestor up to the root
      for (const std::string& root : roots) {
        const int n = quota_cpus(root + (path == "/" ? "" : path), v2);
        if (n > 0 && (best == 0 || n < best)) best = n;
      }
      if (path.empty() || path == "/") break;
      path = path.substr(0, path.rfind('/'));
      if (path.empty()) path = "/";
    }
  }
  return best;
}
}  // namespace

int max_compute_threads() {
  // omp_get_num_procs() counts the CPUs of this process's affinity mask; a container's CPU quota is read from its
  // cgroup (64 threads on a 64-core host collapse in a container limited to 2 CPUs). Read once.
  static const int budget = [] {
    const int quota = cgroup_cpus();
    return quota > 0 ? std::min(quota, omp_get_num_procs()) : omp_get_num_procs();
  }();
  return budget;
}

void set_compute_threads(int threads) {
  // More threads than the budget only oversubscribe the cores (and a checkpoint's "threads": 1024 made libgomp fail
  // to create its team and exit the process): the team is capped at it.
  if (threads <= 0 || threads > max_compute_threads()) threads = max_compute_threads();
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
