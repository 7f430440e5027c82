// executor.h — the single native compute thread. Every compute call of the binding (async jobs and synchronous
// calls alike) runs here, so the process has exactly ONE OpenMP master and one team: libgomp throttles its
// spin-waiting once it manages more threads than there are CPUs, which made a 2-thread training step 30% slower
// when successive epochs ran on different libuv pool threads. Jobs run one at a time, in submission order.
#pragma once
#include <functional>

#include "../core/status.h"

namespace lk {

// Queues `job` to run on the compute thread with `threads` OpenMP threads (0 = all cores) and returns at once;
// `done(status)` runs on the compute thread right after the job. Exceptions thrown by the job become a Status
// (an allocation failure: OutOfMemory). `owner` tags the task for drop_queued (null: never dropped).
void post_to_compute_thread(int threads, const void* owner, std::function<Status()> job,
                            std::function<void(const Status&)> done);

// Removes the queued (not yet started) tasks of `owner` without running them or their `done`; the environment that
// owned them is going away. Returns how many were removed.
int drop_queued(const void* owner);

// Work below this many floating-point operations runs inline on the calling thread with one OpenMP thread: handing
// it to the compute thread (a condition-variable wake-up and back, tens of microseconds) would cost more than the
// work itself, e.g. decoding one row of a 784-400-20 model (0.65 MFLOP).
constexpr double kInlineFlops = 4e6;

// Runs a short synchronous `job` of about `flops` floating-point operations now: inline on the calling thread with
// one OpenMP thread when it is small (kInlineFlops) or the compute thread is busy with another job (so a synchronous
// call never waits behind another model's long job), otherwise on the compute thread (and waits).
Status run_on_compute_thread(int threads, double flops, const std::function<Status()>& job);

}  // namespace lk
