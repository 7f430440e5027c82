// async_job.h — settling JS promises from the compute thread (executor.h). JsQueue is a thread-safe function with no
// JS callback that runs queued C++ tasks on the JS thread; run_async runs a stateless job (the classical models'
// fits) on the compute thread and resolves with `result` or rejects with its Status as a coded Error. The JS values
// in `keep` (typed arrays the job reads or writes) stay alive until the promise settles. No libuv pool thread is held.
#pragma once
#include <napi.h>

#include <functional>
#include <vector>

#include "../core/status.h"

namespace lk {

using JsTask = std::function<void(Napi::Env)>;
void run_js_task(Napi::Env env, Napi::Function, std::nullptr_t*, JsTask* task);
using JsQueue = Napi::TypedThreadSafeFunction<std::nullptr_t, JsTask, run_js_task>;

Napi::Promise run_async(Napi::Env env, int threads, const std::vector<Napi::Value>& keep, std::function<Status()> work,
                        std::function<Napi::Value(Napi::Env)> result);

}  // namespace lk
