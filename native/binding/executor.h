// executor.h — the compute pool. Every compute call of the binding (async jobs, and synchronous calls that do not
// run inline) runs on one of its worker threads, each an OpenMP master with a team of its own. The pool has a core
// budget (max_compute_threads(): the CPUs this process may use — its affinity mask and its cgroup's CPU quota):
// jobs start in submission order as long as the threads of the running jobs, this one's included, fit the budget;
// the rest wait (first in, first out: a job never overtakes an earlier one). So several models train at once on a
// many-core machine, each on its own threads, and the process never runs more compute threads than the budget.
// Workers are made when a job needs one and none is free, and are reused most-recently-idle first (one model
// training alone keeps running on the same master and team, as with the single compute thread this replaced:
// successive epochs on different masters made a 2-thread step 30% slower).
#pragma once
#include <functional>

#include "../core/status.h"

namespace lk {

// Queues `job` to run on a worker with `threads` OpenMP threads (0 or more than the budget = the budget) and returns
// at once; `done(status)` runs on the worker right after the job. Exceptions thrown by the job become a Status
// (an allocation failure: OutOfMemory). `owner` tags the task for drop_queued (null: never dropped).
void post_to_compute_thread(int threads, const void* owner, std::function<Status()> job,
                            std::function<void(const Status&)> done);

// Removes the queued (not yet started) tasks of `owner` without running them or their `done`; the environment that
// owned them is going away. Returns how many were removed.
int drop_queued(const void* owner);

// The pool's state, for tests and benchmarks: its budget, the threads of its running jobs, its queued jobs and its
// workers.
struct PoolStats {
  int budget = 0, running_threads = 0, queued = 0, workers = 0;
};
PoolStats pool_stats();

// Work below this many floating-point operations runs inline on the calling thread with one OpenMP thread: handing
// it to the compute thread (a condition-variable wake-up and back, tens of microseconds) would cost more than the
// work itself, e.g. decoding one row of a 784-400-20 model (0.65 MFLOP).
constexpr double kInlineFlops = 4e6;

// Runs a short synchronous `job` of about `flops` floating-point operations now: inline on the calling thread with
// one OpenMP thread when it is small (kInlineFlops) or the pool is busy with other jobs (so a synchronous call never
// waits behind another model's long job), otherwise on a worker (and waits).
Status run_on_compute_thread(int threads, double flops, const std::function<Status()>& job);

}  // namespace lk
