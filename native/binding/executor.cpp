// executor.cpp — see executor.h. The thread is created on first use and lives until the process exits.
#include "executor.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <new>
#include <thread>

#include "../core/threads.h"

namespace lk {

namespace {

class ComputeThread {
 public:
  ComputeThread() : thread_([this] { loop(); }) { thread_.detach(); }

  Status run(int threads, const std::function<Status()>& job) {
    Task task{threads, &job, Status::Ok(), false};
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(&task);
    }
    cv_.notify_all();
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return task.done; });
    return task.status;
  }

 private:
  struct Task {
    int threads;
    const std::function<Status()>* job;
    Status status;
    bool done;
  };

  void loop() {
    int current_threads = -1;
    for (;;) {
      Task* task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        task = queue_.front();
        queue_.pop_front();
      }
      Status s;
      try {
        if (task->threads != current_threads) {
          set_compute_threads(task->threads);
          current_threads = task->threads;
        }
        s = (*task->job)();
      } catch (const std::bad_alloc&) {
        s = Status::Error(Code::Backend, "out of memory");
      } catch (const std::exception& e) {
        s = Status::Error(Code::Backend, e.what());
      } catch (...) {
        s = Status::Error(Code::Backend, "unknown native exception");
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        task->status = s;
        task->done = true;
      }
      done_cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::deque<Task*> queue_;
  std::thread thread_;
};

ComputeThread& compute_thread() {
  static ComputeThread* t = new ComputeThread();  // never destroyed: the detached thread may outlive statics
  return *t;
}

}  // namespace

Status run_on_compute_thread(int threads, const std::function<Status()>& job) {
  return compute_thread().run(threads, job);
}

}  // namespace lk
