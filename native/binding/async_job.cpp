// async_job.cpp — see async_job.h.
#include "async_job.h"

#include <dlfcn.h>

#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <set>

#include "../core/memory.h"
#include "args.h"
#include "env_state.h"
#include "executor.h"

namespace lk {

namespace {

void run_js_task(Napi::Env env, Napi::Function, std::nullptr_t*, JsTask* task) {
  std::unique_ptr<JsTask> owned(task);
  if (env != nullptr) (*owned)(env);  // env is null while Node tears the environment down: the task is dropped
}
using JsQueue = Napi::TypedThreadSafeFunction<std::nullptr_t, JsTask, run_js_task>;

std::mutex g_registries_mu;
std::set<JobRegistry*> g_registries;  // every live environment's registry, for the process-exit handler

}  // namespace

class JobRegistry {
 public:
  explicit JobRegistry(Napi::Env env) : queue_(JsQueue::New(env, "latentkit.jobs", 0, 1)) {
    queue_.Unref(env);
    std::lock_guard<std::mutex> lock(g_registries_mu);
    g_registries.insert(this);
  }
  ~JobRegistry() {
    std::lock_guard<std::mutex> lock(g_registries_mu);
    g_registries.erase(this);
  }

  // JS thread: a job starts; false when the environment is shutting down.
  bool begin(Napi::Env env, AsyncJob* job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closing_) return false;
      unfinished_.insert(job);
    }
    if (pending_js_++ == 0) queue_.Ref(env);
    return true;
  }

  // Compute thread, after the job's work: hands `finish` to the JS thread. The job leaves unfinished_ before the
  // hand-over (once handed over, the JS thread may delete it and a new job may reuse its address); queue_users_
  // keeps cancel_and_wait waiting until the hand-over is complete, after which nothing of this environment is
  // touched by the compute thread.
  void work_done(AsyncJob* job, JsTask finish) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      unfinished_.erase(job);
      ++queue_users_;
    }
    auto* task = new JsTask(std::move(finish));
    if (queue_.BlockingCall(task) != napi_ok) delete task;  // closing: the job is leaked with its references
    std::lock_guard<std::mutex> lock(mu_);
    --queue_users_;
    cv_.notify_all();
  }

  // Compute thread: a progress task (dropped when the queue is closing).
  void post(JsTask fn) {
    auto* task = new JsTask(std::move(fn));
    if (queue_.NonBlockingCall(task) != napi_ok) delete task;
  }

  // JS thread, when a job settles.
  void settled(Napi::Env env) {
    if (--pending_js_ == 0 && !released_) queue_.Unref(env);
  }

  // Any thread: cancel every unfinished job, drop those still queued, wait for the one computing.
  void cancel_and_wait() {
    std::unique_lock<std::mutex> lock(mu_);
    closing_ = true;
    for (auto it = unfinished_.begin(); it != unfinished_.end();) {
      (*it)->request_cancel();
      if (drop_queued(*it) > 0)
        it = unfinished_.erase(it);  // never ran: leaked, as its JS references belong to a closing environment
      else
        ++it;
    }
    cv_.wait(lock, [&] { return unfinished_.empty() && queue_users_ == 0; });
  }

  // JS thread: cancel_and_wait, then release the queue so the environment can close it.
  void shutdown() {
    cancel_and_wait();
    if (!released_) {
      released_ = true;
      queue_.Release();
    }
  }

 private:
  JsQueue queue_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<AsyncJob*> unfinished_;  // started, and their work not yet done
  int queue_users_ = 0;             // compute-side hand-overs to queue_ in progress
  bool closing_ = false;
  int pending_js_ = 0;     // JS thread only: started and not settled (queue_ is referenced while > 0)
  bool released_ = false;  // JS thread only
};

namespace {

JobRegistry* registry_of(Napi::Env env) { return env_state(env).jobs; }

void cleanup_hook(void* arg) { static_cast<JobRegistry*>(arg)->shutdown(); }

// The C library's exit handlers run before the shared libraries' finalisers (libgomp, OpenBLAS, oneDNN's JIT code):
// no compute may still be running in them then.
void at_process_exit() {
  std::lock_guard<std::mutex> lock(g_registries_mu);
  for (JobRegistry* r : g_registries) r->cancel_and_wait();
}

// Node unloads an addon when the last environment that loaded it goes away (a worker that loaded latentkit ends
// while the main thread never did): the compute thread and the OpenMP workers would then run unmapped code. The
// addon pins itself (and so its libraries) for the life of the process.
void pin_addon() {
  Dl_info self;
  if (dladdr(reinterpret_cast<void*>(&pin_addon), &self) && self.dli_fname)
    dlopen(self.dli_fname, RTLD_NOW | RTLD_NODELETE | RTLD_NOLOAD);
}

}  // namespace

void init_jobs(Napi::Env env) {
  static std::once_flag process_setup;  // workers may load the addon concurrently
  std::call_once(process_setup, [] {
    pin_addon();
    std::atexit(at_process_exit);
  });
  auto* state = new EnvState();
  env.SetInstanceData<EnvState>(state);
  state->jobs = new JobRegistry(env);  // before the hook: the queue's own teardown runs after our hook
  napi_add_env_cleanup_hook(env, cleanup_hook, state->jobs);
}

void shutdown_jobs(Napi::Env env) { registry_of(env)->shutdown(); }

EnvState& env_state(Napi::Env env) { return *env.GetInstanceData<EnvState>(); }
EnvState::~EnvState() { delete jobs; }

AsyncJob::AsyncJob(Napi::Env env, int threads)
    : registry_(registry_of(env)), threads_(threads), deferred_(Napi::Promise::Deferred::New(env)) {}

AsyncJob::~AsyncJob() = default;

void AsyncJob::keep(const Napi::Value& v) {
  if (v.IsObject()) kept_.push_back(Napi::Persistent(v));
}

void AsyncJob::to_js(JsTask fn) { registry_->post(std::move(fn)); }

void AsyncJob::fail_with(const Napi::Error& e) {
  if (js_error_.IsEmpty()) js_error_ = Napi::Persistent(static_cast<Napi::Value>(e.Value()));
  request_cancel();
}

void AsyncJob::notify(Napi::FunctionReference* fn, std::vector<double> args) {
  to_js([this, fn, args](Napi::Env env) {
    if (cancelled()) return;
    std::vector<napi_value> values;
    for (double a : args) values.push_back(Napi::Number::New(env, a));
    try {
      fn->Call(values);
    } catch (const Napi::Error& e) {  // a throwing callback stops the job; the promise rejects with its error
      fail_with(e);
    }
  });
}

Napi::Promise AsyncJob::Start(Napi::Env env, AsyncJob* job) {
  Napi::Promise promise = job->deferred_.Promise();
  std::shared_ptr<std::atomic<bool>> flag = job->cancel_;  // outlives the job: cancel() after settling is a no-op
  promise.Set("cancel", Napi::Function::New(
                            env,
                            [flag](const Napi::CallbackInfo& info) {
                              *flag = true;
                              return info.Env().Undefined();
                            },
                            "cancel"));
  JobRegistry* registry = job->registry_;
  if (!registry->begin(env, job)) {
    job->finish(env, Status::Error(Code::Cancelled, "cancelled: this JavaScript environment is shutting down"));
    delete job;
    return promise;
  }
  post_to_compute_thread(
      job->threads_, job,
      [job] { return job->cancelled() ? Status::Error(Code::Cancelled, "the job was cancelled") : job->Work(); },
      [job, registry](const Status& s) {
        registry->work_done(job, [job, registry, s](Napi::Env env) {
          registry->settled(env);
          job->finish(env, s);
          delete job;
        });
      });
  return promise;
}

// Settles the promise. Nothing here may throw out: this runs inside Node's thread-safe-function callback, where a
// C++ exception would abort the process (e.g. while a worker is being terminated, when JS can no longer run).
void AsyncJob::finish(Napi::Env env, const Status& s) {
  try {
    Settled();
    if (!js_error_.IsEmpty())
      deferred_.Reject(js_error_.Value());
    else if (s.ok())
      deferred_.Resolve(Result(env));
    else
      deferred_.Reject(status_error(env, s).Value());
  } catch (const Napi::Error& e) {
    try {
      deferred_.Reject(e.Value());
    } catch (...) {
    }
  } catch (const std::bad_alloc& e) {
    try {
      deferred_.Reject(status_error(env, out_of_memory_status(e)).Value());
    } catch (...) {
    }
  } catch (...) {
  }
}

namespace {
class FunctionJob : public AsyncJob {
 public:
  FunctionJob(Napi::Env env, int threads, std::function<Status(const std::atomic<bool>&)> work,
              std::function<Napi::Value(Napi::Env)> result)
      : AsyncJob(env, threads), work_(std::move(work)), result_(std::move(result)) {}

 protected:
  Status Work() override { return work_(*cancel_flag()); }
  Napi::Value Result(Napi::Env env) override { return result_(env); }

 private:
  std::function<Status(const std::atomic<bool>&)> work_;
  std::function<Napi::Value(Napi::Env)> result_;
};
}  // namespace

Napi::Promise run_async(Napi::Env env, int threads, std::function<Status(const std::atomic<bool>&)> work,
                        std::function<Napi::Value(Napi::Env)> result) {
  return AsyncJob::Start(env, new FunctionJob(env, threads, std::move(work), std::move(result)));
}

namespace {
class ControlledJob : public AsyncJob {
 public:
  ControlledJob(Napi::Env env, int threads, std::function<Status(const JobControl&)> work,
                std::function<Napi::Value(Napi::Env)> result, Napi::Function on_progress)
      : AsyncJob(env, threads), work_(std::move(work)), result_(std::move(result)) {
    if (!on_progress.IsEmpty()) progress_ = Napi::Persistent(on_progress);
  }

 protected:
  Status Work() override {
    using clock = std::chrono::steady_clock;
    JobControl control;
    control.cancelled = [this] { return cancelled(); };
    clock::time_point last{};
    bool first = true;
    if (!progress_.IsEmpty())
      control.progress = [&](int64_t init, int64_t iteration, double value) {
        const auto now = clock::now();
        if (!first && now - last < std::chrono::milliseconds(50)) return;
        first = false;
        last = now;
        notify(&progress_, {static_cast<double>(init), static_cast<double>(iteration), value});
      };
    return work_(control);
  }
  Napi::Value Result(Napi::Env env) override { return result_(env); }

 private:
  std::function<Status(const JobControl&)> work_;
  std::function<Napi::Value(Napi::Env)> result_;
  Napi::FunctionReference progress_;
};
}  // namespace

Napi::Promise run_async(Napi::Env env, int threads, std::function<Status(const JobControl&)> work,
                        std::function<Napi::Value(Napi::Env)> result, Napi::Function on_progress) {
  return AsyncJob::Start(env, new ControlledJob(env, threads, std::move(work), std::move(result), on_progress));
}

Napi::Float32Array adopt_array(Napi::Env env, std::vector<float>&& v) {
  if (v.empty()) return Napi::Float32Array::New(env, 0);
  auto* owned = new std::vector<float>(std::move(v));
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, owned->data(), owned->size() * sizeof(float),
      [](Napi::Env, void*, std::vector<float>* hint) { delete hint; }, owned);
  return Napi::Float32Array::New(env, owned->size(), buffer, 0);
}

}  // namespace lk
