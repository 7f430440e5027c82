// async_job.cpp — see async_job.h.
#include "async_job.h"

#include <memory>

#include "args.h"
#include "executor.h"

namespace lk {

void run_js_task(Napi::Env env, Napi::Function, std::nullptr_t*, JsTask* task) {
  std::unique_ptr<JsTask> owned(task);
  if (env != nullptr) (*owned)(env);  // env is null while Node tears the environment down
}

namespace {
struct Job {
  Napi::Promise::Deferred deferred;
  JsQueue queue;
  std::vector<Napi::Reference<Napi::Value>> kept;
  std::function<Napi::Value(Napi::Env)> result;
};
}  // namespace

Napi::Promise run_async(Napi::Env env, int threads, const std::vector<Napi::Value>& keep, std::function<Status()> work,
                        std::function<Napi::Value(Napi::Env)> result) {
  auto* job = new Job{Napi::Promise::Deferred::New(env), JsQueue::New(env, "latentkit.async", 0, 1), {}, std::move(result)};
  for (const Napi::Value& v : keep) job->kept.push_back(Napi::Persistent(v));
  Napi::Promise promise = job->deferred.Promise();
  post_to_compute_thread(threads, std::move(work), [job](const Status& s) {
    JsQueue queue = job->queue;  // the finish task deletes the job, possibly before BlockingCall returns
    auto* finish = new JsTask([job, s](Napi::Env env) {
      std::unique_ptr<Job> owned(job);
      if (!s.ok()) return job->deferred.Reject(status_error(env, s).Value());
      try {
        job->deferred.Resolve(job->result(env));
      } catch (const Napi::Error& e) {
        job->deferred.Reject(e.Value());
      }
    });
    if (queue.BlockingCall(finish) != napi_ok) delete finish;
    queue.Release();
  });
  return promise;
}

}  // namespace lk
