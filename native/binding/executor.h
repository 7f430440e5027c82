// executor.h — the single native compute thread. Every compute call of the binding (async jobs and synchronous
// calls alike) runs here, so the process has exactly ONE OpenMP master and one team: libgomp throttles its
// spin-waiting once it manages more threads than there are CPUs, which made a 2-thread training step 30% slower
// when successive epochs ran on different libuv pool threads. Jobs run one at a time, in submission order.
#pragma once
#include <functional>

#include "../core/status.h"

namespace lk {

// Runs `job` on the compute thread with `threads` OpenMP threads (0 = all cores) and waits for it. Exceptions
// thrown by the job become a Backend status.
Status run_on_compute_thread(int threads, const std::function<Status()>& job);

}  // namespace lk
