// async_job.h — the ONE shape of every Promise-returning binding call, and the per-environment state behind it.
//
// An AsyncJob is made on the JS thread holding copies of everything it reads (a transferred ArrayBuffer is freed
// under a running job, so nothing may be read from JS memory in place) and references to the JS objects it needs
// (the model, a progress callback); Work() runs on the compute thread (executor.h) with no N-API; the job then
// settles its promise on the JS thread, where Result() builds the JS value from native memory.
//
// Each environment (the main thread and every worker thread) has one JobRegistry, made at module load: it owns the
// environment's one thread-safe queue (referenced only while a job is pending, so an idle addon never keeps the
// event loop alive) and knows its unfinished jobs. When the environment goes away — worker.terminate(), a worker's
// process.exit(), the main thread's process.exit() or normal exit — shutdown_jobs() cancels them, drops the queued
// ones and waits until none is still computing, so no job outlives the model or the libraries it is using.
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "../core/progress.h"

#include "../core/status.h"

namespace lk {

using JsTask = std::function<void(Napi::Env)>;
class JobRegistry;

class AsyncJob {
 public:
  virtual ~AsyncJob();
  // Takes ownership of `job` and posts it; the promise settles on the JS thread. In an environment that is
  // shutting down the promise rejects at once with LATENTKIT_CANCELLED.
  // The promise carries a `cancel()` method (safe to call at any time, also after it settled).
  static Napi::Promise Start(Napi::Env env, AsyncJob* job);
  void request_cancel() { *cancel_ = true; }

 protected:
  AsyncJob(Napi::Env env, int threads);
  bool cancelled() const { return cancel_->load(); }
  const std::atomic<bool>* cancel_flag() const { return cancel_.get(); }
  // Keeps a JS object (a model, a callback) alive until the job settles.
  void keep(const Napi::Value& v);
  // From the compute thread: runs fn on the JS thread soon (dropped when the environment is closing).
  void to_js(JsTask fn);
  // On the JS thread, from a to_js task: a JS callback of this job threw; the job is cancelled and rejects with it.
  void fail_with(const Napi::Error& e);
  // From the compute thread: calls the job's JS callback `fn` (kept by the job) with these numbers on the JS thread,
  // unless the job was cancelled; a throw cancels the job, which rejects with that error.
  void notify(Napi::FunctionReference* fn, std::vector<double> args);

  virtual Status Work() = 0;                                             // compute thread
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }  // JS thread, after success
  virtual void Settled() {}  // JS thread, before the promise settles, whatever the outcome

 private:
  void finish(Napi::Env env, const Status& s);

  JobRegistry* registry_;
  int threads_;
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);  // shared with cancel()
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::Reference<Napi::Value>> kept_;
  Napi::Reference<Napi::Value> js_error_;
};

// A stateless async job: work(cancel flag) on the compute thread, result(env) on the JS thread.
Napi::Promise run_async(Napi::Env env, int threads, std::function<Status(const std::atomic<bool>&)> work,
                        std::function<Napi::Value(Napi::Env)> result);
// The same for an iterative fit: work gets a JobControl whose progress reaches `on_progress` (init, iteration,
// value) on the JS thread, at most every 50 ms and always for the first iteration; on_progress may be empty.
// A throwing callback cancels the job, which rejects with its error.
Napi::Promise run_async(Napi::Env env, int threads, std::function<Status(const JobControl&)> work,
                        std::function<Napi::Value(Napi::Env)> result, Napi::Function on_progress);

// A job's output handed to JS without a copy (Result() runs on the JS thread, and copying and page-faulting a large
// output there stalled the event loop ~400 ms per 125 MB here): the vector's memory becomes the Float32Array's and is
// freed when the array is collected. `v` is left empty.
Napi::Float32Array adopt_array(Napi::Env env, std::vector<float>&& v);

// Module load: the environment's state (env_state.h) with its registry, thread-safe queue and cleanup hook.
void init_jobs(Napi::Env env);
// Cancels and waits for the jobs of the calling environment (the JS `process.on('exit')` hook calls it: the main
// thread's process.exit() runs no environment cleanup hooks before the C library's exit handlers).
void shutdown_jobs(Napi::Env env);

}  // namespace lk
