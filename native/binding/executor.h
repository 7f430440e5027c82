// executor.h — the single native compute thread. Every compute call of the binding (async jobs and synchronous
// calls alike) runs here, so the process has exactly ONE OpenMP master and one team: libgomp throttles its
// spin-waiting once it manages more threads than there are CPUs, which made a 2-thread training step 30% slower
// when successive epochs ran on different libuv pool threads. Jobs run one at a time, in submission order.
#pragma once
#include <functional>

#include "../core/status.h"

namespace lk {

// Queues `job` to run on the compute thread with `threads` OpenMP threads (0 = all cores) and returns at once;
// `done(status)` runs on the compute thread right after the job. Exceptions thrown by the job become a Backend status.
void post_to_compute_thread(int threads, std::function<Status()> job, std::function<void(const Status&)> done);

// Runs a short synchronous `job` now: on the compute thread when it is idle (and waits), otherwise inline on the
// calling thread with one OpenMP thread, so a synchronous call never waits behind another model's long job.
Status run_on_compute_thread(int threads, const std::function<Status()>& job);

}  // namespace lk
